"""A hub run by any service manager (supervisord, s6, runit, docker compose, a site script),
driven through three commands the operator gives: start, stop and status.

hubshift knows of the manager only what those commands do. `status` exits 0 while the hub
runs and non-zero otherwise. `start` and `stop` ask the manager to start or stop it and may
return before it has: hubshift then waits on `status` and on the hub's port. The manager runs
its own command line, so the hub's next start cannot be preloaded.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from hubshift.backends.runtimes.base import (
    HubEnvironment,
    Runtime,
    RuntimeConfigBase,
    RuntimeStatus,
)
from hubshift.backends.runtimes.envfile import (
    read_env_file,
    set_var,
    unset_var,
    write_private_json,
)
from hubshift.backends.runtimes.process import PROXY_PID_FILE
from hubshift.errors import CommandError, CommandTimeout, RuntimeControlError
from hubshift.system import procs
from hubshift.system.execute import Result, run
from hubshift.system.listeners import listening_pids, parent_pid
from hubshift.system.redact import redact
from hubshift.system.warm import WarmCommand

_ARGV = ("A list of arguments, never a shell string: no shell runs it. It runs in `workdir`; "
         "its first element is a program on PATH or a path (relative to `workdir`). Never put "
         "a secret in it: every user of the host can read a process's arguments")

#: A pid in a status command's output: supervisorctl's `pid 123`, s6-svstat's and runit's
#: `(pid 123)`, systemctl show's `MainPID=123`.
_PID = re.compile(r"\b(?:pid|MainPID)[\s:=]+(\d+)", re.IGNORECASE)
# How often the waits ask the status command. Each answer is a process (supervisorctl
# spends 0.2 s of CPU), which a starting hub would compete with: the start polls the port in
# between and confirms at once when it opens. A stopping hub needs little CPU.
_ASK_STARTING = 1.0
_ASK_STOPPING = 0.25
# How much of the hub's log a start error quotes.
_LOG_TAIL = 2000
# Time a stopped hub's port gets to close, and its leftover proxy gets to exit, at least.
_PORT_GRACE = 5.0
# A manager may copy the hub's last output to its log after it reports the hub gone
# (supervisord can reap the hub before it has read the rest of its pipe): a failed start's
# log is quoted once it has been quiet this long, or after _LOG_SETTLE_LIMIT.
_LOG_QUIET = 0.3
_LOG_SETTLE_LIMIT = 3.0


class CommandRuntimeConfig(RuntimeConfigBase):
    kind: Literal["command"] = "command"
    start: list[str] = Field(min_length=1, description=(
        "Command that asks the service manager to start the hub, e.g. [supervisorctl, start, "
        "physics]. " + _ARGV))
    stop: list[str] = Field(min_length=1, description=(
        "Command that asks the service manager to stop the hub and everything it started, "
        "e.g. [supervisorctl, stop, physics]. " + _ARGV))
    status: list[str] = Field(min_length=1, description=(
        "Command that exits 0 while the hub runs and non-zero otherwise, e.g. [supervisorctl, "
        "status, physics]; a pid in its output (`pid 1234`) is taken as the hub's. " + _ARGV))
    workdir: Path = Field(description=(
        "The hub's working directory, as the manager runs it: `jupyterhub upgrade-db` runs "
        "there too, and so do the three commands"))
    env: dict[str, str] = Field(default_factory=dict, description=(
        "Environment variables the manager gives the hub (its own config sets them; hubshift "
        "does not): `jupyterhub upgrade-db` runs with them, so the hub's config loads alike"))
    env_file: Path | None = Field(None, description=(
        "A file of KEY=VALUE lines the manager gives the hub (supervisord's, compose's or a "
        "site script's env file). `jupyterhub upgrade-db` runs with its variables too, over "
        "`env`; `hubshift move-db` sets the new database URL's variable there (mode 0600)"))
    log_file: Path | None = Field(None, description=(
        "Where the manager writes the hub's output; what the hub wrote there is quoted when "
        "a start fails"))

    @field_validator("start", "stop", "status", mode="before")
    @classmethod
    def _not_a_string(cls, value: object) -> object:
        if isinstance(value, str):
            raise ValueError("must be a list of arguments such as [supervisorctl, start, hub], "
                             "not a string: no shell runs it")
        return value

    @field_validator("start", "stop", "status")
    @classmethod
    def _names_a_program(cls, value: list[str]) -> list[str]:
        if not value[0].strip():
            raise ValueError("its first element must name the program to run")
        return value


@dataclass(frozen=True)
class _Answer:
    """What the status command said: exit code and (redacted) output."""

    returncode: int
    output: str

    @property
    def running(self) -> bool:
        return self.returncode == 0

    @property
    def said(self) -> str:
        lines = [line.strip() for line in self.output.strip().splitlines() if line.strip()]
        return lines[-1][:300] if lines else "(no output)"


class CommandRuntime(Runtime):
    """The hub is whatever the service manager runs; hubshift drives it through the
    operator's `start`, `stop` and `status` commands."""

    kind: ClassVar[str] = "command"
    config_model = CommandRuntimeConfig
    can_preload = False
    #: Seconds the manager may take, once the start command returned, to say the hub runs;
    #: past that, "not running" means the hub exited at once.
    startup_grace: ClassVar[float] = 5.0
    #: Seconds the status command has to answer.
    status_timeout: ClassVar[float] = 30.0

    @property
    def config(self) -> CommandRuntimeConfig:
        return self.hub.runtime  # type: ignore[return-value]

    def environment(self) -> HubEnvironment:
        env = dict(self.config.env)
        if self.config.env_file is not None:
            try:
                env.update(read_env_file(self.config.env_file))
            except (OSError, UnicodeDecodeError) as err:
                raise self.error(f"cannot read runtime.env_file {self.config.env_file}: {err}",
                                 "environment") from None
        return HubEnvironment(self.config.workdir, env)

    def set_env_problem(self) -> str | None:
        if self.config.env_file is None:
            return ("runtime.env_file is not set: name the env file the service manager "
                    "gives the hub")
        return None

    def set_env(self, name: str, value: str) -> None:
        """`name` set in runtime.env_file, its other lines kept; the manager reads it at the
        hub's next start."""
        if self.config.env_file is None:
            raise self.error(self.set_env_problem() or "", "move-switch")
        path = self.config.env_file
        try:
            saved = self._saved(path)
            if name not in saved:  # set twice: the first value before is the one to keep
                saved[name] = read_env_file(path).get(name)
                write_private_json(self._before(path), saved)
            set_var(path, name, value)
        except OSError as err:
            raise self.error(f"cannot write runtime.env_file {path}: {err.strerror}",
                             "move-switch") from None

    def unset_env(self, name: str) -> None:
        """The variable as it was before `set_env`: its old value back, or removed. Only
        what `set_env` changed is undone, so a second call does nothing."""
        path = self.config.env_file
        if path is None:
            return
        saved = self._saved(path)
        if name not in saved:
            return
        before = saved.pop(name)
        if before is None:
            unset_var(path, name)
        else:
            set_var(path, name, before)
        if saved:
            write_private_json(self._before(path), saved)
        else:
            self._before(path).unlink(missing_ok=True)

    @staticmethod
    def _before(path: Path) -> Path:
        """What `set_env` replaced in `path` (values may be secrets: mode 0600)."""
        return path.with_name(f".{path.name}.hubshift-before.json")

    def _saved(self, path: Path) -> dict[str, str | None]:
        try:
            return json.loads(self._before(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as err:
            raise self.error(f"cannot read {self._before(path)}: {err}", "move-undo") from None

    # -- the operator's commands -------------------------------------------------------

    def _secrets(self) -> list[str]:
        db_password = urlsplit(self.hub.db_url.get_secret_value()).password
        return [self.hub.api_token.get_secret_value(), db_password or ""]

    def _argv(self, key: str) -> list[str]:
        return list(getattr(self.config, key))

    def shown(self, key: str) -> str:
        """runtime.<key> as a shell would spell it, for messages."""
        return redact(shlex.join(self._argv(key)), self._secrets())

    def _secret_problem(self, key: str) -> str | None:
        for number, arg in enumerate(self._argv(key), 1):
            if redact(arg, self._secrets()) != arg:
                return (f"key runtime.{key}: argument {number} holds a secret (a token, a "
                        "password or a ${VAR} value), and every user of the host can read a "
                        "process's arguments: let the manager's own config hold it")
        return None

    def _run(self, key: str, timeout: float, step: str) -> Result:
        """Run runtime.<key> in the workdir; any exit code is returned. Raises
        RuntimeControlError naming the command and its key when it cannot run or does not
        finish within `timeout` seconds."""
        problem = self._secret_problem(key)
        if problem is not None:
            raise self.error(problem, step)  # never run: the secret would be in `ps`
        try:
            return run(self._argv(key), cwd=self.config.workdir, timeout=timeout,
                       secrets=self._secrets(), hub=self.hub.name)
        except CommandTimeout as err:
            raise self.error(f"key runtime.{key}: `{self.shown(key)}` did not finish within "
                             f"{timeout:g} s", step) from err
        except CommandError as err:
            where = f": {err.__cause__.filename}" if isinstance(
                err.__cause__, OSError) and err.__cause__.filename else ""
            raise self.error(f"key runtime.{key}: cannot run `{self.shown(key)}`: "
                             f"{err.reason}{where}", step) from err

    def _ask(self, step: str = "status") -> _Answer:
        """The status command's answer; raises RuntimeControlError when it cannot run."""
        result = self._run("status", self.status_timeout, step)
        return _Answer(result.returncode, result.output)

    def _program_problem(self, key: str) -> str | None:
        """Why runtime.<key>'s program cannot be run, or None."""
        program = self._argv(key)[0]
        cannot = f"key runtime.{key}: cannot run `{self.shown(key)}`"
        if "/" not in program:
            return f"{cannot}: {program} not found on PATH" if not shutil.which(program) else None
        path = self.config.workdir / program  # an absolute `program` stays as it is
        if not path.exists():
            return f"{cannot}: {path} does not exist"
        if not path.is_file() or not os.access(path, os.X_OK):
            return f"{cannot}: {path} is not an executable file"
        return None

    # -- the Runtime contract ----------------------------------------------------------

    def check(self) -> list[str]:
        """Each command's program can be run, no argument holds a secret, and the status
        command answers (running or not); every problem names the command's key."""
        problems = []
        workdir_ok = self.config.workdir.is_dir()
        if not workdir_ok:
            problems.append(f"key runtime.workdir: {self.config.workdir} is not a directory")
        for key in ("start", "stop", "status"):
            problem = self._program_problem(key) or self._secret_problem(key)
            if problem is not None:
                problems.append(problem)
            elif key == "status" and workdir_ok:
                try:
                    self._ask("preflight")
                except RuntimeControlError as err:
                    problems.append(err.message)
        return problems

    def status(self) -> RuntimeStatus:
        """Running when the status command exits 0; a status command that cannot run says
        not running, and why. The pid is the one the command names, else the hub's behind
        the port. Never raises."""
        try:
            answer = self._ask()
        except RuntimeControlError as err:
            return RuntimeStatus(False, None, err.message)
        return self._status(answer)

    def _status(self, answer: _Answer) -> RuntimeStatus:
        if not answer.running:
            return RuntimeStatus(False, None, f"`{self.shown('status')}` exited "
                                              f"{answer.returncode}: {answer.said}")
        return RuntimeStatus(True, self._pid(answer.output), answer.said)

    def _pid(self, output: str) -> int | None:
        for match in _PID.finditer(output):
            pid = int(match.group(1))
            if pid > 0 and procs.alive(pid):
                return pid
        # The manager does not say: the hub is whoever serves its port, itself or through
        # the proxy it started (a listener that is neither is not the hub).
        for pid in listening_pids(self.address()[1]):
            if procs.runs(pid, "configurable-http-proxy"):
                parent = parent_pid(pid)
                if parent is not None and procs.runs(parent, "jupyterhub"):
                    return parent
            elif procs.runs(pid, "jupyterhub"):
                return pid
        return None

    def start(self, warm: WarmCommand | None = None) -> RuntimeStatus:
        """Run the start command, then wait until the status command says running and the
        hub's port opens.

        Raises RuntimeControlError if the hub already runs, its port is taken, the status
        command cannot run, or the hub does not come up within start_timeout (exited at
        once, never reported running, port never opened): the error quotes the start
        command's output and the new lines of `log_file`, redacted, and the manager is
        asked to stop whatever it still runs.
        """
        if warm is not None:
            warm.discard()  # can_preload is False: nothing was loaded for this runtime
        answer = self._ask("start")
        if answer.running:
            raise self.error(f"already running (`{self.shown('status')}` says: {answer.said})",
                             "start", hint="stop it first")
        host, port = self.address()
        if self.port_open():
            raise self.error(f"port {port} on {host} is already in use", "start",
                             hint="another process serves the hub's URL; stop it first")
        log_start = self._log_size()
        deadline = time.monotonic() + self.config.start_timeout
        try:
            started = self._run("start", self.config.start_timeout, "start")
        except RuntimeControlError as err:
            raise self._start_failed(err.message, "", log_start) from err
        if started.returncode != 0:
            raise self._start_failed(f"`{self.shown('start')}` exited {started.returncode}",
                                     started.tail, log_start)

        # The hub runs once the manager says so and its port opens; a hub that the manager
        # reported running and then not, or never, within the grace, exited at once.
        grace_end = time.monotonic() + self.startup_grace
        seen_running = False
        next_ask = 0.0
        while True:
            now = time.monotonic()
            port_open = self.port_open()
            if port_open or now >= next_ask:
                next_ask = now + _ASK_STARTING
                try:
                    answer = self._ask("start")
                except RuntimeControlError as err:
                    raise self._start_failed(err.message, started.tail, log_start) from err
                if answer.running:
                    seen_running = True
                    if port_open or self.port_open():
                        return self._status(answer)
                elif seen_running or now >= grace_end:
                    what = ("the hub exited at once" if seen_running else
                            f"the hub is not running {self.startup_grace:g} s after the start")
                    raise self._start_failed(
                        f"{what} (`{self.shown('status')}` exited {answer.returncode}: "
                        f"{answer.said})", started.tail, log_start)
            if now >= deadline:
                raise self._start_failed(
                    f"port {port} on {host} did not open within start_timeout "
                    f"({self.config.start_timeout:g} s)", started.tail, log_start)
            time.sleep(procs.POLL)

    def stop(self, timeout: float | None = None) -> None:
        """Run the stop command if the status command says the hub runs, then wait until it
        says stopped and the hub's port is closed (a proxy the hub left behind is stopped).

        Safe to call twice: a stopped hub's stop command is not run, so a manager that
        complains about stopping a stopped program cannot fail it. Raises
        RuntimeControlError naming the command if the hub outlives `timeout` (default
        stop_timeout) or the status command cannot run.
        """
        timeout = self.config.stop_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        stopped = None
        answer = self._ask("stop")
        if answer.running:
            stopped = self._run("stop", timeout, "stop")
            answer = self._ask("stop")  # at once: many stop commands return once it stopped
        while answer.running:
            if time.monotonic() >= deadline:
                said = (f"; it exited {stopped.returncode}: {stopped.tail.strip()}"
                        if stopped is not None else "")
                raise self.error(
                    f"`{self.shown('status')}` still says the hub runs {timeout:g} s after "
                    f"`{self.shown('stop')}`{said}", "stop")
            time.sleep(_ASK_STOPPING)
            answer = self._ask("stop")
        self._stop_left_proxy()
        self._wait_port_closed(max(deadline, time.monotonic() + _PORT_GRACE))

    # -- pieces ------------------------------------------------------------------------

    def _log_size(self) -> int:
        path = self.config.log_file
        try:
            return path.stat().st_size if path is not None else 0
        except OSError:
            return 0

    def _log_tail(self, path: Path, since: int) -> str:
        _wait_quiet(path)
        try:
            with open(path, "rb") as log:
                # A log rotated or truncated meanwhile is read from its start.
                log.seek(since if log.seek(0, os.SEEK_END) >= since else 0)
                text = log.read().decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        return redact(text[-_LOG_TAIL:], self._secrets()).strip() or "(empty log)"

    def _start_failed(self, why: str, output: str, log_start: int) -> RuntimeControlError:
        """The start error, quoting the command and the log; then whatever the manager still
        runs (a hub it keeps restarting) is asked to stop, without hiding this error."""
        text = why
        if output.strip():
            text += f"\n`{self.shown('start')}` said:\n{output.strip()}"
        log = self.config.log_file
        if log is not None:  # read before the stop, whose lines would push the error out
            text += f"\nlog {log}:\n{self._log_tail(log, log_start)}"
        try:
            if self._ask("start").running:
                self._run("stop", self.config.stop_timeout, "start")
        except RuntimeControlError:
            pass  # the start's failure is the error to report
        return self.error(text, "start")

    def _stop_left_proxy(self) -> None:
        """JupyterHub's proxy runs in a session of its own, so a manager that killed the hub
        leaves it serving the port; the hub's pidfile in its workdir names it."""
        pid = procs.read_pid(self.config.workdir / PROXY_PID_FILE)
        if pid is None or not procs.runs(pid, "configurable-http-proxy"):
            return
        if procs.wait_gone(pid, 0.5):  # a hub that shut down cleanly is stopping it
            return
        procs.send(pid, signal.SIGTERM)
        if not procs.wait_gone(pid, _PORT_GRACE):
            procs.send(pid, signal.SIGKILL)
            if not procs.wait_gone(pid, _PORT_GRACE):
                raise self.error(f"the hub's proxy (pid {pid}) survived SIGKILL", "stop")

    def _wait_port_closed(self, deadline: float) -> None:
        host, port = self.address()
        while self.port_open():
            if time.monotonic() >= deadline:
                raise self.error(
                    f"port {port} on {host} still accepts connections although "
                    f"`{self.shown('status')}` says the hub is stopped", "stop",
                    hint="another process listens on the hub's port")
            time.sleep(procs.POLL)


def _wait_quiet(path: Path) -> None:
    """Wait until `path` has not grown for _LOG_QUIET seconds (at most _LOG_SETTLE_LIMIT)."""
    deadline = time.monotonic() + _LOG_SETTLE_LIMIT
    size, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
        try:
            now_size = path.stat().st_size
        except OSError:
            return
        if now_size != size:
            size, quiet_since = now_size, time.monotonic()
        elif time.monotonic() - quiet_since >= _LOG_QUIET:
            return
        time.sleep(procs.POLL)
