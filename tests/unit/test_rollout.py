"""A fleet's rollout between waves: when it asks for a go, what an answer (or none) means,
what a soak sees, and what becomes of a hub that fails it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pydantic
import pytest

from hubshift.config import load_fleet
from hubshift.errors import ConfigError
from hubshift.fleet.report import FleetRow, render_table
from hubshift.fleet.rollout import Answer, RolloutConfig, asks_approval, gate_note
from hubshift.fleet.soak import soak, soak_failed, soak_rolled_back
from hubshift.fleet.waves import FailureBudget
from hubshift.result import Status
from tests.unit.test_config import HUB, _write


@pytest.mark.parametrize(("approve", "asked"), [
    ("none", [False, False, False]),
    ("after-canary", [True, False, False]),
    ("every-wave", [True, True, False]),  # never after the last wave: nothing is left
])
def test_a_gate_is_asked_where_the_rollout_says_and_never_after_the_last_wave(
        approve, asked) -> None:
    waves = [True, False, False]  # canary, production 1, production 2
    assert [asks_approval(approve, i, canary, len(waves))
            for i, canary in enumerate(waves)] == asked


def test_a_fleet_without_a_canary_asks_nothing_after_canary() -> None:
    assert not asks_approval("after-canary", 0, False, 3)


def test_a_gate_goes_on_only_with_an_answer_that_says_so() -> None:
    assert gate_note(None, 3) == (False, "stopped: no approval within 3 s")
    assert gate_note(Answer(go_on=True, comment=" looks fine "), 3) == (
        True, "approved: looks fine")
    assert gate_note(Answer(go_on=True), 3) == (True, "approved")
    assert gate_note(Answer(go_on=False, comment="5xx on physics"), 3) == (
        False, "stopped by an admin: 5xx on physics")


def test_the_fleet_file_rollout_section_loads_and_flags_override_it(tmp_path: Path) -> None:
    path = _write(tmp_path, [HUB], rollout={"approve": "every-wave", "soak_minutes": 0.5})
    fleet = load_fleet(path, env={"PHYSICS_TOKEN": "t"})
    assert fleet.rollout == RolloutConfig(approve="every-wave", soak_minutes=0.5)
    merged = fleet.rollout.merged(approve=None, on_soak_failure="rollback")
    assert (merged.approve, merged.on_soak_failure) == ("every-wave", "rollback")
    assert load_fleet(_write(tmp_path, [HUB]), env={"PHYSICS_TOKEN": "t"}).rollout == (
        RolloutConfig())
    with pytest.raises(pydantic.ValidationError):
        RolloutConfig().merged(approve_timeout=0)


def test_a_bad_rollout_value_names_its_key(tmp_path: Path) -> None:
    path = _write(tmp_path, [HUB], rollout={"approve": "sometimes"})
    with pytest.raises(ConfigError, match=r"key rollout\.approve: .*'none'"):
        load_fleet(path, env={"PHYSICS_TOKEN": "t"})


@dataclass(frozen=True)
class _Hub:
    name: str
    own_api_url: str = "http://127.0.0.1:1/hub/api"


def test_a_soak_reports_each_hub_that_failed_a_look_and_looks_no_more_at_it() -> None:
    looks: list[str] = []
    down_after = time.monotonic() + 0.15

    def look(hub, version) -> str | None:
        looks.append(hub.name)
        if hub.name == "chem" and time.monotonic() > down_after:
            return "its health check did not answer 200"
        return None

    begin = time.monotonic()
    failed = soak([(_Hub("physics"), "6.1.1"), (_Hub("chem"), "6.1.1")], 0.5, look=look,
                  interval=0.05)
    assert failed == {"chem": "its health check did not answer 200"}
    assert 0.5 <= time.monotonic() - begin < 2
    chem_looks = looks.count("chem")
    assert chem_looks < looks.count("physics")  # not looked at once it failed


def test_a_soak_of_a_hub_that_does_not_answer_fails_it() -> None:
    assert soak([(_Hub("gone"), "6.1.1")], 0) == {
        "gone": "its health check did not answer 200"}


def test_a_hub_failing_its_soak_counts_once_against_the_budget() -> None:
    budget = FailureBudget(0)
    budget.record("chem", ok=True)
    assert not budget.exhausted
    budget.fail_later("chem")
    budget.fail_later("chem")
    assert (budget.failed, budget.attempted, budget.exhausted) == (1, 1, True)


def test_a_soak_failure_row_says_why_and_what_to_run() -> None:
    row = FleetRow(hub="chem", environment="production", wave="production 1",
                   from_version="4.1.6", to_version="6.1.1", status=Status.UPGRADED,
                   backup_id="20261201T200000Z-abc", note="approved: fine")
    left = soak_failed(row, "its API did not answer", "/srv/fleet.yaml")
    assert left.status is Status.NEEDS_OPERATOR and not left.ok
    assert left.note == "approved: fine; failed its soak: its API did not answer"
    assert left.next_command == ("hubshift rollback --hub chem --backup "
                                 "20261201T200000Z-abc --yes -f /srv/fleet.yaml")
    rolled = soak_rolled_back(row, "its API did not answer", "4.1.6")
    assert rolled.status is Status.ROLLED_BACK and "runs JupyterHub 4.1.6" in rolled.hub_state
    assert rolled.note.endswith("failed its soak: its API did not answer; rolled back")
    assert render_table([rolled]).splitlines()[0].split()[-1] == "note"
    assert "note" not in render_table([row.model_copy(update={"note": None})])


def test_the_fleet_deployment_form_offers_the_rollout_with_descriptions() -> None:
    from prefect.utilities.callables import parameter_schema

    from flows.fleet_upgrade import fleet_upgrade

    props = parameter_schema(fleet_upgrade.fn).model_dump()["properties"]
    assert props["approve"]["anyOf"][0]["enum"] == ["none", "after-canary", "every-wave"]
    assert props["on_soak_failure"]["anyOf"][0]["enum"] == ["stop", "rollback"]
    for name in ("approve", "approve_timeout", "soak_minutes", "on_soak_failure"):
        assert props[name]["default"] is None  # None: the fleet file's rollout decides
        assert "rollout." in " ".join(props[name]["description"].split())
