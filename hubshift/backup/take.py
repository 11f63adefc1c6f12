"""A backup: database, config files and package list of a hub, to the store, read back.

The files go up and are read back first; the manifest, which makes them a backup, last. So a
manifest never names a copy that was not verified. Taken with the hub stopped, it holds
everything written before the stop; taken with it running (`backup.snapshot`), it holds the
database as of one consistent moment, which the window then checks is still the database.
"""

from __future__ import annotations

import contextlib
import shutil
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hubshift import events, faults
from hubshift.backends.databases import Database, database_for
from hubshift.backends.installers import Install
from hubshift.backends.storage import store_for
from hubshift.backup.manifest import Manifest, SavedConfig
from hubshift.backup.store import (
    FREEZE_NAME,
    check_manifest,
    upload_files,
    verify_files,
    withdraw,
    write_manifest,
)
from hubshift.config import FleetConfig, HubConfig
from hubshift.errors import BackupError, HubshiftError, StorageError
from hubshift.integrity.digest import Digest
from hubshift.system import paths


def take_backup(fleet: FleetConfig, hub: HubConfig, *, backup_id: str, current: Install,
                package_list: str, to_version: str | None,
                label: str | None = None, step: str = "backup") -> Manifest:
    """Back up `hub` under `backup_id`; return the verified manifest.

    `package_list` is the running install's `pip freeze`, taken before the stop (the install
    cannot change while the hub is down, so reading it then would only add downtime).
    The row digest is computed in a thread while the files go up: it is CPU work and the
    uploads mostly wait on the store, and the hub stays down until both are done. The
    database cannot change meanwhile (the hub is stopped), so the digest is the one of the
    moment the hub stopped, as the dump is.
    `label` says what the backup is for when it is not an upgrade's (see `backup.safety`).
    `step` names the fault seams of its upload and read-back (`<step>-upload`,
    `<step>-read-back`). Safe to call twice with the same id. Raises BackupError or
    StorageError; the hub is untouched.
    """
    stage = paths.staging(hub.name, backup_id)
    db = database_for(hub.db_url.get_secret_value(), hub=hub.name)
    try:
        dump = db.dump(stage / db.dump_name)
        config_copy = stage / hub.config_file.name
        shutil.copy2(hub.config_file, config_copy)
        freeze = stage / FREEZE_NAME
        freeze.write_text(package_list)
        saved = save_config_files(hub.config_files, stage)
    except (HubshiftError, OSError, tarfile.TarError) as err:
        raise BackupError(f"cannot take the backup: {err}", hub=hub.name, step="backup") from err
    store = store_for(fleet.storage)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest") as pool:
        reading = pool.submit(_read_database, db, hub.name)
        files = {dump.name: dump, config_copy.name: config_copy, FREEZE_NAME: freeze,
                 **{entry.name: stage / entry.name for entry in saved}}
        paths.make_private(list(files.values()))
        sent = events.meter("bytes", sum(path.stat().st_size for path in files.values()))
        entries = faults.inject(f"{step}-upload", upload_files)(
            store, hub.name, backup_id, files, sent)
        revision, digest = reading.result()
    faults.inject(f"{step}-read-back", verify_files)(store, hub.name, backup_id, entries)
    manifest = write_manifest(
        store,
        hub=hub.name,
        backup_id=backup_id,
        entries=entries,
        database_file=dump.name,
        engine=db.engine,
        from_version=current.version,
        from_install=current.location,
        to_version=to_version,
        alembic_revision=revision,
        digest=digest,
        config_files=saved,
        label=label,
    )
    try:
        check_manifest(store, manifest)
    except BackupError:
        # A manifest that does not read back as written must not name the copy; if even
        # that fails, what the store holds differs from it and a restore's checksums refuse.
        with contextlib.suppress(StorageError):
            withdraw(store, hub.name, backup_id)
        raise
    return manifest


def save_config_files(config_files: list[Path], stage: Path) -> list[SavedConfig]:
    """Copy each of `config_files` into `stage` (a folder as one tar, its names relative
    to it, so that it restores anywhere); return where each went. Names carry their place in
    the list, so two files of the same name stay apart. Raises OSError for a missing one."""
    saved = []
    for index, path in enumerate(config_files):
        if path.is_dir():
            name = f"config-{index}-{path.name}.tar"
            with tarfile.open(stage / name, "w") as archive:
                # Symlinks inside stay symlinks; modes, owners and mtimes are kept. A
                # folder that is itself a link is archived as the folder it names.
                archive.add(path.resolve(), arcname=".")
            saved.append(SavedConfig(path=str(path), name=name, kind="folder"))
        else:
            name = f"config-{index}-{path.name}"
            shutil.copy2(path, stage / name)
            saved.append(SavedConfig(path=str(path), name=name, kind="file"))
    return saved


def _read_database(db: Database, hub: str) -> tuple[str | None, Digest]:
    """The alembic revision and the row digest of the stopped hub's database."""
    try:
        return db.revision(), db.digest()
    except HubshiftError as err:
        raise BackupError(f"cannot take the backup: {err}", hub=hub, step="backup") from err
