"""BackupStore against a real S3-compatible server (moto's server mode) over HTTP."""

from __future__ import annotations

import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from pydantic import SecretStr

from hubshift.backends.storage import HINT_NO_BUCKET, BackupStore, ObjectMissing
from hubshift.config import StorageConfig
from hubshift.errors import StorageError
from hubshift.integrity.checksum import sha256_bytes, sha256_file
from hubshift_lab.s3server import S3Server

# The shared S3 fixtures (s3_server, storage_config), registered as a plugin so that
# fixture arguments do not shadow imported names.
pytest_plugins = ["tests.support.s3"]
pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture
def store(storage_config: StorageConfig) -> BackupStore:
    return BackupStore(storage_config)


def _raw_head(config: StorageConfig, key: str) -> dict:
    """HEAD an object with a plain boto3 client, to see what the server really stored."""
    client = boto3.client("s3", endpoint_url=config.endpoint_url, region_name="us-east-1")
    return client.head_object(Bucket=config.bucket, Key=f"{config.prefix}/{key}")


def test_file_and_bytes_round_trip_with_equal_checksums(store: BackupStore, tmp_path: Path) -> None:
    source = tmp_path / "jupyterhub.sqlite"
    source.write_bytes(os.urandom(300_000))
    store.put_file("physics/b1/jupyterhub.sqlite", source)
    store.put_bytes("physics/b1/manifest.json", b'{"files": []}')

    restored = store.get_file("physics/b1/jupyterhub.sqlite", tmp_path / "out" / "db.sqlite")
    assert restored == tmp_path / "out" / "db.sqlite"
    assert sha256_file(restored) == sha256_file(source)
    assert sha256_bytes(store.get_bytes("physics/b1/manifest.json")) == sha256_bytes(
        b'{"files": []}'
    )
    assert store.exists("physics/b1/manifest.json")
    assert not store.exists("physics/b1/absent")


def test_big_file_goes_up_as_multipart_and_comes_back_identical(
    store: BackupStore, storage_config: StorageConfig, tmp_path: Path
) -> None:
    source = tmp_path / "big.dump"
    with open(source, "wb") as handle:
        for _ in range(20):
            handle.write(os.urandom(MiB))
    sent: list[int] = []  # what the terminal's bar counts, from the transfer threads
    store.put_file("big.dump", source, progress=sent.append)
    assert sum(sent) == 20 * MiB and len(sent) > 3

    # A multipart upload's ETag is "<md5 of the part md5s>-<number of parts>".
    etag = _raw_head(storage_config, "big.dump")["ETag"].strip('"')
    assert etag.endswith("-3"), etag
    restored = store.get_file("big.dump", tmp_path / "big.restored")
    assert sha256_file(restored) == sha256_file(source)
    assert [(o.key, o.size) for o in store.list("big")] == [("big.dump", 20 * MiB)]


def test_list_reads_every_page(store: BackupStore) -> None:
    keys = [f"many/{i:04d}" for i in range(1005)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: store.put_bytes(key, b"x"), keys))
    store.put_bytes("other/0000", b"y")

    listed = store.list("many/")
    assert [o.key for o in listed] == keys  # > 1000: needs a second page
    assert all(o.size == 1 and o.last_modified.tzinfo is not None for o in listed)
    assert len(store.list()) == 1006


def test_list_folders_names_the_immediate_subfolders(store: BackupStore) -> None:
    keys = ("physics/b1/db", "physics/b1/cfg/x", "physics/b2/db", "physics/loose", "chem/b9/db")
    for key in keys:
        store.put_bytes(key, b"x")
    assert store.list_folders("physics") == ["b1", "b2"]
    assert store.list_folders("physics/") == ["b1", "b2"]
    assert store.list_folders() == ["chem", "physics"]
    assert store.list_folders("nothing-here") == []


