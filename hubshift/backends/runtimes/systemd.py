"""A hub that runs as a systemd unit: The Littlest JupyterHub and most bare-metal hubs.

hubshift drives the unit through `systemctl` only (the system manager, or with `user: true`
the calling user's, found through $XDG_RUNTIME_DIR) and never runs the hub itself: the hub
is always the unit's own process, started by the unit's ExecStart. That is also why this
runtime cannot preload: systemd runs its own command line, so the start pays JupyterHub's
imports inside the downtime.

A failed start is explained from what systemd knows: `systemctl status`, the journal where
there is one, and the file the unit writes its output to (`StandardOutput=append:FILE`).
"""

from __future__ import annotations

import contextlib
import pwd
import re
import time
from collections.abc import Iterable
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
    ENV_NAME,
    parse_environment_file,
    set_var,
    unset_var,
)
from hubshift.errors import CommandError, CommandTimeout, RuntimeControlError
from hubshift.system import procs
from hubshift.system.execute import Result, child_env, run
from hubshift.system.redact import redact
from hubshift.system.warm import WarmCommand

#: A service unit name as systemd accepts it (templates instantiated: name@instance).
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]+)?\.service")
_OTHER_UNIT_TYPES = frozenset({"socket", "target", "timer", "path", "mount", "automount",
                               "swap", "slice", "scope", "device"})
_ENV_NAME = ENV_NAME
#: Active states in which something of the unit runs (or is about to, or still does).
_RUNNING = frozenset({"active", "reloading", "activating", "deactivating", "refreshing"})
#: StandardOutput= kinds that write to a file the unit names.
_FILE_OUTPUTS = frozenset({"file", "append", "truncate"})

#: hubshift's own variables for the unit (a moved database's URL), in its drop-in folder.
SYSTEMD_ENV_FILE = "hubshift-env"
# How long one systemctl or journalctl call may take: the manager answers in milliseconds,
# but a hung bus must not hang the window.
_CALL_TIMEOUT = 30.0
# Time systemd gets to deliver a SIGKILL to the unit's processes and free the port.
_KILL_GRACE = 5.0
# How often a start asks systemd for the unit's state (the port is checked more often).
_STATE_EVERY = 0.25
# How much of each log a start error quotes.
_LOG_TAIL = 2000
_JOURNAL_LINES = 40


class SystemdRuntimeConfig(RuntimeConfigBase):
    kind: Literal["systemd"] = "systemd"
    unit: str = Field(description="The hub's service unit, e.g. jupyterhub.service "
                      "(`.service` may be left out)")
    user: bool = Field(False, description="Drive the calling user's service manager "
                       "(`systemctl --user`, reached through $XDG_RUNTIME_DIR) instead of "
                       "the system's")

    @field_validator("unit")
    @classmethod
    def _unit_name(cls, value: str) -> str:
        if value.rpartition(".")[2] in _OTHER_UNIT_TYPES:
            raise ValueError(f"{value!r} is not a service unit: a hub runs as a .service")
        name = value if value.endswith(".service") else f"{value}.service"
        # A leading dash would read as an option of systemctl.
        if name.startswith("-") or len(name) > 255 or not _UNIT_NAME.fullmatch(name):
            raise ValueError(f"{value!r} is not a systemd service unit name, "
                             "such as jupyterhub.service")
        return name


@dataclass(frozen=True)
class UnitState:
    """What `systemctl show` says of the unit right now."""

    load: str
    active: str
    sub: str
    pid: int | None
    restarts: int

    @property
    def running(self) -> bool:
        # Waiting to restart after a crash, nothing of the unit runs.
        return self.active in _RUNNING and self.sub != "auto-restart"


class _NoAnswer(RuntimeControlError):
    """systemctl did not finish within its time."""


