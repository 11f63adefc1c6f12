"""The steps only a rollback takes: fetch and verify the backup, restore it, find the old install.

Fetching retries (a flaky store, nothing touched yet); restoring is safe to repeat, so it
retries too; both are bounded by timeouts.
"""

from __future__ import annotations

from pathlib import Path

from hubshift.backends.installers import Install, installer_for
from hubshift.backup.manifest import Manifest
from hubshift.backup.restore import fetch_verified, previous_install, resolve_backup, restore_files
from hubshift.config import FleetConfig, HubConfig
from tasks import note, step


@step("fetch", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def fetch(fleet: FleetConfig, hub: HubConfig, backup_id: str) -> tuple[Manifest, Path]:
    backup_id = resolve_backup(fleet, hub, backup_id)
    manifest, folder = fetch_verified(fleet, hub, backup_id)
    note("backup %s of %s downloaded, every checksum verified", backup_id, hub.name)
    return manifest, folder


@step("restore", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def restore(hub: HubConfig, manifest: Manifest, folder: Path) -> None:
    restore_files(hub, manifest, folder)
    note("hub %s: database and config restored from backup %s (alembic %s)", hub.name,
         manifest.backup_id, manifest.alembic_revision)


@step("old-install", timeout_seconds=1800)
def old_install(hub: HubConfig, version: str, path: str, folder: Path | None) -> Install:
    install = previous_install(hub, version, path, folder)
    note("JupyterHub %s ready in %s", version, installer_for(hub).describe(install))
    return install
