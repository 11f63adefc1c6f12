"""Put a hub's database and config file back as a backup holds them: the undo of an upgrade.

Every object's checksum is verified before anything on the hub is touched; a damaged backup
stops the restore with the hub's files exactly as they were.
"""

from __future__ import annotations

import os
import shutil

from hubshift import paths
from hubshift.backup import fetch_backup, latest_backup
from hubshift.checksum import sha256_file
from hubshift.config import FleetConfig, HubConfig
from hubshift.databases import database_for
from hubshift.manifest import Manifest
from hubshift.storage import BackupStore


def resolve_backup(fleet: FleetConfig, hub: HubConfig, backup_id: str) -> str:
    """`latest` -> the newest complete backup's id; any other id is returned as is."""
    if backup_id != "latest":
        return backup_id
    return latest_backup(BackupStore(fleet.storage), hub.name).backup_id


def restore_backup(fleet: FleetConfig, hub: HubConfig, backup_id: str) -> Manifest:
    """Restore `hub`'s database and config file from `backup_id`; return its manifest.

    Raises BackupError (checksum, missing object) before touching anything, DatabaseError if
    the restore itself fails. Safe to call twice.
    """
    store = BackupStore(fleet.storage)
    stage = paths.staging(hub.name, backup_id) / "restore"
    manifest = fetch_backup(store, hub.name, backup_id, stage)
    database_for(hub.db_url.get_secret_value(), hub=hub.name).restore(
        stage / manifest.database_file
    )
    saved_config = stage / hub.config_file.name
    if saved_config.exists() and (
        not hub.config_file.exists() or sha256_file(saved_config) != sha256_file(hub.config_file)
    ):
        tmp = hub.config_file.with_name(hub.config_file.name + ".hubshift-restore")
        shutil.copy2(saved_config, tmp)
        os.replace(tmp, hub.config_file)
    return manifest
