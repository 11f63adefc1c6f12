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

from hubshift.redact import redact

#: How much of a failed command's output an error message quotes.
OUTPUT_TAIL = 2000


@dataclass(frozen=True)
class Result:
    """A finished command, its output already redacted."""

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
) -> Result:
    """Run `argv` to completion and return its merged, redacted output.

    Never raises for a non-zero exit (callers decide what a failure means); raises
    `subprocess.TimeoutExpired` after `timeout` seconds, the child killed.
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
    return Result(args, proc.returncode, redact(text, secrets))


def spawn_detached(
    argv: Sequence[str | os.PathLike[str]],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
) -> int:
    """Start `argv` in its own session (it outlives us) with output appended to `log_path`.

    Returns the child's pid; the child leads its own process group, so the group can be
    signalled as a whole (the hub and the proxy it starts).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as log:
        proc = subprocess.Popen(
            [str(a) for a in argv],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid
