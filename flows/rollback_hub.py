"""rollback_hub: bring a hub back to a backup — after a failed upgrade, or on an admin's
request from the Prefect UI or `hubshift rollback`.

The backup is fetched and verified before the hub is touched. Every step is safe to repeat,
so the flow can be run again after a crash; it finishes what an interrupted upgrade left.
An admin's own rollback (nothing interrupted to finish) first says what the restore
discards, needs a confirmation, and keeps a safety backup of the hub as it was.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from prefect.context import FlowRunContext

from hubshift import events
from hubshift.backends.installers import Install
from hubshift.backup.discards import DiscardReport
from hubshift.backup.manifest import Manifest
from hubshift.backup.restore import describe
from hubshift.config import FleetConfig, HubConfig, load_fleet
from hubshift.errors import ConfigError, ConfirmationNeeded, HubshiftError, RollbackError
from hubshift.result import Status, UpgradeResult, command
from hubshift.system import paths
from hubshift.timeline import Timeline
from hubshift.window import inprogress
from tasks.hub import start, start_if_down, stop
from tasks.lock import free_slot
from tasks.progress import Hold, claim, clear_record, new_record, read_record
from tasks.rollback import (
    discards,
    fetch,
    old_install,
    publish_discards,
    restore,
    running_install,
    safety_backup,
)
from tasks.switch import switch
from tasks.verify import verify_rows, wait_healthy


@flow(name="rollback-hub", flow_run_name="rollback-{hub}")
def rollback_hub(hub: str, backup_id: str | None = None, reason: str = "",
                 fleet_file: str = "fleet.yaml", confirm: bool = False) -> UpgradeResult:
    """Restore a hub to a backup and start it on the version the backup was taken from.

    Finishing an interrupted upgrade (its in-progress record names the backup) or called by
    a failing upgrade, it restores at once. Asked for by an admin, it never restores over new
    data silently: it needs `backup_id`, reports what the restore discards (rows written since
    the backup), and only with `confirm` stops the hub, takes a safety backup of it as it is,
    and restores. Without `confirm` the run fails with the report, the hub untouched.

    Raises ConfigError (exit 2) without a backup to restore, ConfirmationNeeded (exit 2)
    without `confirm`, RollbackError (exit 3) saying where the hub stands when a step cannot
    finish.

    Args:
        hub: Name of the hub in the fleet file.
        backup_id: Backup to restore (`hubshift backups` lists them; `latest`: the newest).
            May be left out only to finish an interrupted upgrade, whose backup is then used.
        reason: Why, for the logs.
        fleet_file: The fleet file describing storage, notifications and hubs.
        confirm: Restore even though the report says rows will be discarded (a safety
            backup of the hub as it is keeps them). Without it the run only reports.
    """
    fleet = load_fleet(fleet_file)
    config = fleet.hub(hub)
    timeline = Timeline(hub)
    # Inside an upgrade, the upgrade marks the downtime; on its own, the rollback does.
    alone = not _inside_an_upgrade()
    if reason:
        get_run_logger().warning("rolling back hub %s: %s", hub, reason,
                                 extra=events.SAID_ELSEWHERE)
    safety: Manifest | None = None
    report: DiscardReport | None = None
    manual = False
    refusal: HubshiftError | None = None  # raised on purpose before anything was touched
    hold: Hold | None = None
    try:
        pending = timeline.run("read-record", read_record, fleet, config)
        # An admin's own rollback: nothing interrupted to finish, no failing upgrade calling.
        manual = alone and pending is None
        if manual and backup_id is None:
            refusal = ConfigError(_NO_BACKUP.format(hub=hub), hub=hub, step="read-record",
                                  next_command=command("backups", hub, fleet_file))
            raise refusal
        if alone:
            # The same lock as an upgrade's: never restore under a live run.
            hold, pending = _hold(fleet, config, pending)
            manual = pending is None
        if pending is not None and not pending.touched:
            # Its run died before it changed anything: the hub only needs to run.
            version = pending.from_version
            started = timeline.run("start-if-down", start_if_down, config)
            if started and version:
                timeline.run("wait-healthy", wait_healthy, config, version)
            timeline.run("clear-record", clear_record, fleet, config)
            free_slot(hub)
            return UpgradeResult(
                hub=hub, status=Status.ROLLED_BACK, to_version=version, steps=timeline.steps,
                hub_state=f"not touched: run {pending.run_id} died at step {pending.step}, "
                          f"before it changed hub {hub}; the hub runs and is free again")
        if backup_id in (None, "latest") and pending is not None and pending.backup_id is None:
            # The run died before its backup: the database was never changed.
            version, path, folder, manifest = (pending.from_version, pending.from_install,
                                               None, None)
            down_at = _went_down(hub) if alone else None
            timeline.run("stop", stop, config)
        else:
            if backup_id in (None, "latest") and pending is not None:
                backup_id = pending.backup_id
            manifest, folder = timeline.run("fetch", fetch, fleet, config,
                                            backup_id or "latest")
            backup_id = manifest.backup_id
            if manual:
                report = timeline.run("discards", discards, config, manifest, folder)
                _publish(report, confirm)
                if not confirm:
                    refusal = _unconfirmed(report, fleet_file)
                    raise refusal
                current, package_list = timeline.run("read-install", running_install,
                                                     config)
            version, path = manifest.from_version, manifest.from_install
            down_at = _went_down(hub) if alone else None
            timeline.run("stop", stop, config)
            if manual:
                safety = _safety_backup(timeline, fleet, config, manifest, current,
                                        package_list)
            if hold is not None and not hold.record.touched:
                # From here a killed rollback is finished by the next one, with this backup.
                hold.update(step="restore", touched=True, backup_id=backup_id,
                            from_version=version, from_install=path)
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
        # Back where it should be: the local copies of the backups are the store's now.
        paths.discard_staging(hub, backup_id)
        paths.discard_staging(hub, safety.backup_id if safety else None)
    except Exception as err:
        if hold is not None:
            hold.release()
        if err is refusal or isinstance(err, RollbackError | inprogress.HubHeld):
            raise  # it already says where the hub stands
        done = [s.name for s in timeline.steps if s.ok]
        cause = f"rollback stopped at step {timeline.current}: {err}"
        state = describe(config, done)
        if safety is not None:
            state += (f" A safety backup of the hub as it was, {safety.backup_id}, is in "
                      "the store.")
        again = command("rollback", hub, fleet_file, "--backup", backup_id or "latest",
                        *(["--yes"] if manual else []))
        raise RollbackError(
            f"{cause}. {state} Fix the cause, then run `{again}` again: every step is safe to "
            "repeat.",
            hub=hub, step=timeline.current, cause=cause, hub_state=state, next_command=again,
        ) from err
    return UpgradeResult(
        hub=hub, status=Status.ROLLED_BACK, to_version=version,
        from_version=manifest.to_version if manifest else None,
        backup_id=manifest.backup_id if manifest else None,
        to_revision=manifest.alembic_revision if manifest else None, steps=timeline.steps,
        safety_backup_id=safety.backup_id if safety else None,
        discards=report.lines() if report else [],
    )


_NO_BACKUP = ("--backup is required: no interrupted upgrade of hub {hub} to finish, and a "
              "rollback never picks a backup by itself (`hubshift backups --hub {hub}` lists "
              "them)")


def _hold(fleet: FleetConfig, config: HubConfig, pending: inprogress.InProgress | None,
          ) -> tuple[Hold, inprogress.InProgress | None]:
    """Claim the hub as an upgrade does; a record of a run proven dead is taken over, its
    facts kept, so that a rollback killed in turn is finished by the next one. Returns the
    hold and the record of the run this rollback finishes (None: an admin's own rollback).
    Raises HubHeld while a live run holds the hub."""
    fields = {} if pending is None else pending.model_dump(
        include={"touched", "backup_id", "from_version", "from_install", "to_version"})
    mine = new_record(config, inprogress.ROLLBACK, **fields)
    replaced = claim(fleet, mine, take_touched=True)
    return Hold(fleet, mine, claimed=True), replaced


def _publish(report: DiscardReport, confirmed: bool) -> None:
    """The report as an artifact; its failure never changes what the rollback does."""
    try:
        publish_discards(report, confirmed)
    except Exception as err:
        get_run_logger().warning("hub %s: the report could not be published: %s",
                                 report.hub, err)


def _unconfirmed(report: DiscardReport, fleet_file: str) -> ConfirmationNeeded:
    """The refusal of an unconfirmed manual rollback, carrying its report."""
    again = command("rollback", report.hub, fleet_file, "--backup", report.backup_id, "--yes")
    discarded = ("rows written since" if report.error is None and report.total
                 else "the live database")
    return ConfirmationNeeded(
        f"restoring backup {report.backup_id} replaces {discarded}; not confirmed, so nothing "
        "was touched:\n" + "\n".join(report.lines()),
        report=report.lines(), hub=report.hub, step="confirm",
        cause=f"restoring backup {report.backup_id} needs a confirmation (--yes, or the "
              "confirm parameter): it replaces the live database",
        hub_state=f"not touched: hub {report.hub} runs as it did before",
        next_command=again,
    )


def _safety_backup(timeline: Timeline, fleet: FleetConfig, config: HubConfig,
                   restoring: Manifest, current: Install, package_list: str) -> Manifest:
    """The safety backup, taken with the hub stopped (see `hubshift.backup.safety`: nothing
    writes while it is taken, so it holds every row the restore replaces).

    If it fails, nothing was restored: the hub is started again as it was, and the rollback
    stops (RollbackError), since restoring without a copy is what it must never do.
    """
    try:
        return timeline.run("safety-backup", safety_backup, fleet, config, restoring, current,
                            package_list)
    except Exception as err:
        try:
            timeline.run("start", start, config)
            timeline.run("wait-healthy", wait_healthy, config, current.version)
            state = (f"nothing was restored: hub {config.name} was started again on "
                     f"JupyterHub {current.version}, its database as it was")
        except Exception as again:
            state = (f"nothing was restored, but hub {config.name} could not be started "
                     f"again: {again}")
        cause = f"the safety backup failed: {err}"
        retry = command("rollback", config.name, fleet.source, "--backup",
                        restoring.backup_id, "--yes")
        raise RollbackError(f"{cause}. {state}.", hub=config.name, step="safety-backup",
                            cause=cause, hub_state=state, next_command=retry) from err


def _went_down(hub: str) -> float:
    """The hub stops now: the downtime of a rollback of its own starts."""
    events.emit(events.DowntimeStarted(hub))
    return time.monotonic()


def _inside_an_upgrade() -> bool:
    """Whether this rollback runs as the subflow of a live upgrade (which holds the slot)."""
    context = FlowRunContext.get()
    return bool(context and context.flow_run and context.flow_run.parent_task_run_id)
