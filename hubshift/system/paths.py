"""Where hubshift keeps its own files on the orchestrating machine.

`HUBSHIFT_HOME` (default `~/.cache/hubshift`) holds the wheelhouse (unless
`HUBSHIFT_WHEELHOUSE` puts it elsewhere), each run's staging folder (the local copy of a
backup; not needed once the backup is uploaded) and what an installer keeps between the
steps of an upgrade (`installs/`; a rollback rebuilds it from the backup when it is gone).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Set (to anything) to keep each backup's local copy after its run, for inspection.
KEEP_STAGING_ENV = "HUBSHIFT_KEEP_STAGING"
#: A wheelhouse of its own place: one that several orchestrators share (a folder on a
#: shared disk), or one on a bigger disk than the home.
WHEELHOUSE_ENV = "HUBSHIFT_WHEELHOUSE"


def home() -> Path:
    path = Path(os.environ.get("HUBSHIFT_HOME") or Path.home() / ".cache" / "hubshift")
    path.mkdir(parents=True, exist_ok=True)
    return path


def wheelhouse() -> Path:
    """Where the wheels of every release a run may install are kept, so that the window
    never needs the package index: $HUBSHIFT_WHEELHOUSE, else `<home>/wheelhouse`."""
    configured = os.environ.get(WHEELHOUSE_ENV)
    path = Path(configured) if configured else home() / "wheelhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def filling(wheelhouse: Path) -> Iterator[Path]:
    """A private folder to download into for `wheelhouse`, one filler at a time.

    Orchestrators share a wheelhouse (the hubs of a fleet's wave, hosts on a shared disk):
    the lock keeps them from downloading the same wheels at once, and the wheels are renamed
    in only when the download is over, so that an install reading the wheelhouse meanwhile
    never finds half a wheel. Folders left by a filler that was killed go first.
    """
    with open(wheelhouse / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for left in wheelhouse.glob(".filling-*"):
            shutil.rmtree(left, ignore_errors=True)
        into = Path(tempfile.mkdtemp(prefix=".filling-", dir=wheelhouse))
        try:
            yield into
            for wheel in into.iterdir():
                if wheel.is_file():
                    os.replace(wheel, wheelhouse / wheel.name)
        finally:
            shutil.rmtree(into, ignore_errors=True)


def staging(hub: str, backup_id: str) -> Path:
    """The folder of one backup's local copy: a database dump, config files, the package
    list. Private (mode 0700, each level from `runs/` down), whatever the umask: a dump holds
    every user's hashed password and token."""
    path = home()
    for part in ("runs", hub, backup_id):
        path = path / part
        path.mkdir(mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # mkdir's mode is masked by the umask; an older folder too
    return path


def discard_staging(hub: str, backup_id: str | None) -> None:
    """Remove a backup's local copy once its run is over: the store holds the backup, and a
    dump left on the orchestrator is one more copy of every token to guard. Kept when
    $HUBSHIFT_KEEP_STAGING is set. Never raises: what is left is only disk space."""
    if backup_id and not os.environ.get(KEEP_STAGING_ENV):
        shutil.rmtree(home() / "runs" / hub / backup_id, ignore_errors=True)


def make_private(files: list[Path]) -> None:
    """Mode 0600 for files of a backup's local copy (their folder is private already; a
    copy moved elsewhere stays private)."""
    for path in files:
        os.chmod(path, 0o600)


def installs(name: str) -> Path:
    """What an installer builds and must remember of one hub's installs (staged envs,
    package lists an undo goes back to), under `installs/<name>`."""
    path = home() / "installs" / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def fsync(path: Path) -> None:
    """Flush a file's data, or a folder's entries, to the disk: a rename, link or restore is
    only durable once both the file and its folder have been flushed."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
