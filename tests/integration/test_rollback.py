"""Every failed upgrade ends on the old version with nothing lost: faults injected at each
step after `stop`, a killed orchestrator, a corrupted backup, two runs at once, and the
manual rollback an admin starts. One real JupyterHub hub (SQLite) goes through all of it;
each test first checks the hub is where the previous one must have left it."""

from __future__ import annotations

import json
import subprocess
import time

import boto3
import pytest

from hubshift.backends.databases.sqlite import sqlite_path
from hubshift.backends.storage import BackupStore
from hubshift.integrity.digest import VOLATILE_COLUMNS, TableDigest, differences
from tests.support.fleet import cli_command
from tests.support.hubs import NEW_VERSION, OLD_VERSION, commands_running_from, jupyterhub_venv
from tests.support.lab import (
    OLD_REVISION,
    Lab,
    assert_back_as_before,
    baseline,
    module_lab,
    upgrade_rolled_back,
)

pytestmark = pytest.mark.integration

HUB = "physics"


lab = module_lab("rollback", HUB)


@pytest.mark.parametrize("fault", [
    "backup:raise",      # the backup upload fails after its retries: no upgrade at all
    "switch:after",      # switched to the new venv, then failed
    "migrate:after",     # upgrade-db ran (the schema is 6.x), then failed: half-way
    "start:after",       # the new hub was started, then failed
    "verify:raise",      # the new hub answers but verification fails
])
def test_a_fault_after_stop_rolls_back_to_the_old_hub(lab: Lab, fault: str) -> None:
    before = baseline(lab)
    step = fault.split(":")[0]
    done, result = upgrade_rolled_back(lab, fault)
    assert result["downtime_seconds"] > 0
    assert_back_as_before(lab, before, jupyterhub_venv(OLD_VERSION))
    failures = [m for m in lab.inbox.messages if "FAILED" in str(m.get("title"))]
    assert len(failures) == 1, lab.inbox.messages
    assert f"at {step}" in failures[0]["title"]
    assert "rolled back" in failures[0]["message"] and "Downtime" in failures[0]["message"]


def test_a_rollback_that_cannot_finish_exits_3_and_can_be_finished(lab: Lab) -> None:
    before = baseline(lab)
    done = lab.hubshift("upgrade", "--json", fault="migrate:after,rollback.start:raise")
    assert done.returncode == 3, done.stderr[-3000:]
    error = json.loads(done.stdout)["error"]
    assert "rollback stopped at step start" in error
    assert "The hub is stopped; its database is restored from the backup" in error
    assert "hubshift rollback --hub physics" in error
    assert lab.record_exists()
    assert lab.hubshift("upgrade").returncode == 2  # refused while the record is there

    finished = lab.hubshift("rollback", "--json")
    assert finished.returncode == 0, finished.stderr[-3000:]
    assert_back_as_before(lab, before, jupyterhub_venv(OLD_VERSION))


def test_a_killed_orchestrator_leaves_a_record_that_rollback_finishes(lab: Lab) -> None:
    before = baseline(lab)
    killed = lab.hubshift("upgrade", fault="migrate:kill")
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert lab.record_exists()
    assert lab.db().revision() != OLD_REVISION  # it died with the database migrated
    # The new hub, loaded before the stop and waiting for its go, left with it.
    new_venv = lab.sandbox.workdir / f"venv-{NEW_VERSION}"
    deadline = time.monotonic() + 10
    while commands_running_from(new_venv) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert commands_running_from(new_venv) == []

    refused = lab.hubshift("upgrade")
    assert refused.returncode == 2
    assert "did not finish: it stopped at step migrate" in refused.stderr
    assert "hubshift rollback --hub physics" in refused.stderr

    rolled = lab.hubshift("rollback", "--json")
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert_back_as_before(lab, before, jupyterhub_venv(OLD_VERSION))


def test_a_corrupted_backup_stops_rollback_before_the_database(lab: Lab) -> None:
    baseline(lab)
    backup_id = lab.backups()[-1]
    key = f"{lab.storage.prefix}/{HUB}/{backup_id}/jupyterhub.sqlite"
    s3 = boto3.client("s3", endpoint_url=lab.storage.endpoint_url)
    data = bytearray(s3.get_object(Bucket=lab.storage.bucket, Key=key)["Body"].read())
    data[200:208] = b"CORRUPT!"
    s3.put_object(Bucket=lab.storage.bucket, Key=key, Body=bytes(data))
    database = sqlite_path(lab.sandbox.db_url)
    bytes_before = database.read_bytes()

    done = lab.hubshift("rollback", "--backup", backup_id, "--yes")
    assert done.returncode == 3, done.stderr[-3000:]
    assert f"{HUB}/{backup_id}/jupyterhub.sqlite" in done.stderr
    assert "fails its checksum" in done.stderr
    assert database.read_bytes() == bytes_before
    with lab.api() as api:
        assert api.version() == OLD_VERSION  # fetched and checked before anything was stopped


def test_two_upgrades_of_one_hub_at_once_upgrade_it_once(lab: Lab) -> None:
    baseline(lab)
    backups_before = lab.backups()
    argv, env = cli_command(["upgrade", "-f", lab.fleet, "--hub", HUB, "--json"],
                            prefect_api=lab.prefect_api)
    runs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True) for _ in range(2)]
    outcomes = []
    for run in runs:
        out, err = run.communicate(timeout=600)
        outcomes.append((run.returncode, json.loads(out)["status"] if out.strip() else None, err))
    codes = [(code, status) for code, status, _ in outcomes]
    assert codes.count((0, "upgraded")) == 1, outcomes
    [other] = [c for c in codes if c != (0, "upgraded")]
    assert other in ((0, "up-to-date"), (2, "refused")), outcomes
    with lab.api() as api:
        assert api.version() == NEW_VERSION
    assert len(lab.backups()) == len(backups_before) + 1


def test_manual_rollback_after_a_successful_upgrade_restores_the_backup(lab: Lab) -> None:
    with lab.api() as api:
        assert api.version() == NEW_VERSION  # left so by the previous test
    backup_id = lab.backups()[-1]
    manifest = json.loads(BackupStore(lab.storage).get_bytes(f"{HUB}/{backup_id}/manifest.json"))

    done = lab.hubshift("rollback", "--backup", backup_id, "--yes", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["to_version"] == OLD_VERSION
    assert json.loads(done.stdout)["safety_backup_id"] in lab.backups()
    with lab.api() as api:
        assert api.version() == OLD_VERSION
        assert api.whoami(lab.seeded.tokens["alice"])["name"] == "alice"
    assert lab.db().revision() == manifest["alembic_revision"] == OLD_REVISION
    saved = {t: TableDigest.model_validate(d) for t, d in manifest["digest"].items()}
    assert differences(saved, lab.db().digest(), ignore_columns=VOLATILE_COLUMNS) == []
    assert not lab.record_exists()
