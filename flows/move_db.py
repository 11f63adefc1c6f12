"""move_db: the order of a database move, the JupyterHub version kept.

guard -> lock -> check -> schema (the hub's release) -> rehearse (snapshot, copy, compare,
roll back) | stop -> backup -> copy -> switch -> start -> verify | clear record.
Everything that can fail while the hub runs fails before `stop` (exit 2, nothing touched
but the target's schema, which is dropped again). Any failure after `stop` undoes the move:
the variable unset, the target's tables dropped, the hub started on its SQLite file, which
the move only ever read.

The new URL never travels as a flow parameter in clear (Prefect keeps parameters): it is a
`${VAR}` reference, expanded from the environment of the process that runs the flow.
"""

from __future__ import annotations

import time

from prefect import flow, get_run_logger
from pydantic import SecretStr

from hubshift import events
from hubshift.backup.manifest import Manifest, new_backup_id
from hubshift.config import FleetConfig, HubConfig, load_fleet
from hubshift.errors import HubshiftError, PreflightError
from hubshift.integrity.digest import counts
from hubshift.move.copy import Copied
from hubshift.move.plan import MovePlan
from hubshift.move.result import MoveResult
from hubshift.move.target import drop_tables
from hubshift.move.url import expand_url
from hubshift.result import Status, UpgradeFailed, command
from hubshift.system.redact import redact
from hubshift.timeline import Timeline
from tasks.hub import start, stop
from tasks.lock import hub_lock
from tasks.move import (
    move_backup,
    move_check,
    move_copy,
    move_rehearse,
    move_roster,
    move_schema,
    move_switch,
    move_undo,
    move_verify,
    package_list,
    source_sha256,
)
from tasks.progress import Hold, clear_record, guard, holding, new_record, run_id
from tasks.verify import wait_healthy


@flow(name="move-db", flow_run_name="move-db-{hub}")
def move_db(hub: str, to_url: str, fleet_file: str = "fleet.yaml",
            replace: bool = False) -> MoveResult:
    """Move a hub's database to PostgreSQL or MySQL/MariaDB in one window, verified; roll
    back to the old database on any failure.

    Args:
        hub: Name of the hub in the fleet file.
        to_url: The new database's URL as the hub's config would spell it, given as a
            reference to an environment variable of the worker, e.g. ${PHYSICS_NEW_DB_URL}
            (a URL with a password typed here would be kept by Prefect). A URL without a
            password may be given as is.
        fleet_file: The fleet file describing storage, notifications and hubs.
        replace: Drop whatever tables the target database holds (else a non-empty target
            is refused). What it held is not kept.
    """
    url = expand_url(to_url, hub=hub)
    fleet = load_fleet(fleet_file)
    config = fleet.hub(hub)
    guard(fleet, config)
    with hub_lock(hub), holding(fleet, new_record(config, "move-check")) as hold:
        return _move(config, url, replace, hold)


def _move(config: HubConfig, url: str, replace: bool, hold: Hold) -> MoveResult:
    timeline = Timeline(config.name)
    result = MoveResult(hub=config.name, status=Status.MOVED, flow_run_id=run_id())
    fleet = hold.fleet
    secret = SecretStr(url)  # what tasks get: Prefect never shows a SecretStr's value
    plan: MovePlan | None = None
    try:
        plan = timeline.run("move-check", move_check, config, secret, replace)
        hold.ensure()
        result.from_version = result.to_version = plan.version
        result.to_database, result.db_url_variable = plan.shown_target, plan.variable
        result.replaced_tables = timeline.run("move-schema", move_schema, config, plan, secret)
        timeline.run("move-rehearse", move_rehearse, config, plan)
        packages = timeline.run("package-list", package_list, config)
        before = timeline.run("roster", move_roster, config)
    except Exception as err:
        _drop_schema_quietly(plan, result)
        result.hub_state = f"not touched: hub {config.name} runs on its old database as before"
        return _fail(result, timeline, err, config)

    moved = config.model_copy(update={"db_url": secret})
    hold.update(step="stop", touched=True, from_version=plan.version)
    down_at = time.monotonic()
    events.emit(events.DowntimeStarted(config.name))
    manifest: Manifest | None = None
    try:
        timeline.run("stop", stop, config)
        manifest = timeline.run("backup", move_backup, fleet, config, new_backup_id(),
                                plan.version, packages)
        result.backup_id = manifest.backup_id
        result.counts_before = counts(manifest.digest)
        result.source_sha256 = timeline.run("sqlite-sha256", source_sha256, config)
        hold.update(step="move-copy", backup_id=manifest.backup_id)
        copied: Copied = timeline.run("move-copy", move_copy, config, plan, manifest)
        result.lossy_columns = copied.lossy
        timeline.run("move-switch", move_switch, config, plan.variable, secret)
        timeline.run("start", start, moved)
        timeline.run("wait-healthy", wait_healthy, moved, plan.version)
        result.downtime_seconds = round(time.monotonic() - down_at, 3)
        events.emit(events.DowntimeEnded(config.name, result.downtime_seconds))
        digest = timeline.run("move-verify", move_verify, moved, copied, before)
        result.counts_after = counts(digest)
        result.source_sha256_after = timeline.run("sqlite-sha256", source_sha256, config)
    except Exception as err:
        failed = timeline.current
        result.failed_step = failed
        state = _undo(result, timeline, fleet, config, plan, f"{failed}: {err}")
        result.downtime_seconds = round(time.monotonic() - down_at, 3)
        if result.status is Status.ROLLED_BACK:
            events.emit(events.DowntimeEnded(config.name, result.downtime_seconds))
        return _fail(result, timeline, err, config, state)

    try:
        hold.update(step="finished")
        clear_record(fleet, config)
    except Exception as err:  # the move is done: a warning, never a change of outcome
        result.warnings.append(redact(f"hub {config.name} moved, but its in-progress record "
                                      f"could not be removed: {err}"))
    result.warnings.append(
        f"hub {config.name} now runs on the {plan.shown_target}: set its db_url in "
        f"{fleet.source} to that URL (e.g. db_url: ${{{plan.variable}}}, with {plan.variable} "
        "set where hubshift runs); until then `hubshift upgrade` refuses the hub")
    get_run_logger().warning("%s", result.warnings[-1])
    result.hub_state = f"moved: hub {config.name} runs JupyterHub {plan.version} on the " \
                       f"{plan.shown_target}"
    result.steps, result.wall_seconds = timeline.steps, timeline.elapsed()
    return result