class SystemdRuntime(Runtime):
    """The hub is the unit `runtime.unit`; hubshift starts and stops it with systemctl."""

    kind: ClassVar[str] = "systemd"
    config_model = SystemdRuntimeConfig
    can_preload = False
    can_set_env = True

    @property
    def config(self) -> SystemdRuntimeConfig:
        return self.hub.runtime  # type: ignore[return-value]

    @property
    def unit(self) -> str:
        return self.config.unit

    # -- talking to systemd ------------------------------------------------------------

    def _manager(self) -> str:
        return "the user's service manager" if self.config.user else "the system manager"

    def _secrets(self) -> list[str]:
        db_password = urlsplit(self.hub.db_url.get_secret_value()).password
        return [self.hub.api_token.get_secret_value(), db_password or ""]

    def _env(self, step: str) -> dict[str, str]:
        env = child_env()
        if self.config.user and not env.get("XDG_RUNTIME_DIR"):
            raise self.error(
                f"XDG_RUNTIME_DIR is not set, so systemctl --user cannot reach the user "
                f"manager that runs unit {self.unit}", step,
                hint="run hubshift in the user's session, or set XDG_RUNTIME_DIR=/run/user/UID")
        env["SYSTEMD_PAGER"] = ""
        env["SYSTEMD_COLORS"] = "0"
        return env

    def _run(self, program: str, args: Iterable[str], step: str,
             timeout: float = _CALL_TIMEOUT, output_is_data: bool = False) -> Result:
        argv = [program, *args]
        try:
            return run(argv, env=self._env(step), timeout=timeout, secrets=self._secrets(),
                       output_is_data=output_is_data, hub=self.hub.name)
        except CommandTimeout as err:
            raise _NoAnswer(f"{' '.join(argv)} did not finish within {timeout:g} s",
                            hub=self.hub.name, step=step) from err
        except CommandError as err:
            raise self.error(f"cannot run {program} for unit {self.unit}: {err.reason}",
                             step) from err

    def _systemctl(self, *args: str, step: str, timeout: float = _CALL_TIMEOUT,
                   output_is_data: bool = False) -> Result:
        flags = ["--user"] if self.config.user else []
        return self._run("systemctl", [*flags, *args], step, timeout, output_is_data)

    def _show(self, *properties: str, step: str,
              output_is_data: bool = False) -> dict[str, list[str]]:
        """`systemctl show -p ...` of the unit: each property's values (some repeat)."""
        done = self._systemctl("show", "-p", ",".join(properties), "--", self.unit,
                               step=step, output_is_data=output_is_data)
        if done.returncode != 0:
            tail = done.tail if not output_is_data else redact(done.tail, self._secrets())
            raise self.error(f"systemctl could not ask {self._manager()} about unit "
                             f"{self.unit}: {tail.strip()}", step)
        shown: dict[str, list[str]] = {}
        for line in done.output.splitlines():
            name, sep, value = line.partition("=")
            if sep:
                shown.setdefault(name, []).append(value)
        return shown

    def _state(self, step: str) -> UnitState:
        shown = self._show("LoadState", "ActiveState", "SubState", "MainPID", "NRestarts",
                           step=step)

        def one(name: str) -> str:
            return (shown.get(name) or [""])[-1]

        pid = int(one("MainPID") or 0)
        return UnitState(load=one("LoadState"), active=one("ActiveState"), sub=one("SubState"),
                         pid=pid or None, restarts=int(one("NRestarts") or 0))

    def _absent(self, state: UnitState) -> str | None:
        """Why the unit cannot be driven at all (it does not exist, ...), or None."""
        if state.load == "not-found":
            where = "systemctl --user" if self.config.user else "systemctl"
            return (f"unit {self.unit} does not exist: {self._manager()} has no such unit "
                    f"(`{where} list-unit-files` lists those it has)")
        if state.load == "masked":
            return f"unit {self.unit} is masked, so systemd will not start it"
        if state.load != "loaded":
            return f"unit {self.unit} is not loaded (LoadState={state.load or 'unknown'})"
        return None

    # -- the Runtime contract ----------------------------------------------------------

    def check(self) -> list[str]:
        """The unit exists and loads, systemctl answers, and the hub does not answer from
        outside the unit. Never raises."""
        try:
            state = self._state("preflight")
        except RuntimeControlError as err:
            return [err.message]
        except ValueError as err:  # a systemctl that prints something else than systemd's
            return [f"systemctl's view of unit {self.unit} cannot be read: {err}"]
        absent = self._absent(state)
        if absent is not None:
            return [absent]
        if not state.running and self.port_open():
            host, port = self.address()
            return [f"unit {self.unit} is {state.active}, yet something answers on the hub's "
                    f"port {port} on {host}: the hub does not run under this unit"]
        return []

    def status(self) -> RuntimeStatus:
        """Running while the unit has processes (not while it waits to restart); the pid is
        the unit's MainPID. Not running, with the reason, when systemd cannot be asked."""
        try:
            state = self._state("status")
        except (RuntimeControlError, ValueError) as err:
            return RuntimeStatus(False, None, str(getattr(err, "message", err)))
        absent = self._absent(state)
        if absent is not None:
            return RuntimeStatus(False, None, absent)
        detail = f"unit {self.unit}: {state.active} ({state.sub})"
        if state.pid:
            detail += f", main pid {state.pid}"
        return RuntimeStatus(state.running, state.pid if state.running else None, detail)

    def stops_hub_children(self) -> str | None:
        """systemd stops every process of the unit's cgroup, unless KillMode=process (or
        none): the servers a local process spawner started are in that cgroup."""
        try:
            mode = (self._show("KillMode", step="preflight").get("KillMode") or [""])[-1]
        except RuntimeControlError:
            return None
        if mode in ("process", "none"):
            return None
        return (f"systemd stops every process of unit {self.unit} (KillMode={mode or 'unknown'}"
                "), the users' servers the hub started as its own processes included: set "
                "KillMode=process in the unit, or use a spawner that runs servers outside "
                "it (SystemdSpawner, as TLJH does)")

    def environment(self) -> HubEnvironment:
        """The unit's WorkingDirectory and its environment (Environment=, then its
        EnvironmentFile=s, which systemd lets override it).

        PATH is left out: the installer puts the release's own `bin` first, and `upgrade-db`
        must find that release's `alembic`, which a unit's PATH naming a fixed install would
        hide. Raises RuntimeControlError if systemd cannot tell, or a required
        EnvironmentFile cannot be read.
        """
        # The values may hold secrets: they go into the child's environment, never a message.
        shown = self._show("WorkingDirectory", "Environment", "EnvironmentFiles", "User",
                           step="environment", output_is_data=True)
        env: dict[str, str] = {}
        for line in shown.get("Environment", []):
            for word in split_words(line):
                name, sep, value = word.partition("=")
                if sep and _ENV_NAME.fullmatch(name):
                    env[name] = value
        for line in shown.get("EnvironmentFiles", []):
            path, optional = environment_file_entry(line)
            try:
                env.update(parse_environment_file(path.read_text()))
            except (OSError, UnicodeDecodeError) as err:
                if not optional:
                    raise self.error(f"cannot read EnvironmentFile {path} of unit "
                                     f"{self.unit}: {err}", "environment") from err
        env.pop("PATH", None)
        user = (shown.get("User") or [""])[-1]
        return HubEnvironment(self._working_directory(
            (shown.get("WorkingDirectory") or [""])[-1], user), env)

    # -- variables of hubshift's own: a drop-in naming a private EnvironmentFile ---------

    def _drop_in_dir(self) -> Path:
        """`<unit>.d/` beside the unit's file (FragmentPath), where systemd reads drop-ins."""
        fragment = (self._show("FragmentPath", step="move-switch").get("FragmentPath")
                    or [""])[-1]
        if not fragment:
            raise self.error(f"systemd names no file for unit {self.unit}", "move-switch")
        return Path(fragment).parent / f"{self.unit}.d"

    def set_env(self, name: str, value: str) -> None:
        """`name` in `<unit>.d/hubshift-env` (mode 0600), named by the drop-in
        `<unit>.d/hubshift-env.conf` (`EnvironmentFile=`); then daemon-reload. The value
        never shows in the unit (`systemctl show -p Environment`) nor in a command line."""
        folder = self._drop_in_dir()
        try:
            folder.mkdir(exist_ok=True)
            set_var(folder / SYSTEMD_ENV_FILE, name, value)
            conf = folder / f"{SYSTEMD_ENV_FILE}.conf"
            conf.write_text("# Written by hubshift (move-db): the hub's own variables.\n"
                            f"[Service]\nEnvironmentFile={folder / SYSTEMD_ENV_FILE}\n")
        except OSError as err:
            raise self.error(f"cannot write the drop-in of unit {self.unit} in {folder}: "
                             f"{err.strerror}", "move-switch") from None
        self._reload("move-switch")

    def unset_env(self, name: str) -> None:
        folder = self._drop_in_dir()
        env_file = folder / SYSTEMD_ENV_FILE
        if not env_file.exists():
            return
        if unset_var(env_file, name):
            (folder / f"{SYSTEMD_ENV_FILE}.conf").unlink(missing_ok=True)
            env_file.unlink(missing_ok=True)
        self._reload("move-undo")

    def _reload(self, step: str) -> None:
        done = self._systemctl("daemon-reload", step=step)
        if done.returncode != 0:
            raise self.error(f"systemctl daemon-reload failed: {done.tail.strip()}", step)

    def _working_directory(self, shown: str, user: str) -> Path:
        # "!" or "-" in front: a missing directory is not an error to systemd.
        value = shown.lstrip("!-")
        if value and value != "~":
            return Path(value)
        if not value and not self.config.user:
            return Path("/")  # a system unit's default
        # "~", or a user unit's default: the home of the unit's user.
        if not user:
            return Path.home()
        try:
            return Path(pwd.getpwnam(user).pw_dir)
        except KeyError as err:
            raise self.error(f"unit {self.unit} runs as {user!r}, who has no home",
                             "environment") from err

    def start(self, warm: WarmCommand | None = None) -> RuntimeStatus:
        """`systemctl start` the unit; return once it is active and the hub's port opens.

        Raises RuntimeControlError if the unit already runs (never a second hub), the port is
        taken, or the unit fails, exits, restarts in a loop or does not open the port within
        start_timeout: then the unit is stopped and the error quotes `systemctl status` and
        the unit's recent output (redacted).
        """
        if warm is not None:
            warm.discard()  # systemd runs its own ExecStart: nothing loaded can be used
        state = self._state("start")
        absent = self._absent(state)
        if absent is not None:
            raise self.error(absent, "start")
        if state.running:
            raise self.error(f"unit {self.unit} is already running ({state.active}, main pid "
                             f"{state.pid})", "start", hint="stop it first")
        host, port = self.address()
        if self.port_open():
            raise self.error(f"port {port} on {host} is already in use, with unit "
                             f"{self.unit} {state.active}", "start",
                             hint="another process serves the hub's URL; stop it first")
        marks = self._log_marks()
        # A unit that failed before (or hit its start rate limit) may be started again.
        self._systemctl("reset-failed", "--", self.unit, step="start")
        timeout = self.config.start_timeout
        deadline = time.monotonic() + timeout
        try:
            done = self._systemctl("start", "--", self.unit, step="start", timeout=timeout)
        except _NoAnswer:
            raise self._start_failed(f"systemctl start did not return within {timeout:g} s",
                                     marks) from None
        if done.returncode != 0:
            raise self._start_failed(f"systemctl start exited {done.returncode}: "
                                     f"{done.tail.strip()}", marks)
        return self._wait_started(deadline, marks)

    def _wait_started(self, deadline: float, marks: _LogMarks) -> RuntimeStatus:
        """Until the port opens with the unit active; a unit that dies, ends or restarts
        on the way failed (with Restart=, systemd would try again and again)."""
        first = self._state("start")
        checked = time.monotonic()
        state = first
        while True:
            if state.active in ("failed", "inactive"):
                raise self._start_failed(f"the hub exited before its port opened (the unit is "
                                         f"{state.active})", marks)
            # A manual start counts NRestarts from 0: any restart is systemd's, after a crash.
            if state.sub == "auto-restart" or state.restarts > 0 or (
                    first.pid and state.pid and state.pid != first.pid):
                raise self._start_failed("the hub exited and systemd restarts it (Restart=)",
                                         marks)
            port_open = self.port_open()
            if port_open and state.active == "active" and state.pid:
                return RuntimeStatus(True, state.pid,
                                     f"unit {self.unit}: active, main pid {state.pid}")
            if time.monotonic() >= deadline:
                host, port = self.address()
                raise self._start_failed(
                    f"port {port} on {host} did not open within "
                    f"{self.config.start_timeout:g} s", marks)
            time.sleep(procs.POLL)
            # The port is cheap to check; systemd is asked less often, and as soon as it opens.
            if port_open or time.monotonic() - checked >= _STATE_EVERY:
                state, checked = self._state("start"), time.monotonic()

    def stop(self, timeout: float | None = None) -> None:
        """`systemctl stop` the unit, SIGKILL what is left of it after `timeout` (default
        stop_timeout), and return once it is inactive and the hub's port is closed.

        Stopping a stopped unit does nothing. Raises RuntimeControlError naming the unit if
        it outlives the SIGKILL or its port stays open.
        """
        timeout = self.config.stop_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        try:
            done = self._systemctl("stop", "--", self.unit, step="stop", timeout=timeout)
        except _NoAnswer:
            self._kill()
        else:
            if done.returncode != 0:
                absent = self._absent(self._state("stop"))
                raise self.error(absent or f"systemctl stop of unit {self.unit} exited "
                                 f"{done.returncode}: {done.tail.strip()}", "stop")
            if self._state("stop").running:  # the stop job was cancelled or replaced
                self._kill()
        self._wait_port_closed(max(deadline, time.monotonic() + _KILL_GRACE))

    def _kill(self) -> None:
        """SIGKILL every process of the unit; raise unless the unit is then down."""
        self._systemctl("kill", "--signal=SIGKILL", "--", self.unit, step="stop")
        end = time.monotonic() + _KILL_GRACE
        while (state := self._state("stop")).running:
            if time.monotonic() >= end:
                raise self.error(f"unit {self.unit} did not stop within "
                                 f"{self.config.stop_timeout:g} s, nor after SIGKILL "
                                 f"({state.active}, {state.sub})", "stop")
            time.sleep(procs.POLL * 2)

    def _wait_port_closed(self, deadline: float) -> None:
        host, port = self.address()
        while self.port_open():
            if time.monotonic() >= deadline:
                raise self.error(
                    f"port {port} on {host} still accepts connections after unit "
                    f"{self.unit} stopped", "stop",
                    hint="another process listens on the hub's port (not under this unit)")
            time.sleep(procs.POLL)

    # -- explaining a failed start -----------------------------------------------------

    def _log_marks(self) -> _LogMarks:
        """Where the unit's output will go, and how far each file reached before the start."""
        try:
            files = self._output_files()
        except RuntimeControlError:
            files = []
        sizes = {}
        for kind, path in files:
            try:
                sizes[path] = (kind, path.stat().st_size)
            except OSError:
                sizes[path] = (kind, 0)
        return _LogMarks(time.time(), sizes)

    def _output_files(self) -> list[tuple[str, Path]]:
        """The files of StandardOutput= and StandardError= (file:, append:, truncate:).

        systemd 252's `show` names the kind only, so the path is read from the unit's own
        files (its fragment, then its drop-ins), last setting winning, as systemd reads them.
        """
        shown = self._show("StandardOutput", "StandardError", "FragmentPath", "DropInPaths",
                           step="start")
        texts: list[str] | None = None
        found: list[tuple[str, Path]] = []
        for key in ("StandardOutput", "StandardError"):
            kind, _, path = (shown.get(key) or [""])[-1].partition(":")
            if kind not in _FILE_OUTPUTS:
                continue
            if not path:  # not shown: read it where the unit sets it
                if texts is None:
                    names = [*shown.get("FragmentPath", []),
                             *" ".join(shown.get("DropInPaths", [])).split()]
                    texts = [_read(Path(name)) for name in names if name]
                setting = unit_setting(texts, key) or ""
                kind, _, path = setting.partition(":")
            if path and all(path != str(p) for _, p in found):
                found.append((kind, Path(path)))
        return found

    def _start_failed(self, what: str, marks: _LogMarks) -> RuntimeControlError:
        """The error of a start that did not come up, the unit stopped (no restart loop
        left behind), quoting systemd's status and the hub's recent output."""
        # A failed clean-up is not worth hiding the failure below.
        with contextlib.suppress(RuntimeControlError):
            self._systemctl("stop", "--", self.unit, step="start",
                            timeout=self.config.stop_timeout)
        status = self._systemctl("status", "--no-pager", "--full", "--lines=0", "--",
                                 self.unit, step="start")
        parts = [f"unit {self.unit} did not start: {what}",
                 f"--- systemctl status {self.unit}:\n{status.tail.strip()}"]
        parts += self._recent_output(marks)
        return self.error("\n".join(parts), "start")

    def _recent_output(self, marks: _LogMarks) -> list[str]:
        """The unit's output since `marks`: the journal's lines, then each output file's."""
        quoted = []
        selector = ["--user-unit" if self.config.user else "--unit", self.unit]
        try:
            journal = self._run("journalctl", ["--quiet", "--no-pager", "--output=cat",
                                               f"--lines={_JOURNAL_LINES}",
                                               f"--since=@{int(marks.started)}", *selector],
                                "start")
            if journal.returncode == 0 and journal.output.strip():
                quoted.append(f"--- journalctl {' '.join(selector)}:\n"
                              f"{journal.tail.strip()}")
        except RuntimeControlError:
            pass  # no journalctl: the files below, or the sentence, say where to look
        for path, (kind, _) in marks.files.items():
            quoted.append(f"--- {path}:\n{self._file_tail(path, kind, marks)}")
        if not quoted:
            quoted.append(f"(no output found: the journal has nothing from unit {self.unit} "
                          "and it writes to no StandardOutput= file; see where the hub logs, "
                          "e.g. JupyterHub.extra_log_file)")
        return quoted

    def _file_tail(self, path: Path, kind: str, marks: _LogMarks) -> str:
        _, size = marks.files[path]
        try:
            with open(path, "rb") as log:
                # append: only what this start wrote; file:/truncate: start from the top.
                if kind == "append" and log.seek(0, 2) >= size:
                    log.seek(size)
                else:
                    log.seek(0)
                text = log.read().decode("utf-8", "replace")
        except OSError as err:
            return f"(cannot read it: {err.strerror})"
        return redact(text[-_LOG_TAIL:], self._secrets()).strip() or "(nothing written)"


