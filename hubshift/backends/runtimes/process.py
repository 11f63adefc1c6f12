"""A hub that runs as a plain process that hubshift starts, tracks by pidfile and stops.

JupyterHub starts configurable-http-proxy in a session of its own and writes its pid to
``jupyterhub-proxy.pid`` in the hub's working directory, so "everything the hub started" is
the hub's process group plus that proxy. A pidfile can outlive its process and a pid can be
reused, so a pid counts as the hub only while /proc says it runs `jupyterhub`.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field

from hubshift.backends.installers.base import Install
from hubshift.backends.runtimes.base import (
    HubEnvironment,
    Runtime,
    RuntimeConfigBase,
    RuntimeStatus,
)
from hubshift.errors import CommandError
from hubshift.system import procs
from hubshift.system.redact import redact
from hubshift.system.warm import WarmCommand

#: The proxy pidfile JupyterHub writes in its cwd (ConfigurableHTTPProxy.pid_file default).
PROXY_PID_FILE = "jupyterhub-proxy.pid"
#: Variables hubshift itself gives the hub (`set_env`: a moved database's URL), as JSON in
#: the workdir, mode 0600; they win over runtime.env, which lives in the fleet file.
ENV_FILE = "hubshift-env.json"

# Time the kernel gets to deliver a SIGKILL and free the port.
_KILL_GRACE = 5.0
# How much of the hub's log a start error quotes.
_LOG_TAIL = 2000


def _group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is left in process group `pgid`."""
    if Path("/proc").is_dir():
        return any(procs.alive(pid) for pid in _group_members(pgid))
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _group_members(pgid: int) -> list[int]:
    """Pids in process group `pgid`, from /proc (field 5 of /proc/<pid>/stat)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if len(fields) > 2 and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


class ProcessRuntimeConfig(RuntimeConfigBase):
    kind: Literal["process"] = "process"
    workdir: Path = Field(description="Working directory of the hub process")
    pid_file: Path | None = Field(None, description="Default: <workdir>/jupyterhub.pid")
    log_file: Path | None = Field(None, description="Default: <workdir>/jupyterhub.log")
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the hub process"
    )

    @property
    def pid_path(self) -> Path:
        return self.pid_file or self.workdir / "jupyterhub.pid"

    @property
    def log_path(self) -> Path:
        return self.log_file or self.workdir / "jupyterhub.log"


class ProcessRuntime(Runtime):
    """The hub is `jupyterhub -f <config_file>` of the current install, started by hubshift
    in `runtime.workdir`."""

    kind: ClassVar[str] = "process"
    config_model = ProcessRuntimeConfig
    can_preload = True
    can_set_env = True

    # -- paths and small facts ---------------------------------------------------------

    @property
    def config(self) -> ProcessRuntimeConfig:
        return self.hub.runtime  # type: ignore[return-value]

    @property
    def pid_path(self) -> Path:
        return self.config.pid_path

    @property
    def proxy_pid_path(self) -> Path:
        return self.config.workdir / PROXY_PID_FILE

    def _secrets(self) -> list[str]:
        db_password = urlsplit(self.hub.db_url.get_secret_value()).password
        return [self.hub.api_token.get_secret_value(), db_password or ""]

    def _hub_pid(self) -> int | None:
        """The pid in the pidfile if it is a running jupyterhub, else None."""
        pid = procs.read_pid(self.pid_path)
        return pid if pid is not None and procs.runs(pid, "jupyterhub") else None

    def _write_pidfile(self, pid: int) -> None:
        # Write then rename: a reader never sees a half-written pid.
        tmp = self.pid_path.with_name(f".{self.pid_path.name}.tmp")
        tmp.write_text(f"{pid}\n")
        tmp.replace(self.pid_path)

    def _log_tail(self, since: int) -> str:
        try:
            with open(self.config.log_path, "rb") as log:
                log.seek(since)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return redact(text[-_LOG_TAIL:], self._secrets()).strip() or "(empty log)"

    # -- the Runtime contract ----------------------------------------------------------

    def status(self) -> RuntimeStatus:
        """Running when the pidfile names a live jupyterhub process. Never raises."""
        pid = procs.read_pid(self.pid_path)
        if pid is None:
            return RuntimeStatus(False, None, f"no pidfile at {self.pid_path}")
        if not procs.runs(pid, "jupyterhub"):
            return RuntimeStatus(False, None, f"stale pidfile {self.pid_path}: {pid} is no hub")
        return RuntimeStatus(True, pid, f"jupyterhub pid {pid}")

    def environment(self) -> HubEnvironment:
        return HubEnvironment(self.config.workdir, self._env())

    @property
    def env_path(self) -> Path:
        return self.config.workdir / ENV_FILE

    def _own_env(self) -> dict[str, str]:
        """What `set_env` set (empty when nothing). Raises RuntimeControlError when the file
        is there but unreadable: starting the hub without it would open the wrong database."""
        try:
            text = self.env_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise self.error(f"cannot read {self.env_path}: {err.strerror}", "start") from None
        try:
            found = json.loads(text)
        except ValueError:
            raise self.error(f"{self.env_path} is not the JSON object hubshift wrote",
                             "start") from None
        return {str(k): str(v) for k, v in found.items()}

    def _env(self) -> dict[str, str]:
        return {**self.config.env, **self._own_env()}

    def set_env(self, name: str, value: str) -> None:
        """Written to a new private file, then renamed over the old one."""
        self._write_env({**self._own_env(), name: value})

    def unset_env(self, name: str) -> None:
        env = self._own_env()
        if name not in env:
            return
        del env[name]
        if env:
            self._write_env(env)
        else:
            self.env_path.unlink(missing_ok=True)

    def _write_env(self, env: dict[str, str]) -> None:
        tmp = self.env_path.with_name(f".{ENV_FILE}.tmp")
        tmp.unlink(missing_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(env, file, indent=1, sort_keys=True)
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(self.env_path)

    def preload(self, install: Install) -> WarmCommand | None:
        """The hub's start as it will run once `install` is switched to, its interpreter
        importing JupyterHub now; `start` runs it if the hub then runs from `install`."""
        command = self.installer.hub_command(install)
        if not command.python.exists():
            return None
        return command.warm(self._args(), cwd=self.config.workdir, extra_env=self._env(),
                            log_path=self.config.log_path)

    def _args(self) -> list[str | os.PathLike[str]]:
        """The arguments of `jupyterhub`, started cold or preloaded."""
        return ["-f", self.hub.config_file]

    def start(self, warm: WarmCommand | None = None) -> RuntimeStatus:
        """Start the hub detached; return once its port opens.

        Raises RuntimeControlError if a hub already runs, the port is taken, the install has
        no `jupyterhub`, or the process exits or does not open its port within start_timeout
        (quoting its log, redacted).
        """
        command = self.installer.hub_command(self.installer.current())
        if warm is not None and (warm.python != command.python.absolute()
                                 or warm.proc.poll() is not None):
            warm.discard()  # loaded for another install (a rollback), or gone
            warm = None
        running = self._hub_pid()
        if running is not None:
            raise self.error(f"already running (pid {running})", "start",
                              hint="stop it first")
        host, port = self.address()
        if self.port_open():
            raise self.error(f"port {port} on {host} is already in use", "start",
                             hint="another process serves the hub's URL; stop it first")
        program = command.script
        if not program.exists():
            raise self.error(f"{program} does not exist", "start")
        workdir = self.config.workdir
        workdir.mkdir(parents=True, exist_ok=True)
        # Before the spawn: a hub whose pid cannot be recorded could not be stopped later.
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        log_path = self.config.log_path
        log_start = log_path.stat().st_size if log_path.exists() else 0

        if warm is not None:
            pid = warm.go()
        else:
            try:
                pid = command.spawn(self._args(), cwd=workdir, extra_env=self._env(),
                                    log_path=log_path)
            except CommandError as err:
                raise self.error(f"cannot run {program}: {err.reason}", "start") from err
        self._write_pidfile(pid)

        # A bad config or a broken install kills the hub before its port opens, after an
        # import of seconds (many on a loaded host): an open port means it got past its
        # config, so the start ends there, and only a hub that neither opens it nor dies
        # within start_timeout is a start that hangs.
        deadline = time.monotonic() + self.config.start_timeout
        while True:
            if not procs.alive(pid):
                self.pid_path.unlink(missing_ok=True)
                raise self.error(
                    f"jupyterhub exited before it opened its port; log {log_path}:\n"
                    f"{self._log_tail(log_start)}", "start")
            if self.port_open():
                return RuntimeStatus(True, pid, f"jupyterhub pid {pid}")
            if time.monotonic() >= deadline:
                raise self.error(
                    f"jupyterhub (pid {pid}) did not open port {port} within "
                    f"{self.config.start_timeout:g} s; log {log_path}:\n"
                    f"{self._log_tail(log_start)}", "start")
            time.sleep(procs.POLL)

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM the hub, SIGKILL its group after `timeout`, then clean up the proxy.

        Returns once the hub, its group, its proxy and its port are gone; removes the pidfile.
        A stopped hub or a stale pidfile is not an error. Raises RuntimeControlError if
        something outlives SIGKILL.
        """
        timeout = self.config.stop_timeout if timeout is None else timeout
        stopped_something = False

        pid = self._hub_pid()
        if pid is not None:
            stopped_something = True
            self._stop_hub(pid, timeout)

        proxy = procs.read_pid(self.proxy_pid_path)
        if proxy is not None and procs.runs(proxy, "configurable-http-proxy"):
            # JupyterHub stops its proxy on SIGTERM; this is for a hub that was killed.
            stopped_something = True
            self._stop_process(proxy, _KILL_GRACE, "the proxy")
            self.proxy_pid_path.unlink(missing_ok=True)

        if stopped_something:
            self._wait_port_closed(_KILL_GRACE)
        self.pid_path.unlink(missing_ok=True)

    # -- stopping, piece by piece ------------------------------------------------------

    def _stop_hub(self, pid: int, timeout: float) -> None:
        # Only a hub leading its own group (as started here) gets its group signalled:
        # the group of a hub started from a shell may hold the shell too.
        try:
            own_group = os.getpgid(pid) == pid
        except ProcessLookupError:
            return
        procs.send(pid, signal.SIGTERM)
        if not procs.wait_gone(pid, timeout):
            procs.send(pid, signal.SIGKILL, group=own_group)
            if not procs.wait_gone(pid, _KILL_GRACE):
                raise self.error(f"jupyterhub pid {pid} survived SIGKILL", "stop")
        if own_group:
            self._stop_group(pid)

    def _stop_group(self, pgid: int) -> None:
        """Whatever is left in the hub's process group (helpers it forked)."""
        if not _group_alive(pgid):
            return
        procs.send(pgid, signal.SIGTERM, group=True)
        deadline = time.monotonic() + _KILL_GRACE
        while _group_alive(pgid):
            if time.monotonic() >= deadline:
                procs.send(pgid, signal.SIGKILL, group=True)
                time.sleep(procs.POLL * 4)
                if _group_alive(pgid):
                    raise self.error(f"process group {pgid} survived SIGKILL", "stop")
                return
            time.sleep(procs.POLL)

    def _stop_process(self, pid: int, timeout: float, what: str) -> None:
        # After a clean hub shutdown the proxy is already exiting: give it a moment first.
        if procs.wait_gone(pid, 0.5):
            return
        procs.send(pid, signal.SIGTERM)
        if procs.wait_gone(pid, timeout):
            return
        procs.send(pid, signal.SIGKILL)
        if not procs.wait_gone(pid, _KILL_GRACE):
            raise self.error(f"{what} (pid {pid}) survived SIGKILL", "stop")

    def _wait_port_closed(self, timeout: float) -> None:
        host, port = self.address()
        deadline = time.monotonic() + timeout
        while self.port_open():
            if time.monotonic() >= deadline:
                raise self.error(
                    f"port {port} on {host} still accepts connections after the hub stopped",
                    "stop",
                    hint="another process listens on the hub's port",
                )
            time.sleep(procs.POLL)
