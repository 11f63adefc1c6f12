"""A hub whose fleet file keeps its secrets in Prefect blocks (the S3 keys in an
AwsCredentials block, the hub's token in a Secret block) and whose maintenance window is
hours away: its deployment's run, started now as a late run would be, ends deferred with the
hub untouched; `hubshift upgrade --now` upgrades it. No block value reaches a log, an
artifact, a deployment, a manifest, a kept result or the CLI's output.

The store is rclone's S3 server, which checks signatures (moto accepts any key): the upgrade
can only have reached it with the keys the block holds. No AWS_* variable is set for the
processes hubshift runs in."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubshift.backends.storage import BackupStore
from hubshift.backup import results
from hubshift.config import StorageConfig
from hubshift_lab import s3server
from hubshift_lab.s3server import DEMO_REGION
from tests.support.fleet import cli_command, run_cli, stop_group, write_fleet
from tests.support.hubs import NEW_VERSION, PREVIOUS_VERSION
from tests.support.lab import prefect_records

pytestmark = pytest.mark.integration

HUB = "windowed"
#: The processes hubshift runs in find no AWS credentials but the block's.
NO_AWS_ENV = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
              "AWS_SESSION_TOKEN": None, "AWS_PROFILE": None}


@pytest.fixture
def signed_s3(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """An rclone S3 server of this test (real signatures): its endpoint and key pair."""
    workdir = tmp_path / "rclone"
    server = s3server.start_s3_server(workdir, kind="rclone")
    try:
        yield server.endpoint_url, s3server.credentials(workdir)
    finally:
        s3server.stop_s3_server(workdir)


def _wait_for_deployment(name: str, serve: subprocess.Popen, log: Path):
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    deadline = time.monotonic() + 90
    with get_client(sync_client=True) as client:
        while True:
            try:
                return client.read_deployment_by_name(name)
            except ObjectNotFound:
                assert serve.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, "serve registered nothing in 90 s"
                time.sleep(0.5)


def _run_deployment(deployment_id, log: Path):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.create_flow_run_from_deployment(deployment_id)
        deadline = time.monotonic() + 180
        while not (run := client.read_flow_run(run.id)).state.is_final():
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
    return run


def test_a_late_deployment_run_is_deferred_and_now_upgrades_with_block_secrets(
        prefect_api: str, running_hub, signed_s3, tmp_path: Path) -> None:
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect_aws import AwsCredentials

    endpoint, pair = signed_s3
    key_id, secret_key = pair["AWS_ACCESS_KEY_ID"], pair["AWS_SECRET_ACCESS_KEY"]
    # One major version up, no users seeded: the cheapest real upgrade (what is under test
    # is the window and where the secrets come from, not a release).
    hub = running_hub(PREVIOUS_VERSION, name=HUB, seed_hub=False, ready=NEW_VERSION)
    token = hub.sandbox.token
    tag = uuid.uuid4().hex[:8]
    AwsCredentials(aws_access_key_id=key_id, aws_secret_access_key=secret_key,
                   region_name=DEMO_REGION,
                   aws_client_parameters={"endpoint_url": endpoint}).save(f"s3-{tag}")
    Secret(value=token).save(f"token-{tag}")

    bucket = StorageConfig(url=f"s3://hubshift-windows-{tag}/hubshift", endpoint_url=endpoint,
                           region=DEMO_REGION, access_key_id=key_id,
                           secret_access_key=secret_key)
    store = BackupStore(bucket)
    store.ensure_bucket()
    # The window opens in 12 hours and lasts one: a run started now is 11 hours late.
    opens = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=12)
    fleet = write_fleet(tmp_path / "fleet.yaml", StorageConfig(url=bucket.url), [{
        **hub.sandbox.fleet_entry(NEW_VERSION), "api_token": {"secret_block": f"token-{tag}"},
        "schedule": {"cron": f"{opens.minute} {opens.hour} * * *", "timezone": "UTC",
                     "duration": "1h"}}])
    text = fleet.read_text().replace("storage:\n", f"storage:\n  credentials_block: s3-{tag}\n")
    fleet.write_text(text)
    secrets = [token, secret_key, key_id]
    assert not any(value in text for value in secrets)
    pid = hub.runtime.status().pid

    argv, env = cli_command(["serve", "-f", fleet], prefect_api=prefect_api,
                            env_changes=NO_AWS_ENV)
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        serve = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
    try:
        deployment = _wait_for_deployment(f"upgrade-hub/{HUB}", serve, log)
        deferred_run = _run_deployment(deployment.id, log)
    finally:
        stop_group(serve, signum=2)
    assert deferred_run.state.is_completed(), (deferred_run.state, log.read_text()[-3000:])
    kept = results.read(store, HUB, str(deferred_run.id))
    assert kept is not None and kept.status == "deferred", kept
    assert kept.next_window.startswith(opens.strftime("%Y-%m-%dT%H:%M"))
    assert "outside the maintenance window" in kept.cause and "--now" in kept.next_command
    assert [step.name for step in kept.steps] == ["preflight", "window"]
    # Untouched: the same process, the old release, no backup taken.
    assert hub.runtime.status().pid == pid and hub.api.version() == PREVIOUS_VERSION
    assert not [o.key for o in store.list(f"{HUB}/") if "/results/" not in o.key]

    done = run_cli(["upgrade", "--now", "--json", "-f", fleet, "--hub", HUB],
                   prefect_api=prefect_api, env_changes=NO_AWS_ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "upgraded" and result["to_version"] == NEW_VERSION
    assert hub.api.version() == NEW_VERSION
    assert "window" not in [step["name"] for step in result["steps"]]

    # The sweep: nothing a block holds is anywhere hubshift wrote or Prefect keeps.
    with get_client(sync_client=True) as client:
        deployment_text = str(client.read_deployment_by_name(f"upgrade-hub/{HUB}")
                              .model_dump())
    places = {"deployment": deployment_text, "serve log": log.read_text(),
              "cli": done.stdout + done.stderr}
    for run_id in (str(deferred_run.id), result["flow_run_id"]):
        places[f"run {run_id}"] = "\n".join(prefect_records(run_id)[2])
    for info in store.list(f"{HUB}/"):
        if info.key.endswith(".json"):  # manifests, kept results, the record if left
            places[info.key] = store.get_bytes(info.key).decode()
    assert any(key.endswith("manifest.json") for key in places), sorted(places)
    leaks = [(where, i) for where, said in places.items()
             for i, value in enumerate(secrets) if value in said]
    assert leaks == []
