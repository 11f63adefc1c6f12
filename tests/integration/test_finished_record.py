"""An upgrade that finished stays finished when its last bookkeeping fails: the in-progress
record that could not be removed is a warning, the exit code 0, and the next run neither
refuses the hub nor takes the record for an interrupted upgrade."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hubshift.backends.storage import BackupStore
from hubshift.window import inprogress
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import NEW_VERSION, PREVIOUS_VERSION

pytestmark = pytest.mark.integration


def test_a_record_not_cleared_or_a_report_not_published_after_an_upgrade_are_warnings(
    running_hub, storage_config, prefect_api, tmp_path: Path
) -> None:
    hub = running_hub(PREVIOUS_VERSION, name="physics", ready=NEW_VERSION)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    upgrade = ["upgrade", "-f", fleet, "--hub", "physics", "--json"]

    done = run_cli(upgrade, prefect_api=prefect_api, fault="clear-record:raise,report:raise")

    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["to_version"]) == ("upgraded", NEW_VERSION)
    assert hub.api.version() == NEW_VERSION
    warning, reported = result["warnings"]
    assert "could not be removed" in warning and "marked finished" in warning, warning
    assert "report could not be published" in reported, reported
    # The record is still in the store, marked finished: no run may take it for a half-way one.
    store = BackupStore(storage_config)
    left = json.loads(store.get_bytes(f"physics/{inprogress.RECORD_NAME}"))
    assert (left["step"], left["backup_id"]) == (inprogress.FINISHED, result["backup_id"])
    # The backup's local copy went with the run: the store holds the backup.
    runs = Path(os.environ["HUBSHIFT_HOME"]) / "runs" / "physics"
    assert runs.is_dir() and not (runs / result["backup_id"]).exists()

    again = run_cli(upgrade, prefect_api=prefect_api)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["status"] == "up-to-date"

    # Nothing to finish, so a rollback is an admin's own: it needs a backup named.
    rollback = run_cli(["rollback", "-f", fleet, "--hub", "physics"])
    assert rollback.returncode == 2, rollback.stderr[-3000:]
    assert "--backup is required" in rollback.stderr
    assert hub.api.version() == NEW_VERSION