def test_checksum_streams_the_stored_bytes_without_writing(
    store: BackupStore, tmp_path: Path
) -> None:
    source = tmp_path / "db.sqlite"
    source.write_bytes(os.urandom(3 * MiB + 17))  # more than one read chunk
    store.put_file("physics/b1/db.sqlite", source)
    store.put_bytes("physics/b1/empty", b"")
    assert store.checksum("physics/b1/db.sqlite") == (3 * MiB + 17, sha256_file(source))
    assert store.checksum("physics/b1/empty") == (0, sha256_bytes(b""))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.sqlite"]
    with pytest.raises(ObjectMissing, match="physics/b1/absent"):
        store.checksum("physics/b1/absent")


def test_delete_is_safe_twice(store: BackupStore) -> None:
    store.put_bytes("gone", b"x")
    store.delete("gone")
    store.delete("gone")
    assert not store.exists("gone")


def test_missing_key_raises_naming_the_key(store: BackupStore, tmp_path: Path) -> None:
    with pytest.raises(ObjectMissing, match="physics/nope/db.sqlite"):
        store.get_bytes("physics/nope/db.sqlite")
    with pytest.raises(StorageError, match="physics/nope/db.sqlite"):
        store.get_file("physics/nope/db.sqlite", tmp_path / "db.sqlite")


def test_get_file_failure_leaves_no_part_file_and_keeps_dest(
    store: BackupStore, tmp_path: Path
) -> None:
    dest = tmp_path / "db.sqlite"
    dest.write_bytes(b"the old database")
    with pytest.raises(StorageError):
        store.get_file("absent", dest)
    assert dest.read_bytes() == b"the old database"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["db.sqlite"]


def test_missing_bucket_raises_with_hint(s3_server: S3Server, tmp_path: Path) -> None:
    config = StorageConfig(
        url="s3://no-such-bucket-here/hubshift", endpoint_url=s3_server.endpoint_url
    )
    store = BackupStore(config)
    for call in (
        lambda: store.put_bytes("k", b"x"),
        lambda: store.get_bytes("k"),
        lambda: store.exists("k"),  # a missing bucket is not "no such backup"
        lambda: store.get_file("k", tmp_path / "k"),
        lambda: store.list(),
        store.check_writable,
    ):
        with pytest.raises(StorageError) as info:
            call()
        assert info.value.hint == HINT_NO_BUCKET
        assert "no-such-bucket-here" in str(info.value)


def test_ensure_bucket_creates_it_and_is_safe_twice(s3_server: S3Server) -> None:
    config = StorageConfig(url="s3://hubshift-ensure-me/x", endpoint_url=s3_server.endpoint_url)
    store = BackupStore(config)
    store.ensure_bucket()
    store.ensure_bucket()
    store.check_writable()


def test_unreachable_endpoint_fails_fast_without_leaking_credentials() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again when the block ends: nothing listens
    config = StorageConfig(
        url="s3://backups/hubshift",
        endpoint_url=f"http://127.0.0.1:{port}",
        access_key_id=SecretStr("AKIAHUBSHIFTTESTKEY1"),
        secret_access_key=SecretStr("s3cr3t/hubshift+test/VALUE"),
    )
    store = BackupStore(config)
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        store.check_writable()
    assert time.monotonic() - started < 10
    text = str(info.value)
    assert "endpoint up" in text and f"127.0.0.1:{port}" in text
    assert "AKIAHUBSHIFTTESTKEY1" not in text and "s3cr3t/hubshift+test/VALUE" not in text
    assert "AKIAHUBSHIFTTESTKEY1" not in store.describe()


def test_check_writable_leaves_no_probe_behind(store: BackupStore) -> None:
    store.check_writable()
    store.check_writable()
    assert store.list() == []


def test_describe_names_bucket_prefix_and_endpoint(
    store: BackupStore, storage_config: StorageConfig
) -> None:
    assert store.describe() == f"{storage_config.url} at {storage_config.endpoint_url}"
