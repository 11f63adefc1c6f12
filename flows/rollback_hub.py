"""rollback_hub: bring a hub back to a backup — after a failed upgrade, or on an admin's
request from the Prefect UI or `hubshift rollback`.

The backup is fetched and verified before the hub is touched. Every step is safe to repeat,
so the flow can be run again after a crash; it finishes what an interrupted upgrade left.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext

from hubshift import events
from hubshift.backup.restore import describe
from hubshift.config import load_fleet
from hubshift.errors import RollbackError
from hubshift.result import UpgradeResult, command
from hubshift.timeline import Timeline
from tasks.hub import start, stop
from tasks.lock import free_slot
from tasks.progress import clear_record, read_record
from tasks.rollback import fetch, old_install, restore
from tasks.switch import switch
from tasks.verify import verify_rows, wait_healthy


@flow(name="rollback-hub", flow_run_name="rollback-{hub}")
def rollback_hub(hub: str, backup_id: str = "latest", reason: str = "",
                 fleet_file: str = "fleet.yaml") -> UpgradeResult:
    """Restore a hub to a backup and start it on the version the backup was taken from.

    Raises RollbackError (exit 3) saying where the hub stands when a step cannot finish.

    Args:
        hub: Name of the hub in the fleet file.
        backup_id: Backup to restore (`hubshift backups` lists them); `latest` means the
            backup of an interrupted upgrade if there is one, else the newest.
        reason: Why, for the logs.
        fleet_file: The fleet file describing storage, notifications and hubs.
    """
    fleet = load_fleet(fleet_file)
    config = fleet.hub(hub)
    timeline = Timeline(hub)
    # Inside an upgrade, the upgrade marks the downtime; on its own, the rollback does.
    alone = not _inside_an_upgrade()
    if reason:
        get_run_logger().warning("rolling back hub %s: %s", hub, reason,
                                 extra=events.SAID_ELSEWHERE)
    try:
        pending = timeline.run("read-record", read_record, fleet, config)
        if backup_id == "latest" and pending is not None and pending.backup_id is None:
            # The run died before its backup: the database was never changed.
            version, path, folder, manifest = (pending.from_version, pending.from_install,
                                               None, None)
            down_at = _went_down(hub) if alone else None
            timeline.run("stop", stop, config)
        else:
            if backup_id == "latest" and pending is not None:
                backup_id = pending.backup_id or backup_id
            manifest, folder = timeline.run("fetch", fetch, fleet, config, backup_id)
            version, path = manifest.from_version, manifest.from_install
            down_at = _went_down(hub) if alone else None
            timeline.run("stop", stop, config)
            timeline.run("restore", restore, config, manifest, folder)
        install = timeline.run("old-install", old_install, config, version, path, folder)
        timeline.run("switch-back", switch, config, install)
        timeline.run("start", start, config)
        timeline.run("wait-healthy", wait_healthy, config, version)
        if down_at is not None:
            events.emit(events.DowntimeEnded(hub, round(time.monotonic() - down_at, 3)))
        if manifest is not None:
            timeline.run("verify", verify_rows, config, manifest)
        timeline.run("clear-record", clear_record, fleet, config)
        if pending is not None and alone:
            # The record was left by a run that died holding the hub's slot: free it.
            free_slot(hub)
    except Exception as err:
        done = [s.name for s in timeline.steps if s.ok]
        cause = f"rollback stopped at step {timeline.current}: {err}"
        state = describe(config, done)
        again = command("rollback", hub, fleet_file, "--backup", backup_id)
        raise RollbackError(
            f"{cause}. {state} Fix the cause, then run `{again}` again: every step is safe to "
            "repeat.",
            hub=hub, step=timeline.current, cause=cause, hub_state=state, next_command=again,
        ) from err
    return UpgradeResult(
        hub=hub, status="rolled-back", to_version=version,
        from_version=manifest.to_version if manifest else None,
        backup_id=manifest.backup_id if manifest else None,
        to_revision=manifest.alembic_revision if manifest else None, steps=timeline.steps,
    )


def _went_down(hub: str) -> float:
    """The hub stops now: the downtime of a rollback of its own starts."""
    events.emit(events.DowntimeStarted(hub))
    return time.monotonic()


def _inside_an_upgrade() -> bool:
    """Whether this rollback runs as the subflow of a live upgrade (which holds the slot)."""
    context = FlowRunContext.get()
    return bool(context and context.flow_run and context.flow_run.parent_task_run_id)
