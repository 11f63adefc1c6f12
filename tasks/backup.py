"""Backup: the snapshot of the running hub before the stop, then the window's backup (the
snapshot itself when nothing changed since). Uploads overwrite with the same bytes, so both
steps may retry; the window's must finish before anything else changes."""

from __future__ import annotations

from hubshift.backends.installers import Install
from hubshift.backup.manifest import Manifest
from hubshift.backup.snapshot import Snapshot, take_snapshot, window_backup
from hubshift.integrity.digest import counts
from hubshift.plan.preflight import Preflight
from tasks import note, step

#: Tables named in the one-line summary; the rest is counted.
KEY_TABLES = ("users", "groups", "api_tokens")


@step("snapshot", retries=1, retry_delay_seconds=5, timeout_seconds=1800)
def snapshot(checked: Preflight, backup_id: str, current: Install) -> Snapshot:
    taken = take_snapshot(checked.fleet, checked.hub, backup_id=backup_id, current=current,
                          package_list=checked.package_list,
                          to_version=checked.plan.target_version)
    held = "" if taken.marker else "; the hub wrote meanwhile, so the window copies again"
    note("snapshot %s of the running hub verified in the store: %s%s", backup_id,
         _rows(taken.manifest), held)
    return taken


@step("backup", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def backup(checked: Preflight, taken: Snapshot, current: Install) -> Manifest:
    done = window_backup(checked.fleet, checked.hub, taken, current=current,
                         package_list=checked.package_list,
                         to_version=checked.plan.target_version)
    note("backup %s verified in the store: %s; %s", done.manifest.backup_id,
         _rows(done.manifest), done.why)
    return done.manifest


def _rows(manifest: Manifest) -> str:
    rows = counts(manifest.digest)
    named = ", ".join(f"{t} {rows[t]}" for t in KEY_TABLES if t in rows)
    return f"{named} ({sum(rows.values())} rows in {len(rows)} tables)"