def _undo(result: MoveResult, timeline: Timeline, fleet: FleetConfig, config: HubConfig,
          plan: MovePlan, reason: str) -> str:
    """Put the hub back on its old database; a sentence saying where it stands."""
    get_run_logger().warning("moving hub %s failed (%s): rolling back", config.name,
                             redact(reason), extra=events.SAID_ELSEWHERE)
    try:
        timeline.run("move-undo", move_undo, config, plan)
        result.source_sha256_after = timeline.run("sqlite-sha256", source_sha256, config)
        if result.source_sha256 and result.source_sha256_after != result.source_sha256:
            # Not by the move (it only reads it): said loudly, but the hub is started.
            result.warnings.append(f"hub {config.name}'s SQLite file changed while the hub "
                                   "was down: something else wrote it")
        timeline.run("start", start, config)
        timeline.run("wait-healthy", wait_healthy, config, plan.version)
        timeline.run("clear-record", clear_record, fleet, config)
    except Exception as err:
        result.status = Status.NEEDS_OPERATOR
        result.cause = redact(f"then the rollback failed: {err}")
        result.hub_state = (f"hub {config.name} may be down; its old database was not "
                            f"written; the hub's ${plan.variable} may still name the new one")
        result.next_command = command("hub start", config.name)
        return (f"The rollback did not complete ({redact(str(err))}): unset ${plan.variable} "
                f"of the hub (runtime) and start it on its old database.")
    result.status = Status.ROLLED_BACK
    result.hub_state = (f"rolled back: hub {config.name} runs JupyterHub {plan.version} on "
                        "its old database, unchanged; the target's tables were dropped")
    return ("The hub was rolled back and runs on its old database, which the move never "
            "wrote.")


def _drop_schema_quietly(plan: MovePlan | None, result: MoveResult) -> None:
    """A refusal after the schema was made: the target goes back to empty."""
    if plan is None:
        return
    try:
        drop_tables(plan.target)
    except Exception as err:
        result.warnings.append(redact(f"the target's new tables could not be dropped: {err}"))


def _fail(result: MoveResult, timeline: Timeline, err: BaseException, config: HubConfig,
          state: str | None = None) -> MoveResult:
    """Record the failure and fail the flow run (the CLI prints the result)."""
    if result.status is Status.MOVED:
        result.status = Status.REFUSED if isinstance(err, PreflightError) else Status.FAILED
    result.failed_step = result.failed_step or timeline.current
    message = err.message if isinstance(err, HubshiftError) else f"{type(err).__name__}: {err}"
    state = state or "The hub was not touched and runs on its old database."
    result.error = redact(f"{message}. {state}")
    result.cause = result.cause or redact(message)
    result.next_command = result.next_command or command("hub status", config.name)
    result.steps, result.wall_seconds = timeline.steps, timeline.elapsed()
    get_run_logger().error("move of %s failed at %s: %s", result.hub, result.failed_step,
                           result.error, extra=events.SAID_ELSEWHERE)
    raise UpgradeFailed(result)
