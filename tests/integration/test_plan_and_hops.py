"""The plan on a hub made by JupyterHub 1.5.1, compared with what the real `upgrade-db`
writes in alembic's log, and that hub climbed to the newest release (6.1.1) through the
newest release of each major version in between, in one window.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import (
    NEW_VERSION,
    OLD_VERSION,
    PREVIOUS_VERSION,
    alembic_log_of_upgrade_db,
    who,
)
from tests.support.plans import plan_json, rows

pytestmark = pytest.mark.integration


def test_plan_of_a_1_5_1_hub_lists_what_upgrade_db_runs_and_via_auto_climbs_to_the_newest(
    running_hub, storage_config, prefect_api: str, tmp_path: Path
) -> None:
    climb = ["2.3.1", "3.1.1", OLD_VERSION, PREVIOUS_VERSION, NEW_VERSION]
    # 2.3.1 (sqlalchemy<2 pinned in its venv) is built by hubshift's own prepare, the other
    # stepping stones ahead (uv).
    hub = running_hub("1.5.1", name="legacy", ready=climb[1:])
    db_file = hub.sandbox.workdir / "jupyterhub.sqlite"
    tokens = rows(db_file, "api_tokens")
    assert tokens >= 3  # alice's, bob's and the hubshift service's
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    before = who(hub.api)

    plan = plan_json(fleet)
    planned = [m["revision"] for m in plan["migrations"]]
    assert plan["current_revision"] == "4dc2d5a8c53c" and plan["installed_version"] == "1.5.1"
    assert any(f"drops table api_tokens: all its {tokens} rows will be deleted" in w
               for w in plan["warnings"]), plan["warnings"]
    assert any(f"1.5.1 -> {NEW_VERSION} crosses more than one major version" in w
               for w in plan["warnings"])
    assert planned == alembic_log_of_upgrade_db(db_file, NEW_VERSION, tmp_path)

    # One major version at a time: every revision the direct jump would run, hop by hop.
    stepped = plan_json(fleet, "--via", "auto")
    assert [h["version"] for h in stepped["hops"]] == climb
    assert [m["revision"] for m in stepped["migrations"]] == planned
    done = run_cli(["upgrade", "-f", fleet, "--hub", "legacy", "--via", "auto", "--json"],
                   prefect_api=prefect_api)
    result = json.loads(done.stdout)
    assert done.returncode == 0, (result.get("error"), done.stderr[-3000:])
    assert result["hops"] == climb
    assert result["migrations_run"] == planned == result["migrations"]
    assert hub.api.version() == NEW_VERSION
    assert who(hub.api) == before


