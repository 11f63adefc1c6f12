"""The window's backup, taken before the window: the hub is down only for what changed.

A backup taken with the hub stopped makes the downtime pay its dump, digest, upload and
read-back, all growing with the database. So the whole backup is taken before the stop,
with the hub running (`take_snapshot`): each engine's dump is an online, consistent copy
(SQLite's backup API, pg_dump's snapshot, mariadb-dump --single-transaction). In the window
(`window_backup`), the database's change marker, read before that copy and again after the
stop, says whether the hub wrote anything in between (`Database.change_marker`), and a
fingerprint of the config files whether they changed. Nothing changed: the snapshot is
exactly the database as it stopped, already read back from the store, and is the backup.
Anything changed, or no way to tell: the snapshot's manifest is withdrawn and a fresh
backup of the stopped hub is taken under the same id, as before snapshots existed.

Either way the manifest the window returns names only files read back from the store, and
the upgrade changes nothing before it has one: the rule "nothing irreversible before a
verified copy" holds without any part of the backup overlapping the migration.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from hubshift.backends.databases import database_for
from hubshift.backends.installers import Install
from hubshift.backends.storage import store_for
from hubshift.backup.manifest import Manifest
from hubshift.backup.store import check_manifest, withdraw
from hubshift.backup.take import take_backup
from hubshift.config import FleetConfig, HubConfig
from hubshift.errors import BackupError, StorageError


@dataclass(frozen=True)
class Snapshot:
    """A complete, verified backup of the running hub, and what the window compares."""

    manifest: Manifest
    #: The database's change marker, read before the copy began; None when the engine
    #: cannot tell, or when it moved while the copy was taken (the dump and the digest may
    #: then be of two moments): the window takes a fresh copy.
    marker: str | None
    #: The config files' fingerprint, read before they were copied.
    config: str


@dataclass(frozen=True)
class WindowBackup:
    """The backup a rollback restores, and how the window came by it."""

    manifest: Manifest
    #: Whether the snapshot taken before the stop is that backup.
    reused: bool
    #: Why the snapshot was, or was not, enough (said in the step's summary).
    why: str


def take_snapshot(fleet: FleetConfig, hub: HubConfig, *, backup_id: str, current: Install,
                  package_list: str, to_version: str | None) -> Snapshot:
    """Back up the running `hub` under `backup_id` (see `take_backup`, whose errors it
    raises); the hub is not touched."""
    db = database_for(hub.db_url.get_secret_value(), hub=hub.name)
    marker = db.change_marker()
    config = config_fingerprint(hub)
    manifest = take_backup(fleet, hub, backup_id=backup_id, current=current,
                           package_list=package_list, to_version=to_version, step="snapshot")
    if marker is not None and db.change_marker() != marker:
        marker = None
    return Snapshot(manifest, marker, config)


def window_backup(fleet: FleetConfig, hub: HubConfig, snapshot: Snapshot, *, current: Install,
                  package_list: str, to_version: str | None) -> WindowBackup:
    """The backup of the stopped `hub`: `snapshot` when nothing changed since it was taken,
    else a fresh one under its id. Safe to call twice. Raises BackupError or StorageError;
    the hub is untouched (its database only read)."""
    store = store_for(fleet.storage)
    backup_id = snapshot.manifest.backup_id
    changed = _what_changed(hub, snapshot)
    if changed is None:
        check_manifest(store, snapshot.manifest)  # the store still holds it, as written
        return WindowBackup(snapshot.manifest, True, "nothing written since the snapshot")
    try:
        withdraw(store, hub.name, backup_id)
    except StorageError as err:
        raise BackupError(f"cannot replace the snapshot {backup_id}: {err.message}",
                          hub=hub.name, step="backup") from err
    manifest = take_backup(fleet, hub, backup_id=backup_id, current=current,
                           package_list=package_list, to_version=to_version)
    return WindowBackup(manifest, False, f"{changed}: a fresh copy")


def _what_changed(hub: HubConfig, snapshot: Snapshot) -> str | None:
    """Why the snapshot may differ from the stopped hub; None when it cannot."""
    if snapshot.marker is None:
        return "no change marker held through the snapshot"
    db = database_for(hub.db_url.get_secret_value(), hub=hub.name)
    if db.change_marker() != snapshot.marker:
        return "the database was written after the snapshot"
    if config_fingerprint(hub) != snapshot.config:
        return "a config file changed after the snapshot"
    return None


def config_fingerprint(hub: HubConfig) -> str:
    """A hash of what identifies each config file and everything in each config folder:
    path, type, size, mtime, inode, link target. Any edit moves it; reading costs stats."""
    digest = hashlib.sha256()
    for root in [hub.config_file, *hub.config_files]:
        for path in _walk(root):
            digest.update(_identity(path).encode())
    return digest.hexdigest()


def _walk(root: Path) -> list[Path]:
    """`root`, and when it is a folder everything under it (as its tar holds it)."""
    if not root.is_dir():
        return [root]
    found = [root]
    for folder, dirs, files in os.walk(root.resolve()):
        dirs.sort()
        found += [Path(folder, name) for name in sorted(dirs + files)]
    return found


def _identity(path: Path) -> str:
    """One line per path: a link's own mode and target, then what it points to (the backup
    copies a config file through its links; a dangling one has only its own)."""
    try:
        own = path.lstat()
        target = os.readlink(path) if path.is_symlink() else ""
        stat = path.stat() if path.exists() else own
    except OSError as err:
        return f"{path}\0unreadable {err.errno}\n"
    return f"{path}\0{own.st_mode}:{target}:{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}\n"
