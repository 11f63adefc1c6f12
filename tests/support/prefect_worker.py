"""The many-machines path on one machine: a real `prefect server start` and a real process
worker, as an operator runs them, for tests that go through deployments."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from hubshift_lab.sandbox import free_port
from tests.support.fleet import stop_group

PREFECT = Path(sys.executable).parent / "prefect"
#: The checkout under test: the worker's flow runs import its flows, not an installed copy.
CHECKOUT = Path(__file__).resolve().parents[2]


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as out:
        return subprocess.Popen([str(PREFECT), *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)


@contextmanager
def server_and_worker(root: Path, pool: str) -> Iterator[tuple[str, Path]]:
    """A Prefect server and a process worker of `pool`; yields the API URL and the worker's
    log. The worker runs each flow run in a temporary folder, so PYTHONPATH names the
    checkout: its flows are the ones under test."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(root / "home"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_WORKER_PREFETCH_SECONDS": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(CHECKOUT),
                                                       os.environ.get("PYTHONPATH")]))}
    server = _start(["server", "start", "--host", "127.0.0.1", "--port", str(port)], env,
                    root / "server.log")
    worker = None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (root / "server.log").read_text()[-2000:]
            time.sleep(0.5)
        worker = _start(["worker", "start", "--pool", pool, "--type", "process"], env,
                        root / "worker.log")
        yield api, root / "worker.log"
    finally:
        if worker is not None:
            stop_group(worker)
        stop_group(server)


def wait_final(api: str, run_id: str, timeout: float = 600) -> dict:
    """The flow run once it is in a final state, polled through the API (a page's own
    polling is slower, and its DOM changes as it goes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()
        if run["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} did not finish in {timeout} s")
