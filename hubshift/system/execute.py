"""The only place hubshift runs subprocesses.

Arguments are always lists (no shell), secrets reach a child only through its environment
or a file, and everything a child prints is redacted before it can reach a log or an error.
A program that cannot be run or does not finish becomes one of hubshift's errors here
(`CommandError` and its kinds), naming the program only: its arguments and environment may
hold secrets, and the caller above knows what the command was for.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hubshift.errors import CommandError, CommandTimeout, ProgramNotFound, ProgramNotPermitted
from hubshift.system.redact import redact

#: How much of a failed command's output an error message quotes.
OUTPUT_TAIL = 2000


@dataclass(frozen=True)
class Result:
    """A finished command, its output already redacted (unless the caller asked for it as
    data: see `run`)."""

    argv: tuple[str, ...]
    returncode: int
    output: str

    @property
    def tail(self) -> str:
        return self.output[-OUTPUT_TAIL:]


def child_env(
    *, path_first: Iterable[Path] = (), extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment for a child: ours, with `path_first` dirs put in front of PATH.

    `jupyterhub upgrade-db` runs `alembic` from PATH, so a venv's `bin` must come first.
    """
    env = dict(os.environ)
    dirs = [str(p) for p in path_first]
    env["PATH"] = os.pathsep.join([*dirs, env.get("PATH", "")])
    # Our Python's settings are not the child's: a PYTHONPATH naming hubshift's own checkout
    # would make a hub env's pip list hubshift as installed there, and carry it over.
    for name in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    if extra:
        env.update(extra)
    return env


def program_name(argv: Sequence[str | os.PathLike[str]]) -> str:
    """How an error names the program of `argv`: its file name, never its arguments."""
    return Path(str(argv[0])).name if argv else "(no program)"


@contextmanager
def _translated(argv: Sequence[str], hub: str | None,
                timeout: float | None) -> Iterator[None]:
    """Turn the subprocess module's failures into hubshift's errors, naming the program
    (and the hub, when the caller knows it)."""
    program = program_name(argv)
    try:
        yield
    except subprocess.TimeoutExpired as err:
        raise CommandTimeout(f"{program} did not finish within {timeout:g} s; it was killed",
                             program=program, reason="timed out", hub=hub) from err
    except OSError as err:
        reason = err.strerror or type(err).__name__
        # The file is the program itself, or what it needed: its working directory or its
        # log (paths, never secrets); only the program's own failure says "not found".
        about_program = err.filename is None or str(err.filename) == argv[0]
        kind = CommandError
        if about_program and isinstance(err, FileNotFoundError):
            kind = ProgramNotFound
        elif about_program and isinstance(err, PermissionError):
            kind = ProgramNotPermitted
        where = "" if about_program else f" ({err.filename})"
        raise kind(f"cannot run {program}: {reason}{where}", program=program, reason=reason,
                   hub=hub) from err


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    secrets: Iterable[str] = (),
    output_is_data: bool = False,
    hub: str | None = None,
) -> Result:
    """Run `argv` to completion and return its merged, redacted output.

    With `output_is_data`, the output is returned as printed, unredacted: it is data the
    caller parses (a service's environment, whose values must reach the child intact) and
    never quotes. Without `env`, the child gets `child_env()` (ours, without our Python's
    settings). Never raises for a non-zero exit (callers decide what a failure means);
    raises CommandTimeout after `timeout` seconds, the child killed; ProgramNotFound,
    ProgramNotPermitted or CommandError when it cannot be started (`hub` named in each).
    """
    args = tuple(str(a) for a in argv)
    with _translated(args, hub, timeout):
        proc = subprocess.run(
            args,
            env=dict(env) if env is not None else child_env(),
            cwd=cwd,
            timeout=timeout,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    text = proc.stdout.decode("utf-8", "replace")
    return Result(args, proc.returncode, text if output_is_data else redact(text, secrets))


def spawn(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path | None = None,
    stdin: int = subprocess.DEVNULL,
    pass_fds: Sequence[int] = (),
    hub: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start `argv` without waiting for it; output merged into one stream.

    With `log_path`, the output is appended to that file and the child gets a session of its
    own (it outlives us; its group can be signalled as a whole: the hub and the proxy it
    starts). Without one, the output is captured in `stdout` of the returned process.
    Raises ProgramNotFound, ProgramNotPermitted or CommandError when it cannot be started
    (an unwritable `log_path` included).
    """
    common = {"env": dict(env), "cwd": cwd, "stdin": stdin, "stderr": subprocess.STDOUT,
              "pass_fds": tuple(pass_fds)}
    args = [str(a) for a in argv]
    with _translated(args, hub, None):
        if log_path is None:
            return subprocess.Popen(args, stdout=subprocess.PIPE, **common)
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab", buffering=0) as log:
            return subprocess.Popen(args, stdout=log, start_new_session=True, **common)


def spawn_detached(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    hub: str | None = None,
) -> int:
    """Start `argv` in its own session (it outlives us) with output appended to `log_path`;
    return its pid. Raises as `spawn` does."""
    return spawn(argv, env=env, cwd=cwd, log_path=log_path, hub=hub).pid
