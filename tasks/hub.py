"""Stop and start: the edges of the downtime. Stop is safe to repeat and so retries;
start does not (a half-started hub is the rollback's business), but both have timeouts."""

from __future__ import annotations

import os
import sys
from contextlib import suppress

from hubshift.backends.runtimes import runtime_for
from hubshift.config import HubConfig
from hubshift.system.warm import WarmCommand
from tasks import note, step

#: Niceness of the temporary Prefect server once a hub goes down: it then gets CPU only when
#: the hub's `upgrade-db` and start (CPU-bound imports) leave some, instead of a fair share.
SERVER_NICENESS = 10


@step("stop", retries=1, retry_delay_seconds=2, timeout_seconds=300)
def stop(hub: HubConfig) -> None:
    lower_temporary_server_priority()  # before the window opens: the hub still answers
    runtime_for(hub).stop()
    note("hub %s stopped", hub.name)


# The runtime bounds its own start by the hub's start_timeout and says why it failed; this
# outer bound only catches a runtime that hangs, so it must not cut that message short.
@step("start", timeout_seconds=1800)
def start(hub: HubConfig, warm: WarmCommand | None = None) -> None:
    status = runtime_for(hub).start(warm)
    note("hub %s started (pid %s)", hub.name, status.pid)


@step("start-if-down", timeout_seconds=1800)
def start_if_down(hub: HubConfig) -> bool:
    """Start the hub unless its service manager says it runs; True if it was started."""
    runtime = runtime_for(hub)
    if runtime.status().running:
        note("hub %s runs", hub.name)
        return False
    status = runtime.start()
    note("hub %s was down: started (pid %s)", hub.name, status.pid)
    return True


def lower_temporary_server_priority() -> None:
    """Lower the CPU priority of the Prefect server this process started for itself, if any.

    Without PREFECT_API_URL, Prefect runs a temporary server as a child process; it records
    every task's events and logs, and on a small host it takes CPU from the hub while the hub
    is down. A server elsewhere is not touched, nor is the hub (started by this process, it
    would inherit a lower priority of ours). Safe to call twice; never raises.
    """
    # Only when Prefect already imported it: importing the server module costs a second.
    module = sys.modules.get("prefect.server.api.server")
    servers = getattr(getattr(module, "SubprocessASGIServer", None), "_instances", None) or {}
    for server in list(servers.values()):
        process = getattr(server, "server_process", None)
        if process is not None and process.poll() is None:
            renice(process.pid, SERVER_NICENESS)


def renice(pid: int, niceness: int) -> None:
    """Give every thread of `pid` at least `niceness` (Linux keeps one per thread).

    Only ever lowers a priority, so no privilege is needed. Best effort: a thread that ends
    meanwhile, or a system without /proc, is skipped silently.
    """
    try:
        threads = [int(tid) for tid in os.listdir(f"/proc/{pid}/task")]
    except OSError:
        threads = [pid]
    for tid in threads:
        with suppress(OSError):
            if os.getpriority(os.PRIO_PROCESS, tid) < niceness:
                os.setpriority(os.PRIO_PROCESS, tid, niceness)
