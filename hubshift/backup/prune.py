"""Which backups of a hub to keep and which to delete: the retention rules as a pure plan.

`plan_prune` reads no store and deletes nothing, so that a dry run prints exactly what
`--yes` then does, and unit tests can check the rules with backups of chosen ages. The side
effects (reading the store, deleting, removing installs) live in `hubshift.pruning`.

The rules, in order: the newest backup is never deleted (the last way back); nor the backup
an unfinished upgrade's in-progress record names (its rollback needs it); nor the newest
`keep_last`; nor any backup younger than `keep_days` (a manual rollback's safety copy among
them: it holds rows written after the backup it replaced). A folder without a manifest is an
upload cut short, or one under way: deleted once older than a day and than `keep_days`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from pydantic import Field, model_validator

from hubshift.model import StrictModel

#: Folders of a hub that are backups (`new_backup_id`'s shape); others (results/) are not.
BACKUP_ID = re.compile(r"\d{8}T\d{6}Z")
#: How long a folder without a manifest may be an upload still under way.
INCOMPLETE_GRACE = dt.timedelta(days=1)


class RetentionConfig(StrictModel):
    """The fleet file's `retention:` (and a hub's own, which wins): what `hubshift prune`
    keeps."""

    keep_last: int | None = Field(
        None, ge=1, description="Keep the newest N backups of each hub, whatever their age")
    keep_days: int | None = Field(
        None, ge=0, description="Keep every backup younger than D days")

    @model_validator(mode="after")
    def _something(self) -> RetentionConfig:
        if self.keep_last is None and self.keep_days is None:
            raise ValueError("give keep_last, keep_days or both (e.g. {keep_last: 5, "
                             "keep_days: 30})")
        return self

    def describe(self) -> str:
        parts = [f"keep_last {self.keep_last}" if self.keep_last else "",
                 f"keep_days {self.keep_days}" if self.keep_days is not None else ""]
        return ", ".join(p for p in parts if p)


class NamesBackup(Protocol):
    """What the plan needs of an in-progress record: the backup its rollback restores."""

    @property
    def backup_id(self) -> str | None: ...


@dataclass(frozen=True)
class BackupAge:
    """One backup folder of a hub, as the rules see it."""

    backup_id: str
    created_at: dt.datetime  # the manifest's; for a folder without one, its newest object's
    size: int = 0
    safety: bool = False  # a manual rollback's safety copy
    complete: bool = True  # has a manifest


@dataclass(frozen=True)
class Decision:
    backup: BackupAge
    keep: bool
    why: str

    @property
    def action(self) -> str:
        return "keep" if self.keep else "delete"


@dataclass(frozen=True)
class PrunePlan:
    """Every backup of one hub, newest first, each with its decision and why."""

    decisions: list[Decision]

    @property
    def kept(self) -> list[BackupAge]:
        return [d.backup for d in self.decisions if d.keep]

    @property
    def deleted(self) -> list[BackupAge]:
        return [d.backup for d in self.decisions if not d.keep]


def plan_prune(backups: Iterable[BackupAge], record: NamesBackup | None, now: dt.datetime,
               retention: RetentionConfig) -> PrunePlan:
    """Keep or delete each of `backups` (any order) by `retention`, at time `now`; `record`
    is the unfinished upgrade's in-progress record, if any (a finished one names none)."""
    protected = record.backup_id if record is not None else None
    young = (dt.timedelta(days=retention.keep_days) if retention.keep_days is not None
             else None)
    ordered = sorted(backups, key=lambda b: (b.created_at, b.backup_id), reverse=True)
    complete = [b for b in ordered if b.complete]
    decisions = []
    for backup in ordered:
        age = now - backup.created_at
        reasons = []
        if backup.backup_id == protected:
            reasons.append("named by the in-progress record of an unfinished upgrade")
        if backup.complete:
            rank = complete.index(backup)
            if rank == 0:
                reasons.append("the newest backup")
            elif retention.keep_last is not None and rank < retention.keep_last:
                reasons.append(f"among the newest {retention.keep_last}")
            if young is not None and age < young:
                what = "a rollback's safety copy" if backup.safety else ""
                reasons.append(f"{what + ', ' if what else ''}younger than "
                               f"{retention.keep_days} days")
        elif age < max(INCOMPLETE_GRACE, young or INCOMPLETE_GRACE):
            reasons.append("no manifest yet: may be an upload under way")
        if reasons:
            decisions.append(Decision(backup, True, "; ".join(reasons)))
        else:
            decisions.append(Decision(backup, False, _why_delete(backup, retention)))
    return PrunePlan(decisions)


def _why_delete(backup: BackupAge, retention: RetentionConfig) -> str:
    if not backup.complete:
        return "incomplete: no manifest (an upload cut short)"
    rules = []
    if retention.keep_last is not None:
        rules.append(f"not among the newest {retention.keep_last}")
    if retention.keep_days is not None:
        rules.append(f"older than {retention.keep_days} days")
    return ", ".join(rules)
