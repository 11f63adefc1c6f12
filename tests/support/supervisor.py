"""A real supervisord (from PyPI's `supervisor`) for the tests, and sandbox hubs as its
programs, driven by hubshift's `command` runtime through `supervisorctl`.

One supervisord per test session, with its own config, socket and log folder under a temp
dir; `supervisorctl -c <conf> start|stop|status <program>` drives it as an operator would.
Each hub is a `[program:...]` in a file of its own, included by the main config and loaded
with `reread`/`update`. Register with ``pytest_plugins = ["tests.support.supervisor"]``.

Checked on supervisor 4.3.0: `supervisorctl status PROG` exits 0 in RUNNING, STARTING,
BACKOFF and STOPPING, 3 in STOPPED, EXITED and FATAL, 4 when there is no such program or
supervisord does not answer; `start` of a running program and `stop` of a stopped one print
an ERROR yet exit 0; `start` of a program that dies before `startsecs` exits 7.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hubshift.system import procs
from hubshift_lab.sandbox import SandboxHub
from tests.support.services import require

#: Seconds supervisord gives a hub between SIGTERM and SIGKILL; the runtime's stop_timeout
#: must leave room for it.
STOPWAITSECS = 10
STOP_TIMEOUT = 30

_MAIN_CONF = """\
[unix_http_server]
file = {socket}
chmod = 0700

[supervisord]
logfile = {logs}/supervisord.log
pidfile = {root}/supervisord.pid
childlogdir = {logs}
nodaemon = true

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl = unix://{socket}

[include]
files = {programs}/*.conf
"""

_PROGRAM_CONF = """\
[program:{name}]
command = {command}
directory = {directory}
environment = PATH="{path}"
redirect_stderr = true
stdout_logfile = {log}
stdout_logfile_maxbytes = 0
autostart = false
autorestart = false
stopasgroup = true
killasgroup = true
stopwaitsecs = {stopwaitsecs}
"""


def _bin(name: str) -> str | None:
    """`name` from this interpreter's venv (the `test` extra installs supervisor), or PATH."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else shutil.which(name)


def _ini(value: str) -> str:
    """`value` safe in a supervisor config value (it expands %(name)s)."""
    return value.replace("%", "%%")


@dataclass
class Supervisord:
    """One running supervisord and how to drive it."""

    root: Path
    conf: Path
    supervisorctl: str
    process: subprocess.Popen[bytes]

    def ctl_argv(self, *args: str) -> list[str]:
        """`supervisorctl -c <conf> ARGS`, as a fleet file's runtime commands spell it."""
        return [self.supervisorctl, "-c", str(self.conf), *args]

    def ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.ctl_argv(*args), capture_output=True, text=True,
                              timeout=60, check=False)

    def add_program(self, sandbox: SandboxHub) -> str:
        """Register `sandbox` as a (stopped) program; return the program's name."""
        # Unique: tests make sandboxes of the same name in different folders.
        name = f"{re.sub(r'[^A-Za-z0-9_.-]', '-', sandbox.name)}-{uuid.uuid4().hex[:6]}"
        venv_bin = sandbox.venv_link / "bin"
        command = shlex.join([str(venv_bin / "jupyterhub"), "-f", str(sandbox.config_file)])
        (self.root / "programs" / f"{name}.conf").write_text(_PROGRAM_CONF.format(
            name=name, command=_ini(command), directory=_ini(str(sandbox.workdir)),
            path=_ini(os.pathsep.join([str(venv_bin), os.environ.get("PATH", "")])),
            log=_ini(str(self.log_file(sandbox))), stopwaitsecs=STOPWAITSECS))
        for step in ("reread", "update"):
            done = self.ctl(step)
            assert done.returncode == 0, (step, done.stdout, done.stderr)
        return name

    def log_file(self, sandbox: SandboxHub) -> Path:
        return sandbox.workdir / "jupyterhub.log"

    def status(self, program: str) -> tuple[int, str]:
        """`supervisorctl status PROG`: its exit code and output."""
        done = self.ctl("status", program)
        return done.returncode, done.stdout.strip()

    def running_pid(self, program: str) -> int:
        """The pid of `program`, which must be RUNNING (as `supervisorctl status` says)."""
        code, said = self.status(program)
        match = re.search(r"\bRUNNING\s+pid (\d+),", said)
        assert code == 0 and match, said
        return int(match.group(1))

    def stop(self) -> None:
        """SIGTERM: supervisord stops every program first (their groups too), then exits."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT + 30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_supervisord(root: Path) -> Supervisord:
    """Start a supervisord whose config, socket and logs live under `root`."""
    supervisord, supervisorctl = _bin("supervisord"), _bin("supervisorctl")
    require(supervisord is not None and supervisorctl is not None,
            "supervisord (pip install supervisor)")
    assert supervisord is not None and supervisorctl is not None
    (root / "programs").mkdir(parents=True)
    (root / "logs").mkdir()
    conf = root / "supervisord.conf"
    conf.write_text(_MAIN_CONF.format(root=_ini(str(root)), socket=_ini(str(root / "sock")),
                                      logs=_ini(str(root / "logs")),
                                      programs=_ini(str(root / "programs"))))
    with open(root / "logs" / "supervisord.out", "ab") as out:
        process = subprocess.Popen([supervisord, "-c", str(conf)], stdout=out,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
    manager = Supervisord(root, conf, supervisorctl, process)
    deadline = time.monotonic() + 30
    # `pid` answers once supervisord serves its socket.
    while manager.ctl("pid").returncode != 0:
        if process.poll() is not None or time.monotonic() >= deadline:
            manager.stop()
            log = (root / "logs" / "supervisord.out").read_text()
            pytest.fail(f"supervisord did not come up: {log[-2000:]}")
        time.sleep(0.1)
    return manager


@pytest.fixture(scope="session")
def supervisord() -> Iterator[Supervisord]:
    """One supervisord for the session; stopped (with every program) at the end."""
    # A short path: the socket's path must fit in a sockaddr_un (108 bytes).
    root = Path(tempfile.mkdtemp(prefix="hubshift-sv-"))
    manager = start_supervisord(root)
    try:
        yield manager
    finally:
        manager.stop()
        assert not procs.alive(manager.process.pid)
        shutil.rmtree(root, ignore_errors=True)


class SupervisorManager:
    """supervisord: the hub is a program that the `command` runtime drives through
    supervisorctl."""

    kind = "command"

    def __init__(self, supervisord: Supervisord) -> None:
        self.supervisord = supervisord
        self.programs: dict[Path, str] = {}

    def runtime_entry(self, sandbox: SandboxHub) -> dict[str, Any]:
        program = self.programs.get(sandbox.workdir)
        if program is None:
            program = self.programs[sandbox.workdir] = self.supervisord.add_program(sandbox)
        ctl = self.supervisord.ctl_argv
        return {"kind": "command", "start": ctl("start", program),
                "stop": ctl("stop", program), "status": ctl("status", program),
                "workdir": str(sandbox.workdir), "log_file": str(self.log_file(sandbox)),
                "stop_timeout": STOP_TIMEOUT}

    def program(self, sandbox: SandboxHub) -> str:
        return self.programs[sandbox.workdir]

    def log_file(self, sandbox: SandboxHub) -> Path:
        return self.supervisord.log_file(sandbox)


@pytest.fixture(scope="session")
def supervisor_manager(supervisord: Supervisord) -> SupervisorManager:
    return SupervisorManager(supervisord)
