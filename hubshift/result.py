"""The outcome of one hub's upgrade, as the CLI's --json, the artifact and the tests see it."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field

from hubshift.errors import HubshiftError
from hubshift.system.redact import redact
from hubshift.window.servers import ServersOutcome


class Status(StrEnum):
    """How a hub's run ended: the one vocabulary of results, fleet rows and exit codes."""

    UPGRADED = "upgraded"
    UP_TO_DATE = "up-to-date"
    #: Failed before the stop: the hub was never touched and runs its old version.
    FAILED = "failed"
    ROLLED_BACK = "rolled-back"
    #: Refused before anything was touched: bad input, the early guard, the lock, preflight.
    REFUSED = "refused"
    NEEDS_OPERATOR = "needs-operator"
    #: A fleet's hub that was never started (a staging hub failed, or the budget was spent).
    SKIPPED = "skipped"
    #: `hubshift rehearse`: the upgrade went through on a copy; the hub was not touched.
    REHEARSED = "rehearsed"
    #: `hubshift move-db`: the hub runs on its new database, the same version.
    MOVED = "moved"
    #: Not started: it could not finish inside its maintenance window (hub untouched;
    #: `next_window` says when the next one opens). Not a failure: exit 0.
    DEFERRED = "deferred"


#: status -> CLI exit code, the one mapping (DESIGN: 0 done, 1 failed and the hub runs its
#: old version, 2 refused before anything was touched, 3 operator needed).
EXIT_CODES: dict[Status, int] = {
    Status.UPGRADED: 0, Status.UP_TO_DATE: 0, Status.FAILED: 1, Status.ROLLED_BACK: 1,
    Status.SKIPPED: 1, Status.REFUSED: 2, Status.NEEDS_OPERATOR: 3, Status.REHEARSED: 0,
    Status.MOVED: 0,
    Status.DEFERRED: 0,
}
#: Exit codes from the least to the most serious: a fleet exits with its worst hub's.
SEVERITY = (0, 2, 1, 3)


def exit_code(status: Status) -> int:
    return EXIT_CODES[status]


def fleet_exit_code(statuses: Iterable[Status]) -> int:
    """The exit code of a fleet run: its most serious hub's (0 when there is none). A
    rolled-back hub (1) outranks a refused one (2): it went through a window and failed."""
    return max((exit_code(s) for s in statuses), key=SEVERITY.index, default=0)


class StepTiming(BaseModel):
    name: str
    seconds: float
    ok: bool = True


class Rehearsal(BaseModel):
    """The upgrade done first on a copy of the hub's database while the hub runs: how long
    it took (an estimate of the coming downtime: migrate + start) and how it ended."""

    status: str = Field("rehearsed", description="rehearsed, failed or skipped")
    seconds: float | None = Field(None, description="The whole rehearsal, copy and cleanup "
                                  "included (the hub was up all along)")
    copy_seconds: float | None = Field(None, description="The copy of the live database")
    migrate_seconds: float | None = Field(None, description="Every hop's upgrade-db on the copy")
    start_seconds: float | None = Field(
        None, description="The target's start on the migrated copy, until its API answered")
    engine: str | None = None
    hops: list[str] = Field(default_factory=list)
    migrations_run: list[str] = Field(default_factory=list,
                                      description="Revisions alembic's log says it ran")
    failed_at: str | None = Field(None, description="Where it failed: copy, migrate "
                                  "<version>, start or verify")
    skipped: str | None = Field(None, description="Why it did not run (a grant missing)")
    cleaned: list[str] = Field(default_factory=list,
                               description="Leftovers of an interrupted rehearsal, removed")
    warnings: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        if self.status == "skipped":
            return f"skipped: {self.skipped}"
        times = [f"{label} {value:.1f} s" for label, value in (
            ("copy", self.copy_seconds), ("migrate", self.migrate_seconds),
            ("start", self.start_seconds)) if value is not None]
        where = f" at {self.failed_at}" if self.failed_at else ""
        total = f"{self.seconds:.1f} s" if self.seconds is not None else "?"
        return f"{self.status}{where} in {total} ({', '.join(times) or 'nothing timed'})"


