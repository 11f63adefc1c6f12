"""A JupyterHub command whose interpreter loaded JupyterHub before the downtime began.

Importing `jupyterhub.app` costs seconds (about 3 s on a small host, most of it in the
format checkers of jsonschema that jupyter_events pulls in), and both `jupyterhub upgrade-db`
and the hub's start pay it again, inside the downtime. A warm command is the same console
script with the same arguments, environment and working directory, started while the old
hub still serves: its interpreter imports JupyterHub, says so, and waits. `go()` then runs
the script exactly as a cold start would, minus the imports already done.

It cannot outlive its purpose: if the orchestrator goes away (or `discard()`s it) before
`go()`, its stdin closes and it exits without running anything.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from hubshift.errors import CommandError, CommandTimeout
from hubshift.system.execute import OUTPUT_TAIL, Result, spawn
from hubshift.system.redact import redact

#: Runs in the release's own interpreter: argv is <ready fd> <script> <script's arguments>.
#: sys.path[0] becomes the script's directory, as for `python <script>`, not the cwd (-c's).
LAUNCHER = """\
import os, sys
ready, script = int(sys.argv[1]), sys.argv[2]
sys.path[0] = os.path.dirname(script)
import runpy
import jupyterhub.app
os.write(ready, b"ready")
os.close(ready)
if sys.stdin.readline().strip() != "go":
    sys.exit(0)
null = os.open(os.devnull, os.O_RDONLY)
os.dup2(null, 0)
os.close(null)
sys.argv = sys.argv[2:]
runpy.run_path(script, run_name="__main__")
"""

#: How long a warm command may take to exit once discarded before it is killed.
_DISCARD_GRACE = 5.0


class WarmError(Exception):
    """The warm command died before it was ready (its output says why)."""


class WarmCommand:
    """`script args...` run by `python` once `go()` is called, JupyterHub already imported.

    Output goes to `log_path` (appended; the command then leads a session of its own and
    outlives us once started, like a hub) or, without one, is captured for `finish()`.
    """

    def __init__(self, python: Path, script: Path, args: Sequence[str | os.PathLike[str]], *,
                 env: Mapping[str, str], cwd: Path, log_path: Path | None = None) -> None:
        # The command runs in `cwd`: relative paths would be read from there.
        self.python, self.script = python.absolute(), script.absolute()
        self.args = tuple(str(a) for a in args)
        self.log_path = log_path
        self._log_start = log_path.stat().st_size if log_path and log_path.exists() else 0
        self.started = False
        ready_read, ready_write = os.pipe()
        try:
            self.proc = spawn(
                [self.python, "-c", LAUNCHER, str(ready_write), self.script, *self.args],
                env=env, cwd=cwd, log_path=log_path, stdin=subprocess.PIPE,
                pass_fds=(ready_write,))
        except CommandError:
            os.close(ready_read)
            raise
        finally:
            os.close(ready_write)
        self._ready = ready_read

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_ready(self, timeout: float) -> None:
        """Return once JupyterHub is imported; raise WarmError if the command died first
        (quoting its output, redacted) or TimeoutError after `timeout` seconds."""
        if self._ready < 0:
            return
        readable, _, _ = select.select([self._ready], [], [], timeout)
        if not readable:
            raise TimeoutError(f"{self.script} did not load JupyterHub in {timeout:.0f} s")
        said = os.read(self._ready, 16)
        os.close(self._ready)
        self._ready = -1
        if said != b"ready":
            self.proc.wait(_DISCARD_GRACE)
            raise WarmError(f"{self.python} could not import JupyterHub (exit "
                            f"{self.proc.returncode}):\n{self._output_tail()}")

    def go(self) -> int:
        """Run the script now; return its pid. A command that died meanwhile is the
        caller's to notice, as it would notice a cold start that exits at once."""
        assert self.proc.stdin is not None
        self.started = True
        with contextlib.suppress(BrokenPipeError):
            self.proc.stdin.write(b"go\n")
            self.proc.stdin.close()
        return self.proc.pid

    def finish(self, timeout: float) -> Result:
        """Run the script now and wait for it; its output captured and redacted.
        Raises CommandTimeout after `timeout` seconds, the command killed (as `run`)."""
        self.started = True
        try:
            out, _ = self.proc.communicate(b"go\n", timeout=timeout)
        except subprocess.TimeoutExpired as err:
            self.proc.kill()
            self.proc.communicate()
            program = self.script.name
            raise CommandTimeout(f"{program} did not finish within {timeout:g} s; it was "
                                 "killed", program=program, reason="timed out") from err
        return Result((str(self.script), *self.args), self.proc.returncode,
                      redact(out.decode("utf-8", "replace")))

    def discard(self) -> None:
        """Let an unused command exit without running anything. Safe to call twice; a
        command already started is left alone."""
        if self._ready >= 0:
            os.close(self._ready)
            self._ready = -1
        if self.started:
            return
        self.started = True
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(_DISCARD_GRACE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def _output_tail(self) -> str:
        if self.log_path is None:
            out = self.proc.stdout.read() if self.proc.stdout else b""
            text = out.decode("utf-8", "replace")
        else:
            with open(self.log_path, "rb") as log:
                log.seek(self._log_start)
                text = log.read().decode("utf-8", "replace")
        return redact(text[-OUTPUT_TAIL:]).strip() or "(no output)"


def wait_all_ready(commands: Sequence[WarmCommand], timeout: float) -> None:
    """Wait until every command is ready, sharing one deadline (they load in parallel)."""
    deadline = time.monotonic() + timeout
    for command in commands:
        command.wait_ready(max(0.0, deadline - time.monotonic()))
