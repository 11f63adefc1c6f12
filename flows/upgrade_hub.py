"""upgrade_hub: the order of one upgrade, as DESIGN.md draws it.

guard -> lock -> preflight -> prepare -> check-target -> rehearse -> preload -> notify ->
servers -> snapshot -> record -> stop |
backup -> switch -> migrate -> start -> verify | clear record -> notify. Everything that can
happen while the hub runs happens before `stop`, down to importing JupyterHub for `upgrade-db`
and the start, and the backup itself: in the window, `backup` only checks that nothing was
written since the snapshot (else copies again).
Any failure after `stop` runs rollback_hub; a failure before it leaves the hub as it was (a
refusal by the target release itself, or by the rehearsal on a copy, is exit 2, as
preflight's are).
Whatever the outcome, refusals included, the run's result is kept in the hub's backup store,
where a fleet run on another host reads it (`_published`).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prefect import flow, get_run_logger

from flows.rollback_hub import rollback_hub
from hubshift import events
from hubshift.backends.notify import failure, window_end, window_start
from hubshift.backends.storage import store_for
from hubshift.backup.manifest import Manifest, new_backup_id
from hubshift.config import FleetConfig, HubConfig, load_fleet
from hubshift.errors import HubshiftError, PreflightError, RollbackError
from hubshift.integrity.digest import counts
from hubshift.plan.preflight import Preflight
from hubshift.plan.rehearsal import outcome_of
from hubshift.plan.upgrade import dropped_tables, rewritten_tables
from hubshift.result import Status, UpgradeFailed, UpgradeResult, command, ended_early
from hubshift.system import paths
from hubshift.system.redact import redact
from hubshift.timeline import Timeline
from hubshift.window import inprogress
from hubshift.window.maintenance import Verdict
from tasks.backup import backup, snapshot
from tasks.check_target import check_target
from tasks.hub import start, stop
from tasks.lock import hub_lock
from tasks.migrate import migrate
from tasks.notify import notify_all
from tasks.preflight import preflight
from tasks.preload import preload
from tasks.prepare import prepare
from tasks.progress import Hold, clear_record, guard, holding, new_record, run_id
from tasks.rehearse import rehearse
from tasks.report import report
from tasks.results import publish_result
from tasks.servers import servers_after, servers_before
from tasks.switch import switch
from tasks.verify import verify_rows, wait_healthy
from tasks.window import check_window


@flow(name="upgrade-hub", flow_run_name="upgrade-{hub}")
def upgrade_hub(hub: str, target_version: str | None = None,
                fleet_file: str = "fleet.yaml", via: str | None = None,
                pre: bool = False, now: bool = False) -> UpgradeResult:
    """Upgrade one JupyterHub: backup, notify, stop, upgrade, migrate, verify; roll back on failure.

    Args:
        hub: Name of the hub in the fleet file.
        target_version: JupyterHub version to upgrade to (default: the hub's target_version):
            an exact version, "latest" or a major version like "6" (its newest release),
            resolved at the start of each run.
        fleet_file: The fleet file describing storage, notifications and hubs.
        via: Stepping stones: "direct", "auto" (the newest release of each major version in
            between) or versions like "3.1.1,4.1.6" (default: the hub's `via`, else direct).
        pre: Let "latest" or a major version resolve to a pre-release too.
        now: Upgrade now, whatever the hub's maintenance window says (a run that cannot
            finish inside its window is otherwise deferred before the stop).
    """
    return _published(hub, fleet_file, target_version,
                      lambda: _guarded(hub, target_version, fleet_file, via, pre, now))


def _guarded(hub: str, target_version: str | None, fleet_file: str,
             via: str | None, pre: bool, now: bool = False) -> UpgradeResult:
    fleet = load_fleet(fleet_file)
    config = fleet.hub(hub)
    guard(fleet, config)
    # The slot is the queue; the record, claimed once the slot is ours, is the lock.
    with hub_lock(hub), holding(fleet, new_record(config, "preflight")) as hold:
        return _upgrade(hub, target_version, fleet_file, via, pre, hold, now)


def _published(hub: str, fleet_file: str, target: str | None,
               body: Callable[[], UpgradeResult]) -> UpgradeResult:
    """`body()`, its result kept in the hub's backup store whatever it was: upgraded, up to
    date, failed, rolled back, or refused by the guard, the lock or preflight (built from
    the error, which is raised again). A fleet run on another host reads it from there by
    this run's id. Keeping it never changes the outcome: a failure to is a warning."""
    fleet = load_fleet(fleet_file)
    if hub not in {each.name for each in fleet.hubs}:
        return body()  # refused as bad input, with no place of its own to keep a result
    try:
        result = body()
    except Exception as err:
        _keep(fleet, ended_early(err, hub, fleet.source, target, run_id()))
        raise
    _keep(fleet, result)
    return result


def _keep(fleet: FleetConfig, result: UpgradeResult) -> None:
    result.flow_run_id = result.flow_run_id or run_id()
    try:
        publish_result(fleet, result)
    except Exception as err:
        said = redact(f"hub {result.hub}: its result could not be kept in the backup store "
                      f"({err}); a fleet run will go by the state of flow run "
                      f"{result.flow_run_id}")
        result.warnings.append(said)
        get_run_logger().warning("%s", said)


def _upgrade(hub: str, target_version: str | None, fleet_file: str,
             via: str | None, pre: bool, hold: Hold, now: bool = False) -> UpgradeResult:
    log = get_run_logger()
    timeline = Timeline(hub)
    checked = timeline.run("preflight", preflight, fleet_file, hub, target_version, via, pre)
    hold.ensure()
    plan, config, fleet = checked.plan, checked.hub, checked.fleet
    urls = fleet.notify.urls
    result = UpgradeResult(
        hub=hub, status=Status.UPGRADED, from_version=plan.installed_version,
        to_version=plan.target_version, from_revision=plan.current_revision,
        to_revision=plan.target_revision, migrations=[m.revision for m in plan.migrations],
        hops=[hop.version for hop in plan.hops], flow_run_id=run_id(),
    )
    if plan.up_to_date:
        result.status, result.steps = Status.UP_TO_DATE, timeline.steps
        log.info("hub %s already runs %s; nothing to do", hub, plan.target_version)
        return result
    # Outside any window, nothing more is done (no install, no rehearsal on the live host).
    windowed = not now and config.schedule is not None and config.schedule.duration is not None
    verdict = timeline.run("window", check_window, fleet, config, None) if windowed else None
    if verdict is not None and verdict.closes is None:
        return _defer(result, timeline, verdict, checked, target_version, via)
    try:
        installs = timeline.run("prepare", prepare, checked)
        checked = timeline.run("check-target", check_target, checked, installs)
        if config.rehearse:  # on a copy, the hub up: its time estimates the window's
            result.rehearsal = timeline.run("rehearse", rehearse, checked, installs)
            result.warnings += result.rehearsal.warnings
        if verdict is not None:  # the last moment before users hear of it
            verdict = timeline.run("window", check_window, fleet, config, result.rehearsal)
            if not verdict.go:
                return _defer(result, timeline, verdict, checked, target_version, via)
        loaded = timeline.run("preload", preload, config, installs)
    except Exception as err:
        result.rehearsal = outcome_of(err) or result.rehearsal
        result.hub_state = _untouched(hub, plan.installed_version)
        result.next_command = _again(checked, target_version, via)
        state = ("The live hub was not touched and runs its old version." if result.rehearsal
                 else "The hub was not touched and runs its old version.")
        return _fail(result, timeline, err, state, urls)

    with loaded:  # whatever the window did not use goes when it closes
        notify_all(urls, window_start(hub, plan.installed_version, plan.target_version,
                                      fleet.notify.lead_time))
        if fleet.notify.lead_time:
            events.emit(events.Notice(hub, f"users told: the hub stops in "
                                           f"{fleet.notify.lead_time:g} s"))
        time.sleep(fleet.notify.lead_time)
        # Asking the hub (with hubshift's token) writes the token's last activity: before the
        # snapshot, so that the window finds nothing of hubshift's own written after it.
        running_servers = timeline.run("servers", servers_before, config)
        backup_id = new_backup_id()
        try:  # as late as can be: whatever the hub writes after it, the window copies again
            taken = timeline.run("snapshot", snapshot, checked, backup_id, checked.current)
        except Exception as err:
            paths.discard_staging(hub, backup_id)
            result.hub_state = _untouched(hub, plan.installed_version)
            result.next_command = _again(checked, target_version, via)
            return _fail(result, timeline, err,
                         "The hub was not touched and runs its old version.", urls)
        hold.update(step="stop", touched=True, from_version=plan.installed_version,
                    from_install=checked.current.location, to_version=plan.target_version)
        down_at = time.monotonic()
        events.emit(events.DowntimeStarted(hub))
        manifest = None
        try:
            timeline.run("stop", stop, config)
            manifest = timeline.run("backup", backup, checked, taken, checked.current)
            result.backup_id = manifest.backup_id
            result.counts_before = counts(manifest.digest)
            hold.update(step="switch", backup_id=manifest.backup_id)
            timeline.run("switch", switch, config, installs[-1])
            hold.update(step="migrate")
            for hop, install, warm in zip(plan.hops, installs, loaded.migrations, strict=True):
                # Each release migrates with its own ORM; the last one is the target.
                name = "migrate" if len(installs) == 1 else f"migrate {hop.version}"
                result.migrations_run += timeline.run(
                    name, migrate.with_options(task_run_name=name), config, install,
                    hop.target_revision, warm)
            timeline.run("start", start, config, loaded.hub)
            timeline.run("wait-healthy", wait_healthy, config, plan.target_version)
            result.downtime_seconds = round(time.monotonic() - down_at, 3)
            events.emit(events.DowntimeEnded(hub, result.downtime_seconds))
            digest = timeline.run("verify", verify_rows, config, manifest,
                                  dropped_tables(plan), rewritten_tables(plan))
            result.counts_after = counts(digest)
        except Exception as err:
            failed_step = timeline.current
            loaded.discard()
            events.emit(events.Notice(hub, f"{failed_step} failed: rolling back"))
            state = _roll_back(result, timeline, checked, manifest, f"{failed_step}: {err}")
            result.downtime_seconds = round(time.monotonic() - down_at, 3)
            if result.status is Status.ROLLED_BACK:  # else the hub may still be down
                events.emit(events.DowntimeEnded(hub, result.downtime_seconds))
            result.failed_step = failed_step
            if result.next_command is None:
                result.next_command = _again(checked, target_version, via)
            return _fail(result, timeline, err, state, urls)

    try:  # what became of users' servers is reported, never a reason to roll back
        result.servers = timeline.run("servers-after", servers_after, config, running_servers,
                                      plan.keeps_servers)
    except Exception as err:
        log.warning("hub %s: its users' servers could not be checked: %s", hub, err)
    _finish_record(result, hold, config)
    paths.discard_staging(hub, result.backup_id)
    result.steps, result.wall_seconds = timeline.steps, timeline.elapsed()
    notify_all(urls, window_end(hub, plan.installed_version, plan.target_version,
                                result.downtime_seconds, result.servers))
    _report(result)
    return result


def _finish_record(result: UpgradeResult, hold: Hold, config: HubConfig) -> None:
    """Mark the record finished, then remove it. The upgrade is done whatever happens here:
    a failure is a warning, never a change of outcome. A record marked finished that could
    not be removed is ignored by the next run; one that could not even be marked would be
    taken for an interrupted upgrade, so the warning says how to remove it by hand."""
    fleet = hold.fleet
    try:
        hold.update(step=inprogress.FINISHED)
        marked = None
    except Exception as err:
        marked = err
    try:
        clear_record(fleet, config)
        return
    except Exception as err:
        cleared = err
    where = inprogress.where(store_for(fleet.storage), config.name)
    if marked is None:
        said = (f"hub {config.name} is upgraded, but its in-progress record {where} could not "
                f"be removed ({cleared}); it is marked finished, so the next run ignores it")
    else:
        said = (f"hub {config.name} is upgraded, but its in-progress record {where} could "
                f"neither be marked finished ({marked}) nor removed ({cleared}): the next "
                "upgrade will take it for an interrupted one and refuse; remove it by hand "
                "once the store answers")
    result.warnings.append(redact(said))
    get_run_logger().warning("%s", result.warnings[-1])


def _roll_back(result: UpgradeResult, timeline: Timeline, checked: Preflight,
               manifest: Manifest | None, reason: str) -> str:
    """Undo a failure after `stop`; return a sentence saying where the hub stands now."""
    config = checked.hub
    try:
        if manifest is None:
            # The backup did not complete, so nothing was changed: start the old install.
            timeline.run("switch-back", switch, config, checked.current)
            timeline.run("start", start, config)
            timeline.run("wait-healthy", wait_healthy, config, checked.plan.installed_version)
            timeline.run("clear-record", clear_record, checked.fleet, config)
        else:
            rolled = rollback_hub(config.name, manifest.backup_id, reason,
                                  str(checked.fleet.source))
            timeline.steps.extend(rolled.steps)
    except RollbackError as err:
        result.status = Status.NEEDS_OPERATOR
        result.cause, result.hub_state, result.next_command = (
            f"then the {err.cause}", err.hub_state, err.next_command)
        return f"The rollback did not complete: {err.message}"
    except Exception as err:
        result.status = Status.NEEDS_OPERATOR
        result.next_command = command("rollback", config.name, checked.fleet.source)
        if manifest is None:  # the stop came, the backup did not: nothing else was changed
            what = f"the old version could not be started again: {err}"
            database = "The database was not changed"
        else:
            what = f"the rollback to backup {manifest.backup_id} failed: {err}"
            database = (f"The database may have been migrated; backup {manifest.backup_id} "
                        "holds it as it was")
        result.cause = f"then {what}"
        result.hub_state = f"hub {config.name} may be down. {database}"
        return (f"{what[0].upper()}{what[1:]}. {database}. Run `{result.next_command}` once "
                "the cause is fixed.")
    result.status = Status.ROLLED_BACK
    result.hub_state = (f"rolled back: hub {config.name} runs JupyterHub "
                        f"{checked.plan.installed_version} again, its database as it was before "
                        "the upgrade")
    return (f"The hub was rolled back and runs JupyterHub {checked.plan.installed_version} "
            "again with its database as it was before the upgrade.")


def _report(result: UpgradeResult) -> None:
    """Publish the run's report; its failure is a warning, never a change of outcome (the
    result itself is kept in the store, and the CLI prints it)."""
    try:
        report(result)
    except Exception as err:
        said = redact(f"hub {result.hub}: the run's report could not be published: {err}")
        result.warnings.append(said)
        get_run_logger().warning("%s", said)


def _defer(result: UpgradeResult, timeline: Timeline, verdict: Verdict, checked: Preflight,
           target: str | None, via: str | None) -> UpgradeResult:
    """End the run before the stop: its window cannot hold it. Not a failure (exit 0)."""
    hub = checked.hub.name
    result.status, result.cause = Status.DEFERRED, verdict.reason()
    result.next_window = verdict.next_start.isoformat()
    result.hub_state = _untouched(hub, checked.plan.installed_version)
    result.next_command = f"{_again(checked, target, via)} --now"
    result.steps, result.wall_seconds = timeline.steps, timeline.elapsed()
    get_run_logger().warning("upgrade of %s deferred: %s", hub, result.cause)
    _report(result)
    return result


def _untouched(hub: str, version: str) -> str:
    """Where a hub stands when a run ended before its stop."""
    return f"not touched: hub {hub} runs JupyterHub {version} as before"


def _again(checked: Preflight, target: str | None, via: str | None) -> str:
    """The command that tries this upgrade again, once the cause of its failure is fixed."""
    return command("upgrade", checked.hub.name, checked.fleet.source,
                   *(["--to", target] if target else []), *(["--via", via] if via else []))


def _fail(result: UpgradeResult, timeline: Timeline, err: BaseException, state: str,
          urls: list) -> UpgradeResult:
    """Record the failure, tell people, publish the report, and fail the flow run."""
    if result.status is Status.UPGRADED:
        result.status = Status.REFUSED if isinstance(err, PreflightError) else Status.FAILED
    result.failed_step = result.failed_step or timeline.current
    message = err.message if isinstance(err, HubshiftError) else f"{type(err).__name__}: {err}"
    result.error = f"{message}. {state}"
    result.cause = f"{message}; {result.cause}" if result.cause else message
    result.steps = timeline.steps
    result.wall_seconds = timeline.elapsed()
    get_run_logger().error("upgrade of %s failed at %s: %s", result.hub, result.failed_step,
                           result.error, extra=events.SAID_ELSEWHERE)
    notify_all(urls, failure(result.hub, result.failed_step, message, state=state,
                             downtime=result.downtime_seconds))
    _report(result)
    raise UpgradeFailed(result)
