"""The backup store's contract, run against every backend: BackupStore on a real
S3-compatible server (moto's server mode) over HTTP, and FileStore on a real folder.
Tests of one backend's own behaviour (multipart uploads, buckets, endpoints) name it."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import pytest
from pydantic import SecretStr

from hubshift.backends.filestore import HINT_NO_FOLDER, FileStore
from hubshift.backends.storage import HINT_NO_BUCKET, BackupStore, ObjectMissing, store_for
from hubshift.backends.store_base import Store
from hubshift.config import StorageConfig
from hubshift.errors import StorageError
from hubshift.integrity.checksum import sha256_bytes, sha256_file
from hubshift_lab.s3server import S3Server

# The shared S3 fixtures (s3_server, storage_config), registered as a plugin so that
# fixture arguments do not shadow imported names.
pytest_plugins = ["tests.support.s3"]
pytestmark = pytest.mark.integration

MiB = 1024 * 1024


@pytest.fixture(params=["s3", "file"])
def store_config(request: pytest.FixtureRequest,
                 tmp_path_factory: pytest.TempPathFactory) -> StorageConfig:
    """A fresh `storage:` section of each backend (the folder away from the test's
    tmp_path, which some tests list)."""
    if request.param == "s3":
        return request.getfixturevalue("storage_config")
    return StorageConfig(url=f"file://{tmp_path_factory.mktemp('filestore') / 'backups'}")


@pytest.fixture
def store(store_config: StorageConfig) -> Store:
    """An empty store of each backend, made as the fleet file's `storage:` would make it."""
    config = store_config
    made = store_for(config)
    made.ensure_bucket()
    return made


@pytest.fixture
def s3_store(storage_config: StorageConfig) -> BackupStore:
    return BackupStore(storage_config)


def _raw_head(config: StorageConfig, key: str) -> dict:
    """HEAD an object with a plain boto3 client, to see what the server really stored."""
    client = boto3.client("s3", endpoint_url=config.endpoint_url, region_name="us-east-1")
    return client.head_object(Bucket=config.bucket, Key=f"{config.prefix}/{key}")


def test_file_and_bytes_round_trip_with_equal_checksums(store: Store, tmp_path: Path) -> None:
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
    s3_store: Store, storage_config: StorageConfig, tmp_path: Path
) -> None:
    store = s3_store
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


def test_list_reads_every_page(store: Store) -> None:
    keys = [f"many/{i:04d}" for i in range(1005)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda key: store.put_bytes(key, b"x"), keys))
    store.put_bytes("other/0000", b"y")

    listed = store.list("many/")
    assert [o.key for o in listed] == keys  # > 1000: needs a second page
    assert all(o.size == 1 and o.last_modified.tzinfo is not None for o in listed)
    assert len(store.list()) == 1006


def test_list_folders_names_the_immediate_subfolders(store: Store) -> None:
    keys = ("physics/b1/db", "physics/b1/cfg/x", "physics/b2/db", "physics/loose", "chem/b9/db")
    for key in keys:
        store.put_bytes(key, b"x")
    assert store.list_folders("physics") == ["b1", "b2"]
    assert store.list_folders("physics/") == ["b1", "b2"]
    assert store.list_folders() == ["chem", "physics"]
    assert store.list_folders("nothing-here") == []


