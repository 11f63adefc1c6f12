"""The only place hubshift runs subprocesses.

Arguments are always lists (no shell), secrets reach a child only through its environment
or a file, and everything a child prints is redacted before it can reach a log or an error.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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
    env.pop("PYTHONHOME", None)
    env.pop("VIRTUAL_ENV", None)
    if extra:
        env.update(extra)
    return env


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
    secrets: Iterable[str] = (),
    output_is_data: bool = False,
) -> Result:
    """Run `argv` to completion and return its merged, redacted output.

    With `output_is_data`, the output is returned as printed, unredacted: it is data the
    caller parses (a service's environment, whose values must reach the child intact) and
    never quotes. Never raises for a non-zero exit (callers decide what a failure means);
    raises `subprocess.TimeoutExpired` after `timeout` seconds, the child killed.
    """
    args = tuple(str(a) for a in argv)
    proc = subprocess.run(
        args,
        env=dict(env) if env is not None else None,
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
) -> subprocess.Popen[bytes]:
    """Start `argv` without waiting for it; output merged into one stream.

    With `log_path`, the output is appended to that file and the child gets a session of its
    own (it outlives us; its group can be signalled as a whole: the hub and the proxy it
    starts). Without one, the output is captured in `stdout` of the returned process.
    """
    common = {"env": dict(env), "cwd": cwd, "stdin": stdin, "stderr": subprocess.STDOUT,
              "pass_fds": tuple(pass_fds)}
    args = [str(a) for a in argv]
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
) -> int:
    """Start `argv` in its own session (it outlives us) with output appended to `log_path`;
    return its pid."""
    return spawn(argv, env=env, cwd=cwd, log_path=log_path).pid
