"""A local S3-compatible server for `hubshift demo` and for the tests: moto's server mode.

It runs as a real, separate HTTP server process, so the demo and the tests talk to it over
the network exactly as they would to MinIO or AWS (no in-process mocking). State lives in
a working directory (a pidfile, the endpoint URL and a log), so a later command can find
or stop the server that an earlier one started.

moto accepts any credentials and keeps every object in memory (it is lost when the server
stops). The demo therefore uses fixed dummy credentials, given to boto3 through the
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY environment variables (see `DUMMY_CREDENTIALS`).
"""

from __future__ import annotations

import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from hubshift.errors import StorageError
from hubshift.system import procs
from hubshift.system.execute import child_env, spawn_detached

#: Credentials for the demo server: moto checks none, but boto3 refuses to sign without some.
DUMMY_CREDENTIALS: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "hubshift-demo",
    "AWS_SECRET_ACCESS_KEY": "hubshift-demo-secret",
}
#: The region the demo store claims to be in (moto's default).
DEMO_REGION = "us-east-1"

PID_FILE = "s3server.pid"
URL_FILE = "s3server.url"
LOG_FILE = "s3server.log"

#: Seconds moto has to answer after start (importing it takes a few seconds on a slow host).
START_TIMEOUT = 60.0
#: Seconds between SIGTERM and SIGKILL when stopping.
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class S3Server:
    """A running local S3 server."""

    endpoint_url: str
    pid: int


def start_s3_server(workdir: Path, port: int | None = None) -> S3Server:
    """Start moto's S3 server on 127.0.0.1 (`port`, or a free one) and wait until it answers.

    Returns the server already running for `workdir` if there is one, so it is safe to call
    twice. Raises StorageError (quoting the server's log) if it exits or does not answer
    HTTP within START_TIMEOUT seconds; the process is stopped in that case.
    """
    workdir = Path(workdir)
    existing = running_s3_server(workdir)
    if existing is not None:
        return existing
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or _free_port()
    endpoint_url = f"http://127.0.0.1:{port}"
    pid = spawn_detached(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=child_env(),
        cwd=workdir,
        log_path=workdir / LOG_FILE,
    )
    # Record the server before waiting, so a stop can find it even if the wait fails.
    (workdir / URL_FILE).write_text(endpoint_url + "\n")
    (workdir / PID_FILE).write_text(f"{pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(endpoint_url):
        if not _alive(pid) or time.monotonic() > deadline:
            reason = "exited" if not _alive(pid) else f"did not answer in {START_TIMEOUT:.0f} s"
            stop_s3_server(workdir)
            raise StorageError(
                f"the local S3 server on {endpoint_url} {reason}: {_log_tail(workdir)}",
                hint=f"is port {port} free? is moto[server] installed?",
            )
        time.sleep(0.2)
    return S3Server(endpoint_url=endpoint_url, pid=pid)


def stop_s3_server(workdir: Path, timeout: float = STOP_TIMEOUT) -> None:
    """Stop the server started for `workdir` and wait until it is gone.

    SIGTERM first, SIGKILL after `timeout` seconds. Safe to call twice: with no server
    (or a stale pidfile) it only removes the state files. Never raises for a dead server.
    """
    workdir = Path(workdir)
    pid = _read_pid(workdir)
    if pid is not None and _alive(pid):
        # The server leads its own process group (spawn_detached); signal all of it.
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
    for name in (PID_FILE, URL_FILE):
        (workdir / name).unlink(missing_ok=True)


def running_s3_server(workdir: Path) -> S3Server | None:
    """The server started for `workdir` if its process is still alive, else None.

    Never raises; a stale pidfile (process gone, or the pid reused by another program)
    reads as None.
    """
    workdir = Path(workdir)
    pid = _read_pid(workdir)
    try:
        endpoint_url = (workdir / URL_FILE).read_text().strip()
    except OSError:
        return None
    if pid is None or not endpoint_url or not _alive(pid):
        return None
    return S3Server(endpoint_url=endpoint_url, pid=pid)


def _free_port() -> int:
    """A TCP port free right now on 127.0.0.1 (the OS picks it; a tiny race is accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(endpoint_url: str) -> bool:
    """Whether an HTTP server answers at `endpoint_url` (any status counts as an answer)."""
    try:
        with urllib.request.urlopen(endpoint_url + "/", timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def _read_pid(workdir: Path) -> int | None:
    return procs.read_pid(workdir / PID_FILE)


def _alive(pid: int) -> bool:
    """Whether `pid` is a live moto server (not a zombie, not a reused pid)."""
    return procs.runs(pid, "moto.server")


def _signal_group(pid: int, signum: signal.Signals) -> None:
    procs.send(pid, signum, group=True)


def _log_tail(workdir: Path, limit: int = 1500) -> str:
    try:
        text = (workdir / LOG_FILE).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:].strip() or "(empty log)"
