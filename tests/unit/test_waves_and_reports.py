"""Waves, the failure budget, the fleet table, and the result a hub's report carries."""

from __future__ import annotations

from hubshift.config import HubConfig
from hubshift.fleet.report import FleetRow, render_table
from hubshift.fleet.waves import FailureBudget, plan_waves
from hubshift.report import render_markdown, result_from_markdown
from hubshift.result import StepTiming, UpgradeResult


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


def test_the_report_carries_the_result_back() -> None:
    result = UpgradeResult(hub="physics", status="rolled-back", from_version="4.1.6",
                           to_version="5.5.4", backup_id="20261121T030000Z",
                           downtime_seconds=9.5, error="fault --> injected",
                           steps=[StepTiming(name="stop", seconds=0.5)])
    markdown = render_markdown(result)
    assert "# Upgrade of `physics`: rolled-back" in markdown
    assert result_from_markdown(markdown) == result
    assert result_from_markdown("# something else") is None


def test_the_fleet_table_reads_per_hub() -> None:
    rows = [FleetRow(hub="physics", environment="staging", wave="canary", from_version="4.1.6",
                     to_version="5.5.4", outcome="upgraded", downtime_seconds=8.25,
                     backup_id="B1"),
            FleetRow(hub="chemistry", environment="production", wave="production 1")]
    table = render_table(rows).splitlines()
    assert table[0].split() == ["hub", "wave", "from", "to", "outcome", "downtime", "backup"]
    assert table[1].split()[:2] == ["physics", "canary"] and "8.2 s" in table[1]
    assert "skipped" in table[2]
    assert rows[0].ok and not rows[1].ok
