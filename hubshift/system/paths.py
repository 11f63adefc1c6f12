"""Where hubshift keeps its own files on the orchestrating machine.

`HUBSHIFT_HOME` (default `~/.cache/hubshift`) holds the wheelhouse, each run's staging
folder (the local copy of a backup; not needed once the backup is uploaded) and what an
installer keeps between the steps of an upgrade (`installs/`; a rollback rebuilds it from the
backup when it is gone).
"""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    path = Path(os.environ.get("HUBSHIFT_HOME") or Path.home() / ".cache" / "hubshift")
    path.mkdir(parents=True, exist_ok=True)
    return path


def wheelhouse() -> Path:
    path = home() / "wheelhouse"
    path.mkdir(parents=True, exist_ok=True)
    return path


def staging(hub: str, backup_id: str) -> Path:
    path = home() / "runs" / hub / backup_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def installs(name: str) -> Path:
    """What an installer builds and must remember of one hub's installs (staged envs,
    package lists an undo goes back to), under `installs/<name>`."""
    path = home() / "installs" / name
    path.mkdir(parents=True, exist_ok=True)
    return path
