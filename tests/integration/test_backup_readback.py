"""A fresh backup is read back from a real S3 server and checked before the upgrade goes on:
a store that lost or altered an object stops it, naming the object."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubshift.backends.storage import BackupStore
from hubshift.backup.manifest import Manifest
from hubshift.backup.store import read_manifest, upload_files, verify_uploaded, write_manifest
from hubshift.config import StorageConfig
from hubshift.errors import BackupError
from hubshift.integrity.digest import table_digest

pytest_plugins = ["tests.support.s3"]
pytestmark = pytest.mark.integration


@pytest.fixture
def store(storage_config: StorageConfig) -> BackupStore:
    return BackupStore(storage_config)


@pytest.fixture
def manifest(store: BackupStore, tmp_path: Path) -> Manifest:
    files = {"jupyterhub.sqlite": tmp_path / "jupyterhub.sqlite",
             "jupyterhub_config.py": tmp_path / "jupyterhub_config.py",
             "pip-freeze.txt": tmp_path / "pip-freeze.txt"}
    files["jupyterhub.sqlite"].write_bytes(b"SQLite format 3\0" + bytes(range(256)) * 400)
    files["jupyterhub_config.py"].write_text("c = get_config()\n")
    files["pip-freeze.txt"].write_text("jupyterhub==4.1.6\n")
    entries = upload_files(store, "physics", "20260101T000000Z", files)
    return write_manifest(
        store, hub="physics", backup_id="20260101T000000Z", entries=entries,
        database_file="jupyterhub.sqlite", engine="sqlite", from_version="4.1.6",
        from_install="/srv/physics/venv-4.1.6", to_version="5.5.4", alembic_revision="abc",
        digest={"users": table_digest(["id", "name"], [(1, "alice")])},
    )


def test_every_file_of_a_fresh_backup_is_in_its_manifest_and_reads_back(
    store: BackupStore, manifest: Manifest
) -> None:
    assert [f.name for f in manifest.files] == [
        "jupyterhub.sqlite", "jupyterhub_config.py", "pip-freeze.txt"]
    assert read_manifest(store, "physics", manifest.backup_id) == manifest
    verify_uploaded(store, manifest)


def test_an_altered_object_stops_the_upgrade_naming_it(
    store: BackupStore, manifest: Manifest
) -> None:
    store.put_bytes(f"physics/{manifest.backup_id}/jupyterhub_config.py", b"c = 1\n")
    with pytest.raises(BackupError, match=r"jupyterhub_config.py in s3://.* fails its checksum"):
        verify_uploaded(store, manifest)


def test_a_lost_object_stops_the_upgrade_naming_it(
    store: BackupStore, manifest: Manifest
) -> None:
    store.delete(f"physics/{manifest.backup_id}/jupyterhub.sqlite")
    with pytest.raises(BackupError, match="jupyterhub.sqlite cannot be read back"):
        verify_uploaded(store, manifest)


def test_a_manifest_that_reads_back_different_stops_the_upgrade(
    store: BackupStore, manifest: Manifest
) -> None:
    changed = manifest.model_copy(update={"alembic_revision": "other"})
    with pytest.raises(BackupError, match="manifest read back differs"):
        verify_uploaded(store, changed)
