"""Fixtures for tests that need S3: one real moto server per session, one bucket per test.

The server is a separate HTTP process (hubshift_lab.s3server, which also starts the demo's), so
tests exercise boto3 over the network exactly as against MinIO or AWS. It is moto's, not the
demo's rclone: moto honours conditional writes (If-None-Match), rclone ignores them. Use them with
``from tests.support.s3 import s3_server, storage_config`` in a test module or conftest.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from hubshift.backends.storage import BackupStore
from hubshift.config import StorageConfig
from hubshift_lab.s3server import (
    DEMO_REGION,
    DUMMY_CREDENTIALS,
    S3Server,
    start_s3_server,
    stop_s3_server,
)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A moto S3 server for the whole session, with dummy AWS credentials in os.environ."""
    workdir = tmp_path_factory.mktemp("s3server")
    with pytest.MonkeyPatch.context() as env:
        for name, value in DUMMY_CREDENTIALS.items():
            env.setenv(name, value)
        env.setenv("AWS_DEFAULT_REGION", DEMO_REGION)
        # A developer's ~/.aws profile or session token must not leak into the tests.
        env.delenv("AWS_PROFILE", raising=False)
        env.delenv("AWS_SESSION_TOKEN", raising=False)
        env.setenv("AWS_CONFIG_FILE", str(workdir / "no-aws-config"))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(workdir / "no-aws-credentials"))
        server = start_s3_server(workdir)
        try:
            yield server
        finally:
            stop_s3_server(workdir)


@pytest.fixture
def storage_config(s3_server: S3Server) -> StorageConfig:
    """A fresh, empty bucket on the session's server, as the fleet file would describe it."""
    config = StorageConfig(
        url=f"s3://hubshift-test-{uuid.uuid4().hex[:12]}/hubshift",
        endpoint_url=s3_server.endpoint_url,
        region=DEMO_REGION,
    )
    BackupStore(config).ensure_bucket()
    return config
