"""The retention rules as a pure plan: backups of chosen ages, kept or deleted, and why."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hubshift.backup.prune import BackupAge, RetentionConfig, plan_prune

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.timezone.utc)


@dataclass
class Record:
    backup_id: str | None


def backup(days: float, *, safety: bool = False, complete: bool = True) -> BackupAge:
    moment = NOW - dt.timedelta(days=days)
    return BackupAge(moment.strftime("%Y%m%dT%H%M%SZ"), moment, safety=safety,
                     complete=complete)


def decide(backups, retention, record=None) -> dict[str, tuple[str, str]]:
    plan = plan_prune(backups, record, NOW, RetentionConfig(**retention))
    return {d.backup.backup_id: (d.action, d.why) for d in plan.decisions}


def actions(backups, retention, record=None) -> list[str]:
    """Each backup's action, in the order of `backups`."""
    decided = decide(backups, retention, record)
    return [decided[b.backup_id][0] for b in backups]


def test_keep_last_keeps_the_newest_n_whatever_their_age() -> None:
    ages = [backup(d) for d in (400, 300, 200, 100, 90)]
    assert actions(ages, {"keep_last": 2}) == ["delete"] * 3 + ["keep"] * 2
    assert decide(ages, {"keep_last": 2})[ages[0].backup_id][1] == "not among the newest 2"


def test_keep_days_keeps_every_younger_backup() -> None:
    ages = [backup(d) for d in (40, 31, 29.9, 3, 0.1)]
    assert actions(ages, {"keep_days": 30}) == ["delete", "delete", "keep", "keep", "keep"]


def test_a_backup_is_kept_by_either_rule() -> None:
    ages = [backup(d) for d in (90, 60, 45, 20, 10)]
    assert actions(ages, {"keep_last": 3, "keep_days": 30}) == [
        "delete", "delete", "keep", "keep", "keep"]
    assert actions(ages, {"keep_last": 1, "keep_days": 50}) == [
        "delete", "delete", "keep", "keep", "keep"]


def test_the_newest_backup_is_never_deleted_however_old() -> None:
    ages = [backup(d) for d in (900, 800)]
    decided = decide(ages, {"keep_days": 0})
    assert decided[ages[1].backup_id] == ("keep", "the newest backup")
    assert decided[ages[0].backup_id][0] == "delete"
    assert actions([backup(999)], {"keep_last": 1, "keep_days": 0}) == ["keep"]


def test_the_backup_of_an_unfinished_upgrade_is_kept() -> None:
    ages = [backup(d) for d in (500, 400, 300)]
    record = Record(ages[0].backup_id)
    assert actions(ages, {"keep_last": 1}, record) == ["keep", "delete", "keep"]
    assert "in-progress record" in decide(ages, {"keep_last": 1}, record)[ages[0].backup_id][1]
    # A record that names no backup yet (or a finished one, which reads as None) keeps none.
    assert actions(ages, {"keep_last": 1}, Record(None)) == ["delete", "delete", "keep"]


def test_a_safety_copy_is_kept_while_younger_than_keep_days_then_pruned() -> None:
    ages = [backup(100), backup(50, safety=True), backup(5, safety=True), backup(1)]
    decided = decide(ages, {"keep_last": 1, "keep_days": 10})
    assert [decided[b.backup_id][0] for b in ages] == ["delete", "delete", "keep", "keep"]
    assert decided[ages[2].backup_id][1] == "a rollback's safety copy, younger than 10 days"


def test_an_incomplete_folder_is_kept_a_day_then_deleted_and_never_counts_as_newest() -> None:
    ages = [backup(300), backup(200, complete=False), backup(0.5, complete=False)]
    decided = decide(ages, {"keep_last": 1})
    assert [decided[b.backup_id][0] for b in ages] == ["keep", "delete", "keep"]
    assert decided[ages[0].backup_id][1] == "the newest backup"
    assert decided[ages[1].backup_id][1] == "incomplete: no manifest (an upload cut short)"
    assert "upload under way" in decided[ages[2].backup_id][1]


def test_the_plan_lists_newest_first_and_splits_kept_and_deleted() -> None:
    ages = [backup(d) for d in (1, 100, 50)]
    plan = plan_prune(ages, None, NOW, RetentionConfig(keep_last=2))
    assert [d.backup for d in plan.decisions] == [ages[0], ages[2], ages[1]]
    assert plan.kept == [ages[0], ages[2]] and plan.deleted == [ages[1]]
    assert plan_prune([], None, NOW, RetentionConfig(keep_last=2)).decisions == []
