"""The Prefect side of a fleet's rollout: the approval gate (a paused flow run waiting for
a small form in the UI, or `hubshift approve`), the soak of a wave, and the artifacts that
show a running fleet (progress, the table so far).

The gate and the artifacts are plain calls, not tasks: a pause belongs to the flow run, and
an artifact that cannot be written is a warning, never a change of the fleet's course.
"""

from __future__ import annotations

from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import (
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.context import FlowRunContext
from prefect.deployments import run_deployment
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run, resume_flow_run
from prefect.input import RunInput
from prefect.settings import PREFECT_API_URL
from prefect.states import Running

from hubshift import events
from hubshift.config import HubConfig
from hubshift.fleet import rollout, soak
from hubshift.fleet.report import FleetRow, render_table
from tasks import note, step
from tasks.fleet import flow_run_link

#: The key of the fleet's table artifact (one per run, published again as hubs end).
TABLE_KEY = "fleet-upgrade"
PROGRESS_KEY = "fleet-progress"
#: How often a paused fleet asks the server whether it was resumed.
POLL_SECONDS = 1


class Decision(RunInput):
    """The form the Prefect UI shows at a gate."""

    go_on: bool = True
    comment: str = ""


def table(rows: list[FleetRow]) -> list[dict[str, object]]:
    """The rows as the table artifact shows them."""
    return [row.model_dump(exclude={"status", "error", "failed_step", "cause", "hub_state",
                                    "next_command"}) for row in rows]


def publish_table(rows: list[FleetRow]) -> None:
    """The table so far, under the fleet's key (the UI shows the newest)."""
    try:
        create_table_artifact(key=TABLE_KEY, table=table(rows),
                              description="Fleet upgrade: one row per hub")
    except Exception as err:
        get_run_logger().warning("the fleet table could not be published: %s", err)


class Progress:
    """The fleet's progress artifact: hubs done out of the total."""

    def __init__(self, total: int) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.artifact: UUID | None = None
        try:
            self.artifact = create_progress_artifact(
                0.0, key=PROGRESS_KEY, description=f"Fleet upgrade: hubs done of {total}")
        except Exception as err:
            get_run_logger().warning("the fleet's progress could not be published: %s", err)

    def hub_ended(self) -> None:
        self.done += 1
        if self.artifact is None:
            return
        try:
            update_progress_artifact(self.artifact, 100.0 * self.done / self.total)
        except Exception as err:
            get_run_logger().warning("the fleet's progress could not be updated: %s", err)


def approve_command(run_id: str) -> str:
    """The command line that answers the gate of run `run_id` without the UI."""
    api = PREFECT_API_URL.value()
    prefix = f"PREFECT_API_URL={api} " if api else ""
    return f"{prefix}hubshift approve --run {run_id} [--stop] [--comment TEXT]"


def wait_for_approval(rows: list[FleetRow], after: str, before: str,
                      timeout: float) -> rollout.Answer | None:
    """Pause this flow run until a person answers (None: nobody did within `timeout`).
    The form's description holds the table so far; on a timeout the run is set running
    again, so that it reports the stop and ends as a completed run."""
    context = FlowRunContext.get()
    run_id = str(context.flow_run.id) if context and context.flow_run else "?"
    description = (f"**Wave {after} is done. Start wave {before}?** Resume with go_on "
                   f"(untick it to stop the fleet) and a comment for the report.\n\n"
                   f"```\n{render_table(rows)}\n```")
    where = (f"waiting up to {timeout:g} s for an approval to start wave {before}: resume "
             f"flow run {flow_run_link(run_id) or run_id} in the Prefect UI, or run "
             f"`{approve_command(run_id)}`")
    get_run_logger().info("%s", where)
    events.emit(events.Notice(None, where))
    try:
        answer = pause_flow_run(
            wait_for_input=Decision.with_initial_data(description=description, go_on=True),
            timeout=max(1, round(timeout)), poll_interval=POLL_SECONDS)
    except FlowPauseTimeout:
        _running_again(run_id)
        return None
    return rollout.Answer(go_on=answer.go_on, comment=answer.comment)


def _running_again(run_id: str) -> None:
    """A pause that timed out leaves the run Paused on the server: set it Running."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(run_id), Running(), force=True)


def answer(run_id: str, go_on: bool, comment: str) -> None:
    """Answer the gate of paused fleet run `run_id` (what the UI's Resume form does)."""
    resume_flow_run(UUID(run_id), run_input={"go_on": go_on, "comment": comment})


@step("soak", timeout_seconds=24 * 3600)
def soak_wave(hubs: list[tuple[HubConfig, str | None]], seconds: float) -> dict[str, str]:
    """Watch the upgraded hubs of a wave for `seconds` (see `soak.soak`)."""
    failed = soak.soak(hubs, seconds)
    note("soaked %d hub(s) for %g s: %s", len(hubs), seconds,
         "; ".join(f"{hub} failed: {why}" for hub, why in failed.items()) or "all healthy")
    return failed


#: The admins' rollback deployment (deployments/build.py), its fleet file filled in.
ROLLBACK_DEPLOYMENT = "rollback-hub/rollback"


@step("soak-rollback", timeout_seconds=6 * 3600)
def rollback_through_deployment(hub: str, backup_id: str, reason: str) -> str | None:
    """Roll `hub` back to `backup_id` on its own host's worker, confirmed (a run of its own:
    it holds the hub and keeps a safety backup of it first); None once done, else what its
    run's state says."""
    run = run_deployment(ROLLBACK_DEPLOYMENT, timeout=None, poll_interval=2, parameters={
        "hub": hub, "backup_id": backup_id, "reason": reason, "confirm": True})
    if run.state is not None and run.state.is_completed():
        note("hub %s rolled back to backup %s by flow run %s", hub, backup_id, run.id)
        return None
    return (run.state.message if run.state else None) or f"flow run {run.id} did not complete"
