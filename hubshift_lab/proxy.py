"""A configurable-http-proxy that runs on its own, as a hub set up to keep its users'
servers through an upgrade has it (`ConfigurableHTTPProxy.should_start = False`).

The proxy holds the routes to the users' servers; while the hub is down it keeps serving
them and sends everything else to the hub's own port, where nothing answers until the new
hub is up. Its state (pid, log) lives in the hub's folder, under names of its own so that
nothing mistakes it for a proxy the hub started.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from hubshift.errors import HubshiftError
from hubshift.system import procs
from hubshift.system.execute import child_env, spawn_detached
from hubshift_lab.sandbox import port_open

PID_FILE = "external-proxy.pid"
LOG_FILE = "external-proxy.log"
#: Seconds the proxy has to open its ports (node starts in about a second).
START_TIMEOUT = 30.0


def start_proxy(proxy: Path, workdir: Path, *, public_port: int, api_port: int,
                hub_port: int, token_file: Path) -> int:
    """Start `proxy` (configurable-http-proxy) in front of the hub on `hub_port`; return its
    pid once both ports answer. The API token reaches it through its environment, never
    its command line. Safe to call twice. Raises HubshiftError quoting its log."""
    running = running_proxy(workdir)
    if running is not None:
        return running
    hub = f"http://127.0.0.1:{hub_port}"
    pid = spawn_detached(
        [proxy, "--ip", "127.0.0.1", "--port", str(public_port), "--api-ip", "127.0.0.1",
         "--api-port", str(api_port), "--default-target", hub,
         "--error-target", f"{hub}/hub/error"],
        env=child_env(extra={"CONFIGPROXY_AUTH_TOKEN": token_file.read_text().strip()}),
        cwd=workdir, log_path=workdir / LOG_FILE)
    (workdir / PID_FILE).write_text(f"{pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while not (port_open(public_port) and port_open(api_port)):
        if not procs.alive(pid) or time.monotonic() > deadline:
            stop_proxy(workdir)
            log = (workdir / LOG_FILE).read_text(errors="replace")[-1500:]
            raise HubshiftError(f"the external proxy did not start: {log}")
        time.sleep(0.1)
    return pid


def running_proxy(workdir: Path) -> int | None:
    """The pid of the proxy started for `workdir`, if it runs."""
    pid = procs.read_pid(workdir / PID_FILE)
    return pid if pid is not None and procs.runs(pid, "configurable-http-proxy") else None


def stop_proxy(workdir: Path) -> None:
    """Stop the proxy started for `workdir`; safe to call twice."""
    pid = running_proxy(workdir)
    if pid is not None:
        procs.send(pid, signal.SIGTERM, group=True)
        if not procs.wait_gone(pid, 10):
            procs.send(pid, signal.SIGKILL, group=True)
            procs.wait_gone(pid, 5)
    (workdir / PID_FILE).unlink(missing_ok=True)