@dataclass(frozen=True)
class _LogMarks:
    started: float
    #: path -> (StandardOutput kind, size before the start)
    files: dict[Path, tuple[str, int]]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError):
        return ""


# -- systemd's formats ----------------------------------------------------------------

_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
            "s": " "}


def split_words(text: str) -> list[str]:
    """The words of a list as `systemctl show` prints it (Environment=): separated by
    blanks, quoted with " or ' where they hold blanks, C escapes (\\t, \\", \\$, \\xNN)."""
    words: list[str] = []
    word: bytearray | None = None
    quote = None
    i = 0
    while i < len(text):
        char = text[i]
        if quote is None and char.isspace():
            if word is not None:
                words.append(word.decode("utf-8", "replace"))
                word = None
            i += 1
            continue
        if word is None:
            word = bytearray()
        if char in "\"'" and quote in (None, char):
            quote = None if quote else char
            i += 1
        elif char == "\\" and i + 1 < len(text):
            decoded, i = _unescape(text, i + 1)
            word += decoded
        else:
            word += char.encode()
            i += 1
    if word is not None:
        words.append(word.decode("utf-8", "replace"))
    return words


def _unescape(text: str, i: int) -> tuple[bytes, int]:
    """The bytes escaped at text[i] (just after a backslash) and the index after them."""
    char = text[i]
    if char == "x" and re.fullmatch(r"[0-9a-fA-F]{2}", text[i + 1:i + 3]):
        return bytes([int(text[i + 1:i + 3], 16)]), i + 3
    if re.fullmatch(r"[0-7]{3}", text[i:i + 3]):
        return bytes([int(text[i:i + 3], 8) & 0xFF]), i + 3
    return _ESCAPES.get(char, char).encode(), i + 1


def environment_file_entry(shown: str) -> tuple[Path, bool]:
    """An EnvironmentFiles= value of `systemctl show`: the path, and whether it may be
    missing ("/etc/hub.env (ignore_errors=yes)")."""
    path, _, flags = shown.rpartition(" (")
    if not path:
        return Path(shown), False
    return Path(path), flags.startswith("ignore_errors=yes")


def unit_setting(texts: Iterable[str], key: str) -> str | None:
    """The value of `key=` in the [Service] sections of a unit's files, in the order systemd
    reads them (fragment, then drop-ins): the last one wins, an empty one resets."""
    value = None
    for text in texts:
        section = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
                continue
            name, sep, setting = line.partition("=")
            if section == "Service" and sep and name.strip() == key:
                value = setting.strip() or None
    return value
