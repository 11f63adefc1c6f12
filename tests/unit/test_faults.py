"""The fault seam: one variable, read in one place, scoped to upgrade or rollback steps."""

from __future__ import annotations

import pytest

from hubshift.errors import ConfigError
from hubshift.faults import InjectedFault, inject


def _probe(calls: list[str]):
    def work(x: int) -> int:
        calls.append("ran")
        return x * 2
    return work


def test_no_fault_means_the_step_just_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSHIFT_FAULT", raising=False)
    calls: list[str] = []
    assert inject("migrate", _probe(calls))(21) == 42 and calls == ["ran"]


def test_raise_fails_before_and_after_fails_once_the_work_is_done(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSHIFT_FAULT", "backup:raise, migrate:after")
    before: list[str] = []
    with pytest.raises(InjectedFault, match="before backup"):
        inject("backup", _probe(before))(1)
    assert before == []
    after: list[str] = []
    with pytest.raises(InjectedFault, match="after migrate"):
        inject("migrate", _probe(after))(1)
    assert after == ["ran"]


def test_rollback_scope_is_separate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSHIFT_FAULT", "rollback.start:raise")
    calls: list[str] = []
    assert inject("start", _probe(calls))(1) == 2  # the upgrade's start is spared
    with pytest.raises(InjectedFault):
        inject("start", _probe(calls), scope=lambda: ("rollback", None))(1)


def test_a_fault_can_single_out_one_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSHIFT_FAULT", "chemistry/migrate:raise")
    calls: list[str] = []
    assert inject("migrate", _probe(calls), scope=lambda: ("", "physics"))(1) == 2
    with pytest.raises(InjectedFault):
        inject("migrate", _probe(calls), scope=lambda: ("", "chemistry"))(1)


@pytest.mark.parametrize("spec", ["migrate", "migrate:explode", ":raise"])
def test_a_malformed_fault_is_a_config_error(monkeypatch: pytest.MonkeyPatch,
                                             spec: str) -> None:
    monkeypatch.setenv("HUBSHIFT_FAULT", spec)
    with pytest.raises(ConfigError, match="HUBSHIFT_FAULT"):
        inject("migrate", _probe([]))(1)


def test_pause_holds_the_run_after_the_step_until_its_file_goes(
        monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import threading

    held = tmp_path / "hold"
    held.touch()
    monkeypatch.setenv("HUBSHIFT_FAULT", "snapshot:pause")
    monkeypatch.setenv("HUBSHIFT_FAULT_PAUSE", str(held))
    seen: list[str] = []

    def let_go() -> None:
        reached = tmp_path / "hold.reached"
        while not reached.exists():
            pass
        seen.append(f"paused after {reached.read_text()}, the step done: {calls}")
        held.unlink()

    calls: list[str] = []
    helper = threading.Thread(target=let_go)
    helper.start()
    assert inject("snapshot", _probe(calls))(4) == 8
    helper.join(5)
    assert seen == ["paused after snapshot, the step done: ['ran']"]


def test_pause_without_its_file_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSHIFT_FAULT", "snapshot:pause")
    monkeypatch.delenv("HUBSHIFT_FAULT_PAUSE", raising=False)
    with pytest.raises(ConfigError, match="HUBSHIFT_FAULT_PAUSE"):
        inject("snapshot", _probe([]))(1)