class UpgradeResult(BaseModel):
    hub: str
    status: Status = Field(description="upgraded, up-to-date, failed, rolled-back, refused, "
                                       "needs-operator")
    from_version: str | None = None
    to_version: str | None = None
    backup_id: str | None = None
    downtime_seconds: float | None = None
    wall_seconds: float | None = None
    from_revision: str | None = None
    to_revision: str | None = None
    migrations: list[str] = Field(default_factory=list,
                                  description="Revisions the plan said upgrade-db would run")
    migrations_run: list[str] = Field(default_factory=list,
                                      description="Revisions alembic's log says it ran")
    hops: list[str] = Field(default_factory=list,
                            description="Releases whose upgrade-db ran, in order")
    steps: list[StepTiming] = Field(default_factory=list)
    counts_before: dict[str, int] = Field(default_factory=dict)
    counts_after: dict[str, int] = Field(default_factory=dict)
    servers: ServersOutcome | None = Field(
        None, description="Users' servers ready before the stop: kept, stopped or lost")
    rehearsal: Rehearsal | None = Field(
        None, description="The upgrade rehearsed on a copy before the window (hub up)")
    safety_backup_id: str | None = Field(
        None, description="A manual rollback's backup of the hub as it was before the restore")
    discards: list[str] = Field(
        default_factory=list, description="What a manual rollback's restore discards, per table")
    warnings: list[str] = Field(
        default_factory=list,
        description="What went wrong after the outcome was settled (the record could not be "
        "cleared, say): worth a look, never a change of outcome")
    flow_run_id: str | None = Field(None, description="The Prefect flow run, for its UI page")
    next_window: str | None = Field(
        None, description="A deferred run: when the hub's next maintenance window opens "
        "(ISO 8601, the schedule's time zone)")
    error: str | None = None
    failed_step: str | None = None
    # The operator's last three lines after a failure, filled where the flow knows them.
    cause: str | None = Field(None, description="What failed and why, in one sentence")
    hub_state: str | None = Field(None, description="Where the hub stands now")
    next_command: str | None = Field(None, description="The one command to run next")

    @property
    def exit_code(self) -> int:
        return exit_code(self.status)


def command(verb: str, hub: str, fleet_file: str | Path | None = None, *args: str) -> str:
    """The `hubshift` command line an operator runs next, e.g.
    `hubshift rollback --hub physics --backup 2026... -f /srv/fleet.yaml` (no -f for the
    default fleet file); `verb` may be two words (`hub status`)."""
    words = ["hubshift", *verb.split(), "--hub", hub, *args]
    if fleet_file is not None and Path(fleet_file) != Path("fleet.yaml"):
        words += ["-f", str(fleet_file)]
    return " ".join(shlex.quote(word) for word in words)


def ended_early(err: BaseException, hub: str, fleet_file: str | Path | None,
                target: str | None, flow_run_id: str | None = None) -> UpgradeResult:
    """The result of a run that `err` ended before its window: refused (exit 2: bad input,
    the early guard, the lock, preflight), failed with the hub untouched (any other
    hubshift error raised that early), or needs-operator for an error nobody expected,
    since then nobody can say how the hub was left."""
    if isinstance(err, UpgradeFailed):
        return err.result
    if not isinstance(err, HubshiftError):
        return UpgradeResult(
            hub=hub, status=Status.NEEDS_OPERATOR, to_version=target,
            flow_run_id=flow_run_id, error=redact(f"{type(err).__name__}: {err}"),
            hub_state="unknown: the run ended with an unexpected error",
            next_command=command("hub status", hub, fleet_file))
    status = {2: Status.REFUSED, 1: Status.FAILED}.get(err.exit_code, Status.NEEDS_OPERATOR)
    return UpgradeResult(
        hub=hub, status=status, to_version=target, flow_run_id=flow_run_id,
        error=redact(str(err)), failed_step=err.step,
        cause=err.cause if err.hint is None else f"{err.cause} ({err.hint})",
        hub_state=err.hub_state or (f"not touched: hub {hub} runs as it did before"
                                    if status is not Status.NEEDS_OPERATOR else None),
        next_command=err.next_command or command(
            "plan", hub, fleet_file, *(["--to", target] if target else [])))


class UpgradeFailed(HubshiftError):
    """The upgrade did not complete; `result` says how the hub was left."""

    def __init__(self, result: UpgradeResult) -> None:
        super().__init__(result.error or "upgrade failed", hub=result.hub,
                         step=result.failed_step)
        self.result = result
        self.exit_code = result.exit_code
