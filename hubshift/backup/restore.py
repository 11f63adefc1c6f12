"""Put a hub back as a backup holds it: the undo of an upgrade.

The backup is downloaded and every object's checksum verified before the hub is touched; a
damaged backup stops the rollback with the hub, its database and its installs as they were.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hubshift.backends.databases import database_for
from hubshift.backends.installers import Install, installer_for
from hubshift.backends.runtimes import runtime_for
from hubshift.backends.storage import store_for
from hubshift.backup.manifest import Manifest
from hubshift.backup.store import FREEZE_NAME, fetch_backup, latest_backup
from hubshift.config import FleetConfig, HubConfig
from hubshift.integrity.checksum import sha256_file
from hubshift.system import paths


def resolve_backup(fleet: FleetConfig, hub: HubConfig, backup_id: str) -> str:
    """`latest` -> the newest complete backup's id; any other id is returned as is."""
    if backup_id != "latest":
        return backup_id
    return latest_backup(store_for(fleet.storage), hub.name).backup_id


def fetch_verified(fleet: FleetConfig, hub: HubConfig, backup_id: str) -> tuple[Manifest, Path]:
    """Download backup `backup_id` and check every sha256; return its manifest and folder.

    Raises BackupError naming the object that fails. Touches nothing of the hub.
    """
    folder = paths.staging(hub.name, backup_id) / "restore"
    return fetch_backup(store_for(fleet.storage), hub.name, backup_id, folder), folder


def restore_files(hub: HubConfig, manifest: Manifest, folder: Path) -> None:
    """Put the database and the config file of a fetched backup in place (hub stopped).

    Safe to call twice. Raises DatabaseError when the database cannot be restored.
    """
    database_for(hub.db_url.get_secret_value(), hub=hub.name).restore(
        folder / manifest.database_file
    )
    saved = folder / hub.config_file.name
    if saved.exists() and (
        not hub.config_file.exists() or sha256_file(saved) != sha256_file(hub.config_file)
    ):
        tmp = hub.config_file.with_name(hub.config_file.name + ".hubshift-restore")
        shutil.copy2(saved, tmp)
        os.replace(tmp, hub.config_file)


def previous_install(hub: HubConfig, version: str, location: str,
                     folder: Path | None) -> Install:
    """The install a backup was taken from; rebuilt from its package list if it is gone."""
    saved = folder / FREEZE_NAME if folder else None
    package_list = saved.read_text() if saved is not None and saved.exists() else None
    return installer_for(hub).recover(version, location, package_list)


def describe(hub: HubConfig, done: list[str]) -> str:
    """Where a hub stands after a rollback stopped half-way, for the operator's message."""
    runtime = runtime_for(hub)
    running = runtime.status().running
    database = ("restored from the backup" if "restore" in done
                else "NOT restored: as the failed upgrade left it")
    return (f"The hub is {'running' if running else 'stopped'}; its database is {database}; "
            f"it runs from {runtime.installer.describe()}.")
