"""Where hubshift keeps its own files on the orchestrating machine.

`HUBSHIFT_HOME` (default `~/.cache/hubshift`) holds the wheelhouse and each run's staging
folder (the local copy of a backup); nothing in it is needed once a backup is uploaded.
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
