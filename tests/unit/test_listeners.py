"""Who listens on a port, read from /proc: what the `command` runtime falls back on when a
service manager does not name the hub's pid."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from hubshift.system.listeners import listening_pids, parent_pid
from hubshift_lab.sandbox import free_port

_LISTEN = ("import socket, sys, time\n"
           "s = socket.socket(socket.AF_INET6 if sys.argv[2] == '6' else socket.AF_INET)\n"
           "s.bind((sys.argv[3], int(sys.argv[1]))); s.listen(); print('ready', flush=True)\n"
           "time.sleep(30)\n")


def _listener(port: int, family: str = "4", host: str = "127.0.0.1") -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", _LISTEN, str(port), family, host],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    return child


def test_the_process_listening_on_a_port_is_found_with_its_parent() -> None:
    port = free_port()
    assert listening_pids(port) == []
    child = _listener(port)
    try:
        assert listening_pids(port) == [child.pid]
        assert parent_pid(child.pid) == os.getpid()
    finally:
        child.kill()
        child.wait()
    assert listening_pids(port) == []


def test_a_connected_socket_on_the_port_is_not_a_listener() -> None:
    port = free_port()
    child = _listener(port)
    try:
        # Our end of a connection to the port is not listening there.
        with socket.create_connection(("127.0.0.1", port)):
            assert listening_pids(port) == [child.pid]
    finally:
        child.kill()
        child.wait()


def test_an_ipv6_listener_is_found_too() -> None:
    port = free_port()
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback on this host")
    child = _listener(port, "6", "::1")
    try:
        assert listening_pids(port) == [child.pid]
    finally:
        child.kill()
        child.wait()
