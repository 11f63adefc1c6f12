"""ProcessRuntime against real JupyterHub 4.1.6 processes and configurable-http-proxy."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubshift.backends.hubapi import HubAPI, wait_healthy
from hubshift.backends.runtimes import runtime_for
from hubshift.errors import RuntimeControlError
from hubshift_lab.sandbox import make_hub
from tests.support.hubs import OLD_VERSION, RunningHub, StartHub, hub_config, jupyterhub_venv

pytest_plugins = ["tests.support.hubs"]
pytestmark = pytest.mark.integration


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def _proxy_pid(hub: RunningHub) -> int:
    return int((hub.sandbox.workdir / "jupyterhub-proxy.pid").read_text())


def test_start_then_stop_leaves_port_closed_and_proxy_gone(running_hub: StartHub) -> None:
    hub = running_hub(seed_hub=False)
    status = hub.runtime.status()
    proxy = _proxy_pid(hub)
    assert status.running and status.pid is not None
    assert _pid_alive(proxy) and _port_open(hub.sandbox.port)

    hub.runtime.stop()

    assert not _pid_alive(status.pid)
    assert not _pid_alive(proxy)
    assert not _port_open(hub.sandbox.port)
    assert not _port_open(hub.sandbox.proxy_api_port)
    assert not hub.config.runtime.pid_path.exists()
    assert not hub.runtime.status().running


def test_stop_twice_is_safe(running_hub: StartHub) -> None:
    hub = running_hub(seed_hub=False)
    hub.runtime.stop()
    hub.runtime.stop()
    assert not hub.runtime.status().running


def test_stop_without_ever_starting_does_nothing(tmp_path: Path) -> None:
    sandbox = make_hub(tmp_path, "never", Path(sys.prefix))
    runtime = runtime_for(hub_config(sandbox))
    runtime.stop()
    assert runtime.status().running is False


def test_stale_pidfile_is_cleaned(tmp_path: Path) -> None:
    sandbox = make_hub(tmp_path, "stale", Path(sys.prefix))
    config = hub_config(sandbox)
    # The pid was reused by something that is not a hub: it must be left alone.
    other = subprocess.Popen(["sleep", "60"])
    try:
        config.runtime.pid_path.write_text(f"{other.pid}\n")
        runtime = runtime_for(config)

        status = runtime.status()
        assert not status.running and "stale" in status.detail
        runtime.stop()

        assert not config.runtime.pid_path.exists()
        assert other.poll() is None
    finally:
        other.kill()
        other.wait()


def test_pidfile_of_a_dead_process_is_cleaned(tmp_path: Path) -> None:
    sandbox = make_hub(tmp_path, "dead", Path(sys.prefix))
    config = hub_config(sandbox)
    child = subprocess.Popen(["true"])
    child.wait()
    config.runtime.pid_path.write_text(f"{child.pid}\n")

    runtime_for(config).stop()
    assert not config.runtime.pid_path.exists()


def test_start_refuses_when_already_running(running_hub: StartHub) -> None:
    hub = running_hub(seed_hub=False)
    with pytest.raises(RuntimeControlError, match="already running") as caught:
        hub.runtime.start()
    assert caught.value.hub == hub.config.name
    assert hub.runtime.status().running


def test_start_refuses_when_the_port_is_taken(tmp_path: Path) -> None:
    sandbox = make_hub(tmp_path, "busy", jupyterhub_venv(OLD_VERSION))
    runtime = runtime_for(hub_config(sandbox))
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", sandbox.port))
        squatter.listen()
        with pytest.raises(RuntimeControlError, match="already in use"):
            runtime.start()
    assert not runtime.status().running


def test_start_reports_a_hub_that_dies_at_once_with_its_log(tmp_path: Path) -> None:
    sandbox = make_hub(tmp_path, "broken", jupyterhub_venv(OLD_VERSION))
    sandbox.config_file.write_text(
        sandbox.config_file.read_text() + "\nraise SystemExit('broken on purpose')\n"
    )
    runtime = runtime_for(hub_config(sandbox))
    try:
        with pytest.raises(RuntimeControlError, match="exited before it opened its port") as caught:
            runtime.start()
    finally:
        runtime.stop()
    assert "broken on purpose" in str(caught.value)
    assert sandbox.token not in str(caught.value)
    assert not hub_config(sandbox).runtime.pid_path.exists()


def test_stop_kills_a_hub_that_ignores_sigterm(running_hub: StartHub) -> None:
    hub = running_hub(seed_hub=False)
    pid = hub.runtime.status().pid
    assert pid is not None
    # Freeze the hub: it cannot handle SIGTERM until continued, so SIGKILL must do it.
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()

    hub.runtime.stop(timeout=1)

    assert time.monotonic() - started < 10
    assert not _pid_alive(pid)
    assert not _port_open(hub.sandbox.port)


def test_stop_cleans_up_the_proxy_of_a_killed_hub(running_hub: StartHub) -> None:
    hub = running_hub(seed_hub=False)
    pid = hub.runtime.status().pid
    proxy = _proxy_pid(hub)
    assert pid is not None
    # SIGKILL gives the hub no chance to stop its proxy, which runs in a session of its own.
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.2)
    assert _pid_alive(proxy)

    hub.runtime.stop()

    assert not _pid_alive(proxy)
    assert not _port_open(hub.sandbox.port)


def test_hub_restarts_after_stop_with_its_data(running_hub: StartHub) -> None:
    hub = running_hub()
    assert hub.seeded is not None
    hub.runtime.stop()

    hub.runtime.start()

    with HubAPI(hub.sandbox.api_url, hub.sandbox.token) as api:
        wait_healthy(api, 60, version=OLD_VERSION)
        assert api.whoami(hub.seeded.tokens["alice"])["name"] == "alice"
