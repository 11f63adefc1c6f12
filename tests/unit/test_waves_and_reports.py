"""Waves, the failure budget, the fleet table, the report, and the status's exit codes."""

from __future__ import annotations

from hubshift.config import HubConfig
from hubshift.errors import BackupError, ConfigError, PreflightError, RollbackError
from hubshift.fleet.report import FleetRow, render_table
from hubshift.fleet.waves import FailureBudget, plan_waves
from hubshift.report import render_markdown
from hubshift.result import (
    EXIT_CODES,
    Status,
    StepTiming,
    UpgradeFailed,
    UpgradeResult,
    ended_early,
    fleet_exit_code,
)


def _hub(name: str, environment: str = "production") -> HubConfig:
    return HubConfig.model_validate({
        "name": name, "environment": environment, "config_file": "/srv/c.py",
        "db_url": "sqlite:////srv/h.sqlite", "api_url": "http://127.0.0.1:1/hub/api",
        "api_token": "t0ken", "install": {"venv": "/srv/venv"}, "runtime": {"workdir": "/srv"},
    })


def test_staging_goes_first_then_production_ramps_up() -> None:
    hubs = [_hub(f"p{i:02}") for i in range(30)] + [_hub("s1", "staging"), _hub("s2", "staging")]
    waves = plan_waves(hubs)
    assert waves[0].canary and [h.name for h in waves[0].hubs] == ["s1", "s2"]
    sizes = [len(w.hubs) for w in waves[1:]]
    assert sizes == [1, 5, 6, 6, 6, 6]  # 1, 5, then 20% of 30
    assert [h.name for w in waves[1:] for h in w.hubs] == [f"p{i:02}" for i in range(30)]
    assert not any(w.canary for w in waves[1:])


def test_a_fleet_without_staging_starts_with_one_production_hub() -> None:
    waves = plan_waves([_hub("a"), _hub("b")])
    assert [[h.name for h in w.hubs] for w in waves] == [["a"], ["b"]]


def test_the_failure_budget() -> None:
    strict = FailureBudget(0)
    strict.record("a", True)
    assert not strict.exhausted
    strict.record("b", False)
    assert strict.exhausted and strict.failed_hubs == ["b"]
    lenient = FailureBudget(50)
    lenient.record("a", False)
    lenient.record("b", True)
    assert not lenient.exhausted  # 50% is not more than 50%
    lenient.record("c", False)
    assert lenient.exhausted


def test_the_report_is_for_people_and_carries_no_machine_copy() -> None:
    result = UpgradeResult(hub="physics", status="rolled-back", from_version="4.1.6",
                           to_version="5.5.4", backup_id="20261121T030000Z",
                           downtime_seconds=9.5, error="fault --> injected",
                           steps=[StepTiming(name="stop", seconds=0.5)])
    markdown = render_markdown(result)
    assert "# Upgrade of `physics`: rolled-back" in markdown
    assert "| downtime | 9.5 s |" in markdown
    assert "<!--" not in markdown and "backup_id" not in markdown  # results travel as data


def test_every_status_has_one_exit_code_and_reads_in_the_table() -> None:
    assert set(EXIT_CODES) == set(Status)
    assert {s: UpgradeResult(hub="h", status=s).exit_code for s in Status} == {
        Status.UPGRADED: 0, Status.UP_TO_DATE: 0, Status.FAILED: 1, Status.ROLLED_BACK: 1,
        Status.SKIPPED: 1, Status.REFUSED: 2, Status.NEEDS_OPERATOR: 3, Status.REHEARSED: 0,
        Status.DEFERRED: 0, Status.MOVED: 0}
    for status in Status:
        row = FleetRow(hub="h", environment="production", wave="w", status=status)
        assert row.outcome and row.ok == (status in (Status.UPGRADED, Status.UP_TO_DATE,
                                                     Status.REHEARSED, Status.DEFERRED,
                                                     Status.MOVED))
    # The JSON a run keeps and the CLI prints spells the status as README does.
    assert '"status":"up-to-date"' in UpgradeResult(hub="h", status="up-to-date").model_dump_json()


def test_a_fleet_exits_with_its_most_serious_hub() -> None:
    assert fleet_exit_code([]) == 0
    assert fleet_exit_code([Status.UPGRADED, Status.UP_TO_DATE]) == 0
    assert fleet_exit_code([Status.UP_TO_DATE, Status.REFUSED]) == 2
    assert fleet_exit_code([Status.REFUSED, Status.ROLLED_BACK]) == 1
    assert fleet_exit_code([Status.REFUSED, Status.SKIPPED]) == 1
    assert fleet_exit_code([Status.ROLLED_BACK, Status.NEEDS_OPERATOR, Status.REFUSED]) == 3


def test_a_run_ended_before_its_window_says_why_by_its_error() -> None:
    refused = ended_early(PreflightError("target too old", hub="h", step="preflight"), "h",
                          "/srv/fleet.yaml", "4.0.0", "run-1")
    assert (refused.status, refused.exit_code, refused.failed_step) == ("refused", 2,
                                                                       "preflight")
    assert refused.flow_run_id == "run-1" and refused.to_version == "4.0.0"
    assert refused.hub_state.startswith("not touched")
    assert refused.next_command == "hubshift plan --hub h --to 4.0.0 -f /srv/fleet.yaml"
    assert ended_early(ConfigError("bad"), "h", None, None).status is Status.REFUSED
    assert ended_early(BackupError("no store"), "h", None, None).status is Status.FAILED
    stuck = ended_early(RollbackError("half-way", hub_state="down"), "h", None, None)
    assert (stuck.status, stuck.hub_state) == (Status.NEEDS_OPERATOR, "down")
    unknown = ended_early(KeyError("x"), "h", None, None)
    assert unknown.status is Status.NEEDS_OPERATOR and unknown.error == "KeyError: 'x'"
    assert unknown.next_command == "hubshift hub status --hub h"
    failed = UpgradeResult(hub="h", status="rolled-back")
    assert ended_early(UpgradeFailed(failed), "h", None, None) is failed


def test_the_fleet_table_reads_per_hub() -> None:
    rows = [FleetRow(hub="physics", environment="staging", wave="canary", from_version="4.1.6",
                     to_version="5.5.4", status="upgraded", downtime_seconds=8.25,
                     backup_id="B1"),
            FleetRow(hub="chemistry", environment="production", wave="production 1")]
    table = render_table(rows).splitlines()
    assert table[0].split() == ["hub", "wave", "from", "to", "outcome", "downtime", "backup"]
    assert table[1].split()[:2] == ["physics", "canary"] and "8.2 s" in table[1]
    assert "skipped" in table[2]
    assert rows[0].ok and not rows[1].ok
