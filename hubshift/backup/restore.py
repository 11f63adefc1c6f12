"""Put a hub back as a backup holds it: the undo of an upgrade.

The backup is downloaded and every object's checksum verified before the hub is touched; a
damaged backup stops the rollback with the hub, its database and its installs as they were.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from hubshift.backends.databases import database_for
from hubshift.backends.installers import Install, installer_for
from hubshift.backends.runtimes import runtime_for
from hubshift.backends.storage import store_for
from hubshift.backup.manifest import Manifest, SavedConfig, check_backup_id
from hubshift.backup.store import FREEZE_NAME, fetch_backup, latest_backup
from hubshift.config import FleetConfig, HubConfig
from hubshift.errors import BackupError
from hubshift.integrity.checksum import sha256_file
from hubshift.system import paths


def resolve_backup(fleet: FleetConfig, hub: HubConfig, backup_id: str) -> str:
    """`latest` -> the newest complete backup's id; any other id is returned as is, once it
    reads as one (ConfigError: it becomes a folder name)."""
    check_backup_id(backup_id, where="backup_id")
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
    """Put the database and the config files of a fetched backup in place (hub stopped).

    The config files' checksums are checked again first: nothing is written from a copy
    that differs from its manifest. Each file is written beside its place, then renamed
    over it; a folder is rebuilt beside, then swapped in whole, so files added since the
    backup go and changed ones come back. Safe to call twice. Raises BackupError for a
    damaged copy, DatabaseError when the database cannot be restored.
    """
    for saved in manifest.config_files:
        copy = folder / saved.name
        if not copy.exists() or sha256_file(copy) != manifest.file(saved.name).sha256:
            raise BackupError(f"{copy} does not match the manifest of backup "
                              f"{manifest.backup_id}; nothing was restored", hub=hub.name)
    database_for(hub.db_url.get_secret_value(), hub=hub.name).restore(
        folder / manifest.database_file
    )
    _restore_file(folder / hub.config_file.name, hub.config_file)
    for saved in manifest.config_files:
        restore_config(saved, folder / saved.name)


def restore_config(saved: SavedConfig, copy: Path) -> None:
    """Put one of the hub's config_files back from its `copy` in a fetched backup."""
    target = Path(saved.path)
    if saved.kind == "file":
        _restore_file(copy, target)
    else:
        # A folder that is a link: the folder it names is the one backed up.
        _restore_folder(copy, target.resolve() if target.is_symlink() else target)


def _restore_file(saved: Path, target: Path) -> None:
    if saved.exists() and (not target.exists() or sha256_file(saved) != sha256_file(target)):
        tmp = target.with_name(target.name + ".hubshift-restore")
        shutil.copy2(saved, tmp)
        os.replace(tmp, target)


def _restore_folder(archive: Path, target: Path) -> None:
    """Rebuild `target` from `archive` beside it, then swap the two.

    Interrupted, it leaves either the old folder or the restored one in place (and a
    leftover beside it that the next call removes): never a mix of both.
    """
    rebuilt = target.with_name(f".{target.name}.hubshift-restore")
    replaced = target.with_name(f".{target.name}.hubshift-replaced")
    for leftover in (rebuilt, replaced):
        shutil.rmtree(leftover, ignore_errors=True)
    rebuilt.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:
            parts = PurePosixPath(member.name).parts
            if PurePosixPath(member.name).is_absolute() or ".." in parts:
                raise BackupError(f"{archive} names {member.name!r}, outside its folder")
        # Our own archive, its checksum verified: links and owners come back as they were.
        if hasattr(tarfile, "fully_trusted_filter"):
            tar.extractall(rebuilt, members, filter="fully_trusted")
        else:  # Python < 3.10.12 has no extraction filters, and trusts by default
            tar.extractall(rebuilt, members)
    if os.path.ismount(target):
        # A mount point cannot be renamed: empty it and copy the rebuilt tree into it.
        for entry in target.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        shutil.copytree(rebuilt, target, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(rebuilt)
        return
    if target.exists() or target.is_symlink():
        os.rename(target, replaced)
    os.rename(rebuilt, target)
    shutil.rmtree(replaced, ignore_errors=True)


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
