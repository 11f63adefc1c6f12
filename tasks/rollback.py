"""Restore: verify the backup's checksums, then put the database and config back.
Safe to repeat, so it retries (a flaky store); bounded by a timeout."""

from __future__ import annotations

from prefect import get_run_logger, task

from hubshift.config import FleetConfig, HubConfig
from hubshift.manifest import Manifest
from hubshift.restore import resolve_backup, restore_backup
from tasks import TASK_DEFAULTS


@task(name="restore", retries=2, retry_delay_seconds=5, timeout_seconds=1800, **TASK_DEFAULTS)
def restore(fleet: FleetConfig, hub: HubConfig, backup_id: str) -> Manifest:
    backup_id = resolve_backup(fleet, hub, backup_id)
    manifest = restore_backup(fleet, hub, backup_id)
    get_run_logger().info("hub %s: database and config restored from backup %s (alembic %s)",
                          hub.name, backup_id, manifest.alembic_revision)
    return manifest
