"""Is there room for what an upgrade writes? Checked in preflight, because a disk that fills
up during the window fails the backup or the install at the worst moment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Headroom over the estimate: pip caches, temporary files, a database that grew.
MARGIN = 1.5
MIB = 1024 * 1024


def tree_size(path: Path) -> int:
    """Bytes under `path` (symlinks not followed); 0 when it does not exist."""
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def shortfalls(needs: dict[Path, int], *, reserve_mib: int = 0) -> list[str]:
    """One line per folder whose file system has less free space than it needs (x MARGIN),
    plus `reserve_mib` that must stay free afterwards."""
    problems = []
    for folder, need in needs.items():
        probe = folder
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        wanted = need * MARGIN + reserve_mib * MIB
        if free < wanted:
            kept = f", {reserve_mib} MiB of them the fleet's disk_reserve_mb" if reserve_mib else ""
            problems.append(f"{folder} needs about {wanted / MIB:.0f} MiB free{kept}; "
                            f"{free / MIB:.0f} MiB are")
    return problems
