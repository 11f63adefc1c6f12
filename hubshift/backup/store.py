"""Backups of a hub on the backup store: upload, read back and check, list, fetch.

Layout: `<prefix>/<hub>/<backup_id>/{<db dump>, <config file>, config-<n>-<name>[.tar],
pip-freeze.txt, manifest.json}`.
Files go up first and the manifest last; then everything is downloaded again and checked
against the manifest, because a backup that was never read back is only a hope.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pydantic import ValidationError

from hubshift import __version__
from hubshift.backends.store_base import Store
from hubshift.backup.manifest import MANIFEST_NAME, FileEntry, Manifest, SavedConfig
from hubshift.errors import BackupError, StorageError
from hubshift.integrity.checksum import sha256_file
from hubshift.integrity.digest import TableDigest

FREEZE_NAME = "pip-freeze.txt"


def folder(hub: str, backup_id: str) -> str:
    return f"{hub}/{backup_id}"


def upload_files(store: Store, hub: str, backup_id: str, files: Mapping[str, Path],
                 progress: Callable[[int], None] | None = None) -> list[FileEntry]:
    """Upload `files` (name -> local path) into the backup's folder, all at once; return
    their manifest entries (size and sha256 of the local file), in the order of `files`.
    `progress` is called with each count of bytes sent, from the upload threads.

    The uploads run concurrently because each is mostly a wait on the store, and they
    happen while the hub is down. Safe to call twice: objects are overwritten with the same
    bytes. Raises StorageError when the store refuses a write (the first failure, once every
    upload has ended).
    """
    def put(name: str, path: Path) -> FileEntry:
        entry = FileEntry(name=name, size=path.stat().st_size, sha256=sha256_file(path))
        store.put_file(f"{folder(hub, backup_id)}/{name}", path, progress)
        return entry

    with ThreadPoolExecutor(max_workers=max(1, len(files)), thread_name_prefix="upload") as pool:
        jobs = [pool.submit(put, name, path) for name, path in files.items()]
        return [job.result() for job in jobs]


def write_manifest(
    store: Store,
    *,
    hub: str,
    backup_id: str,
    entries: list[FileEntry],
    database_file: str,
    engine: str,
    from_version: str,
    from_install: str,
    to_version: str | None,
    alembic_revision: str | None,
    digest: Mapping[str, TableDigest],
    config_files: list[SavedConfig] | None = None,
    label: str | None = None,
) -> Manifest:
    """Write the manifest of files already uploaded (`entries`), last; return it.

    A backup is complete from this write on. Safe to call twice. Raises StorageError.
    """
    manifest = Manifest(
        hub=hub,
        backup_id=backup_id,
        created_at=dt.datetime.now(dt.timezone.utc),
        hubshift_version=__version__,
        engine=engine,
        from_version=from_version,
        from_install=from_install,
        to_version=to_version,
        alembic_revision=alembic_revision,
        database_file=database_file,
        files=entries,
        config_files=config_files or [],
        digest=dict(digest),
        label=label,
    )
    store.put_bytes(f"{folder(hub, backup_id)}/{MANIFEST_NAME}",
                    manifest.model_dump_json(indent=2).encode())
    return manifest


def read_manifest(store: Store, hub: str, backup_id: str) -> Manifest:
    """The manifest of one backup; BackupError if it is missing or unreadable."""
    key = f"{folder(hub, backup_id)}/{MANIFEST_NAME}"
    try:
        data = store.get_bytes(key)
    except StorageError as err:
        raise BackupError(f"backup {backup_id} has no readable manifest ({key}): {err.message}",
                          hub=hub) from err
    try:
        return Manifest.model_validate_json(data)
    except ValidationError as err:
        raise BackupError(f"manifest {key} is not a hubshift manifest: {err}", hub=hub) from err


def fetch_backup(store: Store, hub: str, backup_id: str, dest: Path,
                 manifest: Manifest | None = None) -> Manifest:
    """Download every file of a backup into `dest` and check each sha256 against the manifest.

    Raises BackupError naming the first object whose size or checksum differs, after
    removing what was downloaded: a caller never sees half a backup. A caller that has just
    read the manifest passes it, so it is not read again.
    """
    manifest = manifest or read_manifest(store, hub, backup_id)
    dest.mkdir(parents=True, exist_ok=True)
    done: list[Path] = []
    try:
        for entry in manifest.files:
            key = f"{folder(hub, backup_id)}/{entry.name}"
            path = store.get_file(key, dest / entry.name)
            done.append(path)
            actual = sha256_file(path)
            if actual != entry.sha256:
                raise BackupError(
                    f"object {key} in {store.describe()} fails its checksum: manifest says "
                    f"sha256 {entry.sha256[:12]}..., the store holds {actual[:12]}...",
                    hub=hub,
                    hint="this backup is damaged; pick another with `hubshift backups`",
                )
    except (BackupError, StorageError):
        for path in done:
            path.unlink(missing_ok=True)
        raise
    return manifest


def verify_uploaded(store: Store, manifest: Manifest) -> None:
    """Read a backup back from the store and check it against its own manifest: the
    manifest must read back equal (`check_manifest`), every file as `verify_files` says.
    Raises BackupError naming the first object that differs or is missing."""
    check_manifest(store, manifest)
    verify_files(store, manifest.hub, manifest.backup_id, manifest.files)


def verify_files(store: Store, hub: str, backup_id: str, entries: list[FileEntry]) -> None:
    """Stream every file of a fresh backup back from the store and hash it: each must have
    its entry's size and sha256. All at once, nothing written to disk: the hub may be down
    while this runs. Called before the manifest is written, so a manifest only ever names
    files that were read back. Raises BackupError naming the first object that differs or
    is missing."""

    def read_back(entry: FileEntry) -> tuple[FileEntry, str, int, str]:
        key = f"{folder(hub, backup_id)}/{entry.name}"
        try:
            size, sha256 = store.checksum(key)
        except StorageError as err:
            raise BackupError(f"object {key} cannot be read back: {err.message}", hub=hub,
                              hint=err.hint) from err
        return entry, key, size, sha256

    workers = max(1, len(entries))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="read-back") as pool:
        checked = list(pool.map(read_back, entries))
    for entry, key, size, sha256 in checked:
        if (size, sha256) != (entry.size, entry.sha256):
            raise BackupError(
                f"object {key} in {store.describe()} fails its checksum: manifest says "
                f"{entry.size} bytes, sha256 {entry.sha256[:12]}..., the store holds {size} "
                f"bytes, sha256 {sha256[:12]}...",
                hub=hub,
                hint="the store altered the backup; the upgrade stops before any change",
            )


def check_manifest(store: Store, manifest: Manifest) -> None:
    """The manifest as the store holds it must equal `manifest`; BackupError if not."""
    stored = read_manifest(store, manifest.hub, manifest.backup_id)
    if stored != manifest:
        raise BackupError("the manifest read back differs from the one written",
                          hub=manifest.hub)


def withdraw(store: Store, hub: str, backup_id: str) -> None:
    """Remove a backup's manifest: from then on the folder is not a backup (its files may
    be rewritten). Safe to call twice. Raises StorageError."""
    key = f"{folder(hub, backup_id)}/{MANIFEST_NAME}"
    if store.exists(key):
        store.delete(key)


def list_backups(store: Store, hub: str) -> list[Manifest]:
    """Complete backups of `hub` (those with a manifest), oldest first."""
    manifests = []
    for backup_id in sorted(store.list_folders(f"{hub}/")):
        try:
            manifests.append(read_manifest(store, hub, backup_id))
        except BackupError:
            continue  # an upload cut short: files without a manifest are not a backup
    return manifests


def latest_backup(store: Store, hub: str) -> Manifest:
    backups = list_backups(store, hub)
    if not backups:
        raise BackupError(f"no backup found for hub {hub!r} in {store.describe()}", hub=hub)
    return backups[-1]
