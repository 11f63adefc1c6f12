"""One row per hub of a fleet upgrade: the Prefect table artifact and the CLI table."""

from __future__ import annotations

from pydantic import BaseModel, computed_field

from hubshift.result import Status, UpgradeResult, exit_code

#: How each status reads in the fleet table.
OUTCOMES = {Status.UPGRADED: "upgraded", Status.UP_TO_DATE: "up to date",
            Status.ROLLED_BACK: "rolled back", Status.FAILED: "failed (hub untouched)",
            Status.REFUSED: "refused", Status.NEEDS_OPERATOR: "needs operator",
            Status.SKIPPED: "skipped", Status.REHEARSED: "rehearsed",
            Status.MOVED: "moved",
            Status.DEFERRED: "deferred (outside its window)"}


class FleetRow(BaseModel):
    hub: str
    environment: str
    wave: str
    from_version: str | None = None
    to_version: str | None = None
    status: Status = Status.SKIPPED
    downtime_seconds: float | None = None
    backup_id: str | None = None
    flow_run: str | None = None
    error: str | None = None
    # A failed hub's last lines for the operator (see UpgradeResult).
    failed_step: str | None = None
    cause: str | None = None
    hub_state: str | None = None
    next_command: str | None = None
    #: Why the row is as it is beyond its status: skipped because..., an approval's
    #: comment, a failed soak (the table artifact and the CLI table show it).
    note: str | None = None

    @classmethod
    def from_result(cls, result: UpgradeResult, *, environment: str, wave: str,
                    link: str | None) -> FleetRow:
        return cls(hub=result.hub, environment=environment, wave=wave,
                   from_version=result.from_version, to_version=result.to_version,
                   status=result.status,
                   downtime_seconds=result.downtime_seconds, backup_id=result.backup_id,
                   flow_run=link, error=result.error, failed_step=result.failed_step,
                   cause=result.cause, hub_state=result.hub_state,
                   next_command=result.next_command)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def outcome(self) -> str:
        """The status as the table reads it."""
        return OUTCOMES[self.status]

    @property
    def ok(self) -> bool:
        """Upgraded or already up to date: nothing for the next wave to fear."""
        return exit_code(self.status) == 0

    def summary(self) -> str:
        """How the hub ended, in one line (the terminal's line when it finishes)."""
        text = self.outcome
        if self.from_version or self.to_version:
            text += f" {self.from_version or '?'} -> {self.to_version or '?'}"
        if self.downtime_seconds is not None:
            text += f", downtime {self.downtime_seconds:.1f} s"
        if not self.ok and (self.cause or self.error):
            at = f" at {self.failed_step}" if self.failed_step else ""
            text += f"{at}: {self.cause or self.error}"
        return text


def render_table(rows: list[FleetRow]) -> str:
    """A plain-text table for the terminal."""
    notes = any(r.note for r in rows)  # the column only where a row has one
    header = ("hub", "wave", "from", "to", "outcome", "downtime", "backup", *(
        ("note",) if notes else ()))
    lines = [header] + [
        (r.hub, r.wave, r.from_version or "-", r.to_version or "-", r.outcome,
         f"{r.downtime_seconds:.1f} s" if r.downtime_seconds is not None else "-",
         r.backup_id or "-", *((r.note or "-",) if notes else ()))
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in lines) for i in range(len(header))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True))
                     .rstrip() for line in lines)
