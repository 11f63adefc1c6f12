"""fleet_upgrade: many hubs, in safe waves.

Staging hubs first (a canary: if one fails or is refused, no production hub is touched; one
already up to date is a success), then production in a growing ramp, at most `max_parallel`
hubs at a time. Once failed/attempted exceeds `max_fail_percent`, no new hub starts; those
already running finish.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from flows.rollback_hub import rollback_hub
from flows.upgrade_hub import upgrade_hub
from hubshift import events
from hubshift.config import FleetConfig, HubConfig, load_fleet
from hubshift.fleet import soak
from hubshift.fleet.report import FleetRow
from hubshift.fleet.rollout import (
    Approve,
    OnSoakFailure,
    RolloutConfig,
    asks_approval,
    gate_note,
)
from hubshift.fleet.waves import FailureBudget, Wave, plan_waves
from hubshift.plan.releases import is_symbolic
from hubshift.result import Status, UpgradeResult
from tasks.fleet import fleet_report, upgrade_one
from tasks.resolve import resolve_target
from tasks.rollout import (
    Progress,
    publish_table,
    rollback_through_deployment,
    soak_wave,
    wait_for_approval,
)


@flow(name="fleet-upgrade", task_runner=ThreadPoolTaskRunner(max_workers=32))
def fleet_upgrade(
    fleet_file: str = "fleet.yaml",
    target_version: str | None = None,
    hubs: list[str] | None = None,
    max_parallel: Annotated[int, Field(ge=1, le=32)] = 4,
    max_fail_percent: Annotated[float, Field(ge=0, le=100)] = 0.0,
    use_deployments: bool = False,
    pre: bool = False,
    approve: Approve | None = None,
    approve_timeout: Annotated[float | None, Field(gt=0)] = None,
    soak_minutes: Annotated[float | None, Field(ge=0)] = None,
    on_soak_failure: OnSoakFailure | None = None,
    now: bool = False,
) -> list[FleetRow]:
    """Upgrade the hubs of a fleet file in waves.

    Args:
        fleet_file: The fleet file describing storage, notifications and hubs.
        target_version: JupyterHub version for every hub (default: each hub's target_version);
            "latest" or a major version like "6" is resolved once, for the whole run.
        hubs: Names of the hubs to upgrade (default: all of them).
        max_parallel: How many hubs may be upgrading at the same time.
        max_fail_percent: Stop starting hubs once failed/attempted exceeds this percentage.
        use_deployments: Run each hub through its own deployment (on its host's worker)
            instead of in this process.
        pre: Let "latest" or a major version resolve to a pre-release too.
        approve: Wait for a person's go (this run's Resume form, or `hubshift approve`):
            none, after-canary or every-wave (default: the fleet file's rollout.approve).
        approve_timeout: Seconds to wait for that go; without it the fleet stops, the hubs
            not started skipped (default: rollout.approve_timeout, 3600).
        soak_minutes: Minutes to watch the upgraded hubs of a wave (health, version, API)
            before the next wave; fractions allowed (default: rollout.soak_minutes, 0).
        on_soak_failure: A hub that fails its soak counts as failed; stop leaves it for an
            operator, rollback restores its backup (default: rollout.on_soak_failure).
        now: Ignore the hubs' maintenance windows (otherwise a hub whose window cannot
            hold its upgrade is deferred, counted as skipped, not failed).
    """
    log = get_run_logger()
    fleet = load_fleet(fleet_file)
    plan = fleet.rollout.merged(approve=approve, approve_timeout=approve_timeout,
                                soak_minutes=soak_minutes, on_soak_failure=on_soak_failure)
    chosen = [fleet.hub(name) for name in hubs] if hubs else list(fleet.hubs)
    targets = _exact_targets(chosen, target_version, pre)
    budget = FailureBudget(max_fail_percent)
    board = _Board(len(chosen))
    rows: list[FleetRow] = []
    stopped_by = ""
    approved = ""  # the gate's note, for the rows of the wave it let start
    waves = plan_waves(chosen)
    for index, wave in enumerate(waves):
        if stopped_by:
            rows += [board.ended(_skipped(hub.name, hub.environment, wave.name, stopped_by))
                     for hub in wave.hubs]
            continue
        log.info("wave %s: %s", wave.name, ", ".join(h.name for h in wave.hubs))
        events.emit(events.Notice(None, f"wave {wave.name}: "
                                        f"{', '.join(h.name for h in wave.hubs)}"))
        wave_rows = _run_wave(wave, budget, max_parallel, targets,
                              str(fleet.source.resolve()), use_deployments, board,
                              now=now)
        if approved:
            wave_rows = [r.model_copy(update={"note": r.note or approved}) for r in wave_rows]
        if plan.soak_minutes > 0:
            wave_rows = _soak(wave_rows, fleet, plan, budget, board, use_deployments)
        rows += wave_rows
        if wave.canary and not all(r.ok for r in wave_rows if r.status is not Status.SKIPPED):
            stopped_by = "a staging hub failed: production was not touched"
        elif budget.exhausted:
            stopped_by = (f"{budget.failed} of {budget.attempted} hubs failed, more than "
                          f"max_fail_percent={max_fail_percent:g}")
        elif asks_approval(plan.approve, index, wave.canary, len(waves)):
            publish_table(rows)
            answer = wait_for_approval(rows, wave.name, waves[index + 1].name,
                                       plan.approve_timeout)
            go_on, said = gate_note(answer, plan.approve_timeout)
            log.info("gate after wave %s: %s", wave.name, said)
            events.emit(events.Notice(None, f"after wave {wave.name}: {said}"))
            stopped_by, approved = ("", said) if go_on else (said, "")
    if stopped_by:
        log.warning("fleet upgrade stopped: %s", stopped_by)
    fleet_report(rows)
    return rows


class _Board:
    """What the UI shows of a running fleet: hubs done of the total (a progress artifact),
    the table of the hubs ended so far (published again as each ends), the terminal's
    count and its line per hub."""

    def __init__(self, total: int) -> None:
        self.rows: dict[str, FleetRow] = {}
        self.progress = Progress(total)
        self.hubs_done = events.meter("hubs", total, every=0)
        self.hubs_done(0)  # the count is known before the first hub ends

    def ended(self, row: FleetRow) -> FleetRow:
        events.emit(events.HubEnded(row.hub, row.ok, row.summary()))
        self.hubs_done(1)
        self.progress.hub_ended()
        return self.changed(row)

    def changed(self, row: FleetRow) -> FleetRow:
        """A row that ended changed (its soak failed): the table says so at once."""
        self.rows[row.hub] = row
        publish_table(list(self.rows.values()))
        return row


def _soak(rows: list[FleetRow], fleet: FleetConfig, plan: RolloutConfig,
          budget: FailureBudget, board: _Board, use_deployments: bool) -> list[FleetRow]:
    """Watch the wave's hubs that ended well for the soak; a hub that fails it counts as
    failed, and is rolled back to its backup when the plan says so (through the
    rollback-hub/rollback deployment, on the hub's host, when the hubs ran through theirs)."""
    watched = [(fleet.hub(r.hub), r.to_version) for r in rows if r.ok]
    if not watched:
        return rows
    failed = soak_wave(watched, plan.soak_minutes * 60)
    source = str(fleet.source.resolve())
    done = []
    for row in rows:
        why = failed.get(row.hub)
        if why is not None:
            budget.fail_later(row.hub)
            row = board.changed(_after_soak(row, why, plan, source, use_deployments))
            events.emit(events.Notice(row.hub, row.summary()))  # it already ended once
        done.append(row)
    return done


def _after_soak(row: FleetRow, why: str, plan: RolloutConfig, fleet_file: str,
                use_deployments: bool) -> FleetRow:
    """The row of a hub that failed its soak: rolled back to the backup its upgrade took
    (on_soak_failure: rollback), else left for an operator."""
    get_run_logger().warning("hub %s failed its soak: %s", row.hub, why)
    if plan.on_soak_failure != "rollback" or not row.backup_id:
        return soak.soak_failed(row, why, fleet_file)
    if use_deployments:
        problem = rollback_through_deployment(row.hub, row.backup_id, f"failed its soak: {why}")
        return (soak.soak_rolled_back(row, why, row.from_version) if problem is None
                else soak.soak_rollback_failed(row, why, problem, fleet_file))
    try:
        rolled = _rollback_on_its_own(row.hub, row.backup_id, f"failed its soak: {why}",
                                      fleet_file)
    except Exception as err:
        return soak.soak_rollback_failed(row, why, err, fleet_file)
    return soak.soak_rolled_back(row, why, rolled.to_version, rolled.safety_backup_id)


def _rollback_on_its_own(hub: str, backup_id: str, reason: str,
                         fleet_file: str) -> UpgradeResult:
    """rollback_hub as a flow run of its own, confirmed, as an admin's from the UI: the hub
    served users during its soak, so the rollback holds it, reports what the restore
    discards and keeps a safety backup first (a subflow would restore at once, as inside a
    failed upgrade's window, where nobody could write). A new thread starts without this
    run's context, so the flow run has no parent."""
    with ThreadPoolExecutor(1, thread_name_prefix="soak-rollback") as pool:
        return pool.submit(rollback_hub, hub=hub, backup_id=backup_id, reason=reason,
                           fleet_file=fleet_file, confirm=True).result()


def _skipped(hub: str, environment: str, wave: str, why: str) -> FleetRow:
    return FleetRow(hub=hub, environment=environment, wave=wave, status=Status.SKIPPED,
                    error=why, note=why)


def _exact_targets(hubs: list[HubConfig], override: str | None,
                   pre: bool) -> dict[str, str | None]:
    """Each hub's target for this run, `latest` and major versions resolved once each."""
    asked = {hub.name: override or hub.target_version for hub in hubs}
    resolved = {target: resolve_target(target, pre)
                for target in sorted({t for t in asked.values() if t and is_symbolic(t)})}
    return {name: resolved.get(target, target) if target else None
            for name, target in asked.items()}


def _run_wave(wave: Wave, budget: FailureBudget, max_parallel: int,
              targets: dict[str, str | None], fleet_file: str, use_deployments: bool,
              board: _Board, now: bool = False) -> list[FleetRow]:
    """Run one wave, `max_parallel` at a time, starting nothing once the budget is spent."""
    pending = list(wave.hubs)
    running: dict[PrefectFuture, str] = {}
    done: dict[str, FleetRow] = {}
    while pending or running:
        while pending and len(running) < max_parallel and not budget.exhausted:
            hub = pending.pop(0)
            future = upgrade_one.submit(hub.name, hub.environment, wave.name, targets[hub.name],
                                        fleet_file, use_deployments, upgrade_hub, now=now)
            running[future] = hub.name
        if not running:
            break
        finished = next(as_completed(list(running)))
        row = finished.result()
        running.pop(finished)
        if row.status is not Status.DEFERRED:  # outside its window: skipped, not failed
            budget.record(row.hub, row.ok)
        done[row.hub] = board.ended(row)
    for hub in pending:  # never started: the budget ran out
        done[hub.name] = board.ended(_skipped(hub.name, hub.environment, wave.name,
                                              "not started: the failure budget was spent"))
    return [done[h.name] for h in wave.hubs]
