"""A fleet of three real hubs (one staging, two production) upgraded in waves, with a fault
aimed at one hub: a failing canary stops everything; a failing production hub rolls back and
no hub after it starts (max_fail_percent=0)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubshift.backends.hubapi import wait_healthy
from hubshift.backends.runtimes import runtime_for
from hubshift.backends.storage import BackupStore
from hubshift.config import StorageConfig
from hubshift_lab.s3server import DEMO_REGION, S3Server
from hubshift_lab.sandbox import SandboxHub, make_hub, seed
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import NEW_VERSION, OLD_VERSION, hub_config, jupyterhub_venv, versions_of

pytestmark = pytest.mark.integration

HUBS = {"physics": "staging", "chem-a": "production", "chem-b": "production"}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
          prefect_api: str) -> Iterator[tuple[Path, dict[str, SandboxHub]]]:
    root = tmp_path_factory.mktemp("fleet")
    storage = StorageConfig(url=f"s3://hubshift-fleet-{uuid.uuid4().hex[:8]}/hubshift",
                            endpoint_url=s3_server.endpoint_url, region=DEMO_REGION)
    BackupStore(storage).ensure_bucket()
    sandboxes = {name: make_hub(root, name, jupyterhub_venv(OLD_VERSION)) for name in HUBS}
    runtimes = [runtime_for(hub_config(s)) for s in sandboxes.values()]
    try:
        for runtime in runtimes:
            runtime.start()
        for sandbox in sandboxes.values():
            with sandbox.api() as api:
                wait_healthy(api, 60, version=OLD_VERSION)
                seed(api)
        entries = [{**s.fleet_entry(NEW_VERSION), "environment": HUBS[n]}
                   for n, s in sandboxes.items()]
        yield write_fleet(root / "fleet.yaml", storage, entries), sandboxes
    finally:
        for runtime in runtimes:
            runtime.stop()


def test_a_failing_canary_leaves_production_untouched(fleet, prefect_api) -> None:
    path, sandboxes = fleet
    done = run_cli(["fleet-upgrade", "-f", path, "--max-fail-percent", "0", "--json"],
                   prefect_api=prefect_api, fault="physics/migrate:after")
    assert done.returncode == 1, done.stderr[-3000:]
    rows = {r["hub"]: r for r in json.loads(done.stdout)["hubs"]}
    assert rows["physics"]["outcome"] == "rolled back"
    assert rows["chem-a"]["outcome"] == rows["chem-b"]["outcome"] == "skipped"
    assert "production was not touched" in rows["chem-a"]["error"]
    assert versions_of(sandboxes) == dict.fromkeys(HUBS, OLD_VERSION)
    for name in ("chem-a", "chem-b"):
        assert not (sandboxes[name].workdir / f"venv-{NEW_VERSION}").exists()


def test_a_failing_production_hub_stops_new_starts(fleet, prefect_api) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    path, sandboxes = fleet
    assert versions_of(sandboxes) == dict.fromkeys(HUBS, OLD_VERSION)
    # `latest`, resolved once for the whole run: every hub is offered the same release.
    done = run_cli(["fleet-upgrade", "-f", path, "--to", "latest", "--max-fail-percent", "0"],
                   prefect_api=prefect_api, fault="chem-a/migrate:after")
    assert done.returncode == 1, done.stderr[-3000:]
    table = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert "upgraded" in table["physics"] and "rolled back" in table["chem-a"]
    assert NEW_VERSION in table["physics"] and NEW_VERSION in table["chem-a"]
    assert "latest" not in done.stdout
    assert "skipped" in table["chem-b"]
    assert versions_of(sandboxes) == {"physics": NEW_VERSION, "chem-a": OLD_VERSION,
                                    "chem-b": OLD_VERSION}

    with get_client(sync_client=True) as client:
        [artifact] = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["fleet-upgrade"])),
            sort=ArtifactSort.CREATED_DESC, limit=1, offset=0)
    data = artifact.data if isinstance(artifact.data, list) else json.loads(artifact.data)
    outcomes = {row["hub"]: row["outcome"] for row in data}
    assert outcomes == {"physics": "upgraded", "chem-a": "rolled back", "chem-b": "skipped"}
    physics = next(row for row in data if row["hub"] == "physics")
    assert physics["backup_id"] and physics["downtime_seconds"] > 0 and physics["flow_run"]