def test_checksum_streams_the_stored_bytes_without_writing(
    store: Store, tmp_path: Path
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


def test_delete_is_safe_twice(store: Store) -> None:
    store.put_bytes("gone", b"x")
    store.delete("gone")
    store.delete("gone")
    assert not store.exists("gone")


def test_missing_key_raises_naming_the_key(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ObjectMissing, match="physics/nope/db.sqlite"):
        store.get_bytes("physics/nope/db.sqlite")
    with pytest.raises(StorageError, match="physics/nope/db.sqlite"):
        store.get_file("physics/nope/db.sqlite", tmp_path / "db.sqlite")


def test_get_file_failure_leaves_no_part_file_and_keeps_dest(
    store: Store, tmp_path: Path
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


def test_check_writable_leaves_no_probe_behind(store: Store) -> None:
    store.check_writable()
    store.check_writable()
    assert store.list() == []


def test_describe_names_bucket_prefix_and_endpoint(
    s3_store: Store, storage_config: StorageConfig
) -> None:
    assert s3_store.describe() == f"{storage_config.url} at {storage_config.endpoint_url}"


# -- the folder store's own promises -------------------------------------------------------


def test_file_store_writes_private_files_and_folders_and_no_temporary_file(
    tmp_path: Path,
) -> None:
    store = FileStore(tmp_path / "backups")
    store.ensure_bucket()
    store.put_bytes("physics/b1/manifest.json", b"{}")
    source = tmp_path / "db"
    source.write_bytes(os.urandom(2 * MiB + 3))
    store.put_file("physics/b1/db", source)

    root = tmp_path / "backups"
    assert stat.S_IMODE((root / "physics").stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "physics" / "b1").stat().st_mode) == 0o700
    for name in ("manifest.json", "db"):
        assert stat.S_IMODE((root / "physics" / "b1" / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in (root / "physics" / "b1").iterdir()) == ["db", "manifest.json"]
    assert store.describe() == f"file://{root}"


def test_a_missing_folder_is_an_error_and_is_not_created_by_a_write(tmp_path: Path) -> None:
    """An NFS share that is not mounted must not read as "no backups", nor fill the disk
    under its mount point."""
    root = tmp_path / "not-mounted"
    store = FileStore(root)
    for call in (lambda: store.put_bytes("k", b"x"), lambda: store.get_bytes("k"),
                 lambda: store.exists("k"), store.list, store.check_writable,
                 lambda: store.create_bytes("k", b"x")):
        with pytest.raises(StorageError) as info:
            call()
        assert not isinstance(info.value, ObjectMissing)
        assert info.value.hint == HINT_NO_FOLDER and str(root) in str(info.value)
    assert not root.exists()


def test_file_store_delete_removes_the_emptied_folders(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    store.put_bytes("physics/b1/db", b"x")
    store.put_bytes("physics/b1/cfg/x", b"x")
    store.put_bytes("physics/b2/db", b"x")
    for key in ("physics/b1/db", "physics/b1/cfg/x"):
        store.delete(key)
    assert store.list_folders("physics") == ["b2"]
    assert not (tmp_path / "physics" / "b1").exists()


def test_file_store_keys_cannot_leave_the_folder(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "backups")
    for key in ("../escape", "/etc/passwd", "a/../../b", "", "a//b"):
        with pytest.raises(ValueError):
            store.put_bytes(key, b"x")


# -- conditional writes: the in-progress record is a lock ------------------------------------


def _conditional(store: Store) -> Store:
    """Both stores the tests use honour them (moto's S3 server, the file store)."""
    assert store.honours_conditional_writes(), store.describe()
    return store


def test_create_bytes_writes_only_where_nothing_is(store: Store) -> None:
    store = _conditional(store)
    assert store.create_bytes("physics/in-progress.json", b"first") is True
    assert store.create_bytes("physics/in-progress.json", b"second") is False
    assert store.get_bytes("physics/in-progress.json") == b"first"
    store.delete("physics/in-progress.json")
    assert store.create_bytes("physics/in-progress.json", b"third") is True
    assert store.get_bytes("physics/in-progress.json") == b"third"


def test_replace_bytes_replaces_only_what_was_read(store: Store) -> None:
    store = _conditional(store)
    key = "physics/in-progress.json"
    with pytest.raises(ObjectMissing):
        store.read_tagged(key)
    store.create_bytes(key, b"one")
    data, tag = store.read_tagged(key)
    assert data == b"one"
    assert store.replace_bytes(key, b"two", tag) is True
    assert store.replace_bytes(key, b"three", tag) is False  # the object changed since
    again, newer = store.read_tagged(key)
    assert (again, newer != tag) == (b"two", True)
    # S3's tag is its ETag, the bytes' MD5: only a change of the bytes is sure to move it,
    # which is all a record needs (the same bytes are the same holder at the same step).
    assert store.replace_bytes(key, b"two", newer) is True
    store.delete(key)
    assert store.replace_bytes(key, b"four", newer) is False  # deleted: nothing to replace
    assert not store.exists(key)
    assert store.replace_bytes("chemistry/in-progress.json", b"x", tag) is False


_RACER = """
import json, pathlib, sys, time
from hubshift.backends.storage import StorageConfig, store_for
config, workdir, me, mode, keys = sys.argv[1:6]
store = store_for(StorageConfig.model_validate_json(config))
workdir, keys = pathlib.Path(workdir), json.loads(keys)
tags = {key: store.read_tagged(key)[1] for key in keys} if mode == "replace" else {}
(workdir / f"ready-{me}").touch()
while not (workdir / "go").exists():
    time.sleep(0.001)
won = [key for key in keys
       if (store.create_bytes(key, me.encode()) if mode == "create"
           else store.replace_bytes(key, me.encode(), tags[key]))]
print(json.dumps(won))
"""


def _race(config: StorageConfig, workdir: Path, mode: str, keys: list[str]) -> list[list[str]]:
    """Two processes doing `mode` on every key of `keys` at once; what each one won."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen(
        [sys.executable, "-c", _RACER, config.model_dump_json(), str(workdir), me, mode,
         json.dumps(keys)], stdout=subprocess.PIPE, text=True, env=env)
        for me in ("a", "b")]
    deadline = time.monotonic() + 60
    while not all((workdir / f"ready-{me}").exists() for me in ("a", "b")):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    (workdir / "go").touch()
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    return [json.loads(out) for out in outputs]


@pytest.mark.parametrize("mode", ["create", "replace"])
def test_two_processes_racing_for_each_key_exactly_one_wins(
    store: Store, store_config: StorageConfig, tmp_path: Path, mode: str
) -> None:
    store = _conditional(store)
    keys = [f"hub{i:02d}/in-progress.json" for i in range(30)]
    if mode == "replace":
        for key in keys:
            store.create_bytes(key, b"dead run")
    won_a, won_b = _race(store_config, tmp_path, mode, keys)
    assert sorted(won_a + won_b) == sorted(keys)  # every key won once, none twice
    for key in keys:
        assert store.get_bytes(key) == (b"a" if key in won_a else b"b")
