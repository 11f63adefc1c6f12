"""One Prefect server for a whole test session, however many pytest-xdist workers it has.

Prefect's test harness starts a server per process; with `make test`'s parallel workers that
was one server each, every one paying its start-up and its background loops on a machine
whose cores the hubs under test need. The xdist controller, which outlives its workers,
starts one temporary server (Prefect's own SubprocessASGIServer, as the harness does) while
the workers collect, and writes its API URL to a file of the session folder the workers
share; each worker waits for that file. Without xdist the harness runs as before.
"""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Set by the controller, inherited by the workers: the folder they share.
SHARED_ENV = "HUBSHIFT_TEST_SHARED"
_URL_FILE = "prefect-api-url"
_FAILED_FILE = "prefect-api-failed"
_STARTUP_TIMEOUT = 180


class SharedServer:
    """The controller's handle: started in a thread, stopped when the session ends."""

    def __init__(self, shared: Path) -> None:
        self.shared = shared
        self._server: object | None = None
        self._thread = threading.Thread(target=self._start, name="prefect-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _start(self) -> None:
        try:
            from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL, temporary_settings

            database = f"sqlite+aiosqlite:///{self.shared / 'prefect.db'}"
            with temporary_settings({PREFECT_SERVER_DATABASE_CONNECTION_URL: database}):
                server = _server_logging_to(self.shared / "prefect-server.log")
                self._server = server
                server.start(timeout=_STARTUP_TIMEOUT)
            _write(self.shared / _URL_FILE, server.api_url)
        except Exception as err:  # the workers report it, with the test that needed it
            _write(self.shared / _FAILED_FILE, f"{type(err).__name__}: {err}")

    def stop(self) -> None:
        self._thread.join(timeout=_STARTUP_TIMEOUT)
        stop = getattr(self._server, "stop", None)
        if stop is not None:
            stop()
        shutil.rmtree(self.shared, ignore_errors=True)


def _server_logging_to(log: Path) -> object:
    """Prefect's temporary server, its output in `log`: it would otherwise print to the
    controller's terminal (a traceback of its own shutdown, at the end of every run)."""
    from prefect.server.api.server import SubprocessASGIServer

    class LoggedServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[bytes]:
            # SubprocessASGIServer's own command line and environment (Prefect 3.9), with
            # another stdout and stderr.
            import prefect
            from prefect.settings import get_current_settings

            env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
                   "PREFECT__SERVER_FINAL": "1",
                   **get_current_settings().to_environment_variables(exclude_unset=True)}
            with open(log, "ab") as out:
                return subprocess.Popen(
                    [sys.executable, "-m", "uvicorn", "--app-dir",
                     str(prefect.__module_path__.parent), "--factory",
                     "prefect.server.api.server:create_app", "--host", "127.0.0.1",
                     "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
                    env=env, stdout=out, stderr=subprocess.STDOUT)

    return LoggedServer()


def _write(path: Path, text: str) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def shared_api_url(shared: Path) -> str:
    """The API URL of the controller's server, once it answers (a worker's view)."""
    deadline = time.monotonic() + _STARTUP_TIMEOUT + 30
    while time.monotonic() < deadline:
        if (shared / _URL_FILE).exists():
            return (shared / _URL_FILE).read_text()
        if (shared / _FAILED_FILE).exists():
            raise RuntimeError("the session's Prefect server did not start: "
                               + (shared / _FAILED_FILE).read_text())
        time.sleep(0.2)
    raise RuntimeError(f"the session's Prefect server did not start in {_STARTUP_TIMEOUT} s")


@contextmanager
def use_server(api_url: str) -> Iterator[None]:
    """Point this process at `api_url`, as the harness points it at its own server, and
    send what is still buffered (logs, events) before leaving."""
    import prefect.context
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.utilities.asyncutils import run_coro_as_sync

    with temporary_settings({PREFECT_API_URL: api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), \
            prefect.context._temporary_global_settings_context(
                prefect.context.get_settings_context()):
        yield

        async def drain() -> None:
            try:
                drained = APILogWorker.instance().drain()
                if inspect.isawaitable(drained):
                    await drained
            except RuntimeError:  # never started
                pass
            drained = EventsWorker.drain_all()
            if inspect.isawaitable(drained):
                await drained

        run_coro_as_sync(drain())
