"""Client tools of the server engines (pg_dump, mariadb-dump, ...): found, versioned, fed
credentials through private files that never outlive the command.

Passwords never go into argv (any user can read /proc/<pid>/cmdline) nor into our own
environment: each command gets a fresh mode-700 directory holding a mode-600 file, removed
when the command ends, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from hubshift.errors import CommandError, CommandTimeout, DatabaseError
from hubshift.system.execute import Result, run

#: Seconds a dump or a restore of a hub database may take (hub databases are small).
TOOL_TIMEOUT = 1800


def find_tool(names: Sequence[str]) -> Path | None:
    """The first of `names` on PATH (e.g. `mariadb-dump`, then `mysqldump`), or None."""
    for name in names:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def require_tool(names: Sequence[str], package: str) -> Path:
    """Like `find_tool`, but DatabaseError naming the package to install when none is there."""
    tool = find_tool(names)
    if tool is None:
        raise DatabaseError(f"{' or '.join(names)} not found on PATH",
                            hint=f"install {package} on the host that runs hubshift")
    return tool


def tool_major(tool: Path) -> int | None:
    """The major version `tool --version` reports (`pg_dump (PostgreSQL) 15.20` -> 15)."""
    result = run([tool, "--version"], timeout=30)
    found = re.search(r"(\d+)\.\d+", result.output)
    return int(found.group(1)) if result.returncode == 0 and found else None


@contextlib.contextmanager
def private_dir() -> Iterator[Path]:
    """A fresh directory only we can read, removed with everything in it afterwards."""
    path = Path(tempfile.mkdtemp(prefix="hubshift-db-"))  # mkdtemp makes it mode 700
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_private(path: Path, text: str) -> Path:
    """Create `path` with mode 600 before any byte is written (no window where it is 644)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)
    return path


def run_tool(argv: Sequence[str | os.PathLike[str]], *, env: dict[str, str],
             secrets: Sequence[str], what: str) -> Result:
    """Run a client tool; DatabaseError with its redacted output when it fails or hangs."""
    try:
        result = run(argv, env=env, timeout=TOOL_TIMEOUT, secrets=secrets)
    except CommandTimeout as err:
        raise DatabaseError(f"{err.program} did not {what} within {TOOL_TIMEOUT} s") from err
    except CommandError as err:
        raise DatabaseError(f"cannot run {err.program} to {what}: {err.reason}") from err
    if result.returncode != 0:
        raise DatabaseError(f"{Path(str(argv[0])).name} could not {what} "
                            f"(exit {result.returncode}): {result.tail.strip()}")
    return result
