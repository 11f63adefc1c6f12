"""The demo's S3 server (rclone `serve s3`): real signatures, objects kept on disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from hubshift.backends.storage import BackupStore
from hubshift.config import StorageConfig
from hubshift.errors import StorageError
from hubshift_lab import s3server

pytestmark = pytest.mark.integration


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    workdir = tmp_path / "s3"
    try:
        yield workdir
    finally:
        s3server.stop_s3_server(workdir)


def _store(server: s3server.S3Server, keys: dict[str, str]) -> BackupStore:
    return BackupStore(StorageConfig(
        url="s3://demo-bucket/hubshift", endpoint_url=server.endpoint_url,
        region=s3server.DEMO_REGION, access_key_id=keys["AWS_ACCESS_KEY_ID"],
        secret_access_key=keys["AWS_SECRET_ACCESS_KEY"]))


def test_disk_server_keeps_objects_across_a_restart_at_the_same_url(workdir: Path) -> None:
    server = s3server.start_s3_server(workdir, kind="rclone")
    assert s3server.start_s3_server(workdir, kind="rclone") == server  # already running
    keys = s3server.credentials(workdir)
    store = _store(server, keys)
    store.ensure_bucket()
    store.put_bytes("hub/backup/manifest.json", b'{"kept": true}')
    # Its secret reaches rclone through the environment, never its command line.
    argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode()
    assert keys["AWS_SECRET_ACCESS_KEY"] not in argv and str(workdir) in argv

    s3server.stop_s3_server(workdir)
    assert s3server.running_s3_server(workdir) is None
    held = workdir / s3server.OBJECTS_DIR / "demo-bucket" / "hubshift" / "hub" / "backup"
    assert (held / "manifest.json").read_bytes() == b'{"kept": true}'

    again = s3server.start_s3_server(workdir, kind="rclone")
    assert again.endpoint_url == server.endpoint_url and again.pid != server.pid
    assert s3server.credentials(workdir) == keys
    assert _store(again, keys).get_bytes("hub/backup/manifest.json") == b'{"kept": true}'


def test_disk_server_refuses_a_wrong_secret(workdir: Path) -> None:
    server = s3server.start_s3_server(workdir, kind="rclone")
    keys = s3server.credentials(workdir)
    _store(server, keys).ensure_bucket()
    wrong = {**keys, "AWS_SECRET_ACCESS_KEY": "not-" + keys["AWS_SECRET_ACCESS_KEY"]}
    with pytest.raises(StorageError):
        _store(server, wrong).list()
    with pytest.raises(StorageError):
        _store(server, s3server.DUMMY_CREDENTIALS).list()


def test_disk_server_ignores_conditional_writes(workdir: Path) -> None:
    """Why the tests keep moto: rclone (1.75) stores a PUT whatever `If-None-Match: *` says.
    If this fails, rclone honours them now and the tests could use it too."""
    server = s3server.start_s3_server(workdir, kind="rclone")
    keys = s3server.credentials(workdir)
    client = boto3.client(
        "s3", endpoint_url=server.endpoint_url, region_name=s3server.DEMO_REGION,
        aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
        config=Config(s3={"addressing_style": "path"}))
    client.create_bucket(Bucket="demo-bucket")
    client.put_object(Bucket="demo-bucket", Key="lock", Body=b"first")
    try:
        client.put_object(Bucket="demo-bucket", Key="lock", Body=b"second", IfNoneMatch="*")
    except ClientError as err:  # pragma: no cover - what moto does
        pytest.fail(f"rclone now honours If-None-Match: {err}")
    body = client.get_object(Bucket="demo-bucket", Key="lock")["Body"].read()
    assert body == b"second"
