"""Stepping stones from a real 2.3.1 hub: `--via auto` climbs through 3.x, 4.x and 5.x to the
newest release in one window, and a fault in a middle hop rolls it back to 2.3.1.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubshift.backends.databases import database_for
from hubshift.integrity.digest import VOLATILE_COLUMNS, differences
from hubshift_lab.sandbox import SEED_GROUPS
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import (
    NEW_VERSION,
    OLD_VERSION,
    PREVIOUS_VERSION,
    who,
)
from tests.support.plans import plan_json

pytestmark = pytest.mark.integration


def test_via_auto_climbs_2_3_1_through_3_4_and_5_to_the_newest_in_one_window(
    running_hub, storage_config, prefect_api: str, tmp_path: Path
) -> None:
    climb = ["3.1.1", OLD_VERSION, PREVIOUS_VERSION, NEW_VERSION]
    # The first stepping stone is built by hubshift's own prepare, the rest ahead (uv).
    hub = running_hub("2.3.1", name="climber", ready=climb[1:])
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    before = who(hub.api)
    assert set(SEED_GROUPS) <= set(before[1])

    plan = plan_json(fleet, "--via", "auto")
    assert [h["version"] for h in plan["hops"]] == climb
    assert not any("more than one major" in w for w in plan["warnings"])

    # A failure after the first hop migrated: back to 2.3.1, its revision and its rows.
    db = database_for(hub.sandbox.db_url)
    revision, rows, venv = db.revision(), db.digest(), hub.sandbox.venv_link.resolve()
    failed = run_cli(["upgrade", "-f", fleet, "--hub", "climber", "--via", "auto", "--json"],
                     prefect_api=prefect_api, fault="migrate:after")
    result = json.loads(failed.stdout)
    assert failed.returncode == 1, (result.get("error"), failed.stderr[-3000:])
    assert result["status"] == "rolled-back" and result["failed_step"] == "migrate 3.1.1"
    assert hub.api.version() == "2.3.1" and db.revision() == revision
    assert differences(rows, db.digest(), ignore_columns=VOLATILE_COLUMNS) == []
    assert hub.sandbox.venv_link.resolve() == venv and who(hub.api) == before

    done = run_cli(["upgrade", "-f", fleet, "--hub", "climber", "--via", "auto", "--json"],
                   prefect_api=prefect_api)
    result = json.loads(done.stdout)
    assert done.returncode == 0, (result.get("error"), done.stderr[-3000:])
    assert result["status"] == "upgraded" and result["hops"] == climb
    steps = [s["name"] for s in result["steps"]]
    # One window: one stop and one start around every hop's upgrade-db.
    assert steps.count("stop") == 1 and steps.count("start") == 1
    migrations = [steps.index(f"migrate {version}") for version in climb]
    assert steps.index("stop") < migrations[0] and migrations == sorted(migrations)
    assert migrations[-1] < steps.index("start")
    assert result["migrations_run"] == [m["revision"] for m in plan["migrations"]]
    assert hub.api.version() == NEW_VERSION and hub.api.healthy()
    assert who(hub.api) == before
    for version in climb:
        assert (hub.sandbox.workdir / f"venv-{version}" / ".hubshift-complete").exists()


