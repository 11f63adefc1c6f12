"""The outcome of one hub's upgrade, as the CLI's --json, the artifact and the tests see it."""

from __future__ import annotations

import shlex
from pathlib import Path

from pydantic import BaseModel, Field

from hubshift.errors import HubshiftError
from hubshift.window.servers import ServersOutcome

#: status -> CLI exit code (DESIGN: 0 done, 1 failed and rolled back / untouched,
#: 2 refused before anything was touched, 3 operator needed).
EXIT_CODES = {"upgraded": 0, "up-to-date": 0, "failed": 1, "rolled-back": 1, "refused": 2,
              "needs-operator": 3}


class StepTiming(BaseModel):
    name: str
    seconds: float
    ok: bool = True


class UpgradeResult(BaseModel):
    hub: str
    status: str = Field(description="upgraded, up-to-date, failed, rolled-back, refused, "
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
    safety_backup_id: str | None = Field(
        None, description="A manual rollback's backup of the hub as it was before the restore")
    discards: list[str] = Field(
        default_factory=list, description="What a manual rollback's restore discards, per table")
    warnings: list[str] = Field(
        default_factory=list,
        description="What went wrong after the outcome was settled (the record could not be "
        "cleared, say): worth a look, never a change of outcome")
    flow_run_id: str | None = Field(None, description="The Prefect flow run, for its UI page")
    error: str | None = None
    failed_step: str | None = None
    # The operator's last three lines after a failure, filled where the flow knows them.
    cause: str | None = Field(None, description="What failed and why, in one sentence")
    hub_state: str | None = Field(None, description="Where the hub stands now")
    next_command: str | None = Field(None, description="The one command to run next")

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.status, 3)


def command(verb: str, hub: str, fleet_file: str | Path | None = None, *args: str) -> str:
    """The `hubshift` command line an operator runs next, e.g.
    `hubshift rollback --hub physics --backup 2026... -f /srv/fleet.yaml` (no -f for the
    default fleet file)."""
    words = ["hubshift", verb, "--hub", hub, *args]
    if fleet_file is not None and Path(fleet_file) != Path("fleet.yaml"):
        words += ["-f", str(fleet_file)]
    return " ".join(shlex.quote(word) for word in words)


class UpgradeFailed(HubshiftError):
    """The upgrade did not complete; `result` says how the hub was left."""

    def __init__(self, result: UpgradeResult) -> None:
        super().__init__(result.error or "upgrade failed", hub=result.hub,
                         step=result.failed_step)
        self.result = result
        self.exit_code = result.exit_code
