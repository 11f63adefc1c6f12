"""Where hubshift keeps its own files on the orchestrating machine.

`HUBSHIFT_HOME` (default `~/.cache/hubshift`) holds the wheelhouse, each run's staging
folder (the local copy of a backup; not needed once the backup is uploaded) and what an
installer keeps between the steps of an upgrade (`installs/`; a rollback rebuilds it from the
backup when it is gone).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Set (to anything) to keep each backup's local copy after its run, for inspection.
KEEP_STAGING_ENV = "HUBSHIFT_KEEP_STAGING"


def home() -> Path:
    path = Path(os.environ.get("HUBSHIFT_HOME") or Path.home() / ".cache" / "hubshift")
    path.mkdir(parents=True, exist_ok=True)
    return path


def wheelhouse() -> Path:
    path = home() / "wheelhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


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
