"""Backup: dump, upload, read back, check. Uploads overwrite with the same bytes, so the
whole step may retry; it must finish before anything else changes."""

from __future__ import annotations

from prefect import get_run_logger

from hubshift.backends.installers import Install
from hubshift.backup.manifest import Manifest
from hubshift.backup.take import take_backup
from hubshift.integrity.digest import counts
from hubshift.plan.preflight import Preflight
from tasks import step


@step("backup", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def backup(checked: Preflight, backup_id: str, current: Install) -> Manifest:
    manifest = take_backup(checked.fleet, checked.hub, backup_id=backup_id, current=current,
                           package_list=checked.package_list,
                           to_version=checked.plan.target_version)
    get_run_logger().info("backup %s verified in the store: %s", backup_id,
                          ", ".join(f"{t} {n}" for t, n in counts(manifest.digest).items()))
    return manifest
