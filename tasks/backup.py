"""Backup: dump, upload, read back, check. Uploads overwrite with the same bytes, so the
whole step may retry; it must finish before anything else changes."""

from __future__ import annotations

from hubshift.backends.installers import Install
from hubshift.backup.manifest import Manifest
from hubshift.backup.take import take_backup
from hubshift.integrity.digest import counts
from hubshift.plan.preflight import Preflight
from tasks import note, step

#: Tables named in the one-line summary; the rest is counted.
KEY_TABLES = ("users", "groups", "api_tokens")


@step("backup", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def backup(checked: Preflight, backup_id: str, current: Install) -> Manifest:
    manifest = take_backup(checked.fleet, checked.hub, backup_id=backup_id, current=current,
                           package_list=checked.package_list,
                           to_version=checked.plan.target_version)
    rows = counts(manifest.digest)
    named = ", ".join(f"{t} {rows[t]}" for t in KEY_TABLES if t in rows)
    note("backup %s verified in the store: %s (%d rows in %d tables)", backup_id, named,
         sum(rows.values()), len(rows))
    return manifest
