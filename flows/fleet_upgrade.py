"""fleet_upgrade: many hubs, in safe waves.

Staging hubs first (a canary: if one fails or is refused, no production hub is touched; one
already up to date is a success), then production in a growing ramp, at most `max_parallel`
hubs at a time. Once failed/attempted exceeds `max_fail_percent`, no new hub starts; those
already running finish.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from prefect import flow, get_run_logger
from prefect.futures import PrefectFuture, as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field

from flows.upgrade_hub import upgrade_hub
from hubshift import events
from hubshift.config import HubConfig, load_fleet
from hubshift.fleet.report import FleetRow
from hubshift.fleet.waves import FailureBudget, Wave, plan_waves
from hubshift.plan.releases import is_symbolic
from hubshift.result import Status
from tasks.fleet import fleet_report, upgrade_one
from tasks.resolve import resolve_target


@flow(name="fleet-upgrade", task_runner=ThreadPoolTaskRunner(max_workers=32))
def fleet_upgrade(
    fleet_file: str = "fleet.yaml",
    target_version: str | None = None,
    hubs: list[str] | None = None,
    max_parallel: Annotated[int, Field(ge=1, le=32)] = 4,
    max_fail_percent: Annotated[float, Field(ge=0, le=100)] = 0.0,
    use_deployments: bool = False,
    pre: bool = False,
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
        now: Ignore the hubs' maintenance windows (otherwise a hub whose window cannot
            hold its upgrade is deferred, counted as skipped, not failed).
    """
    log = get_run_logger()
    fleet = load_fleet(fleet_file)
    chosen = [fleet.hub(name) for name in hubs] if hubs else list(fleet.hubs)
    targets = _exact_targets(chosen, target_version, pre)
    budget = FailureBudget(max_fail_percent)
    rows: list[FleetRow] = []
    stopped_by = ""
    hubs_done = events.meter("hubs", len(chosen), every=0)
    hubs_done(0)  # the count is known before the first hub ends
    for wave in plan_waves(chosen):
        if stopped_by:
            rows += [_ended(_skipped(hub.name, hub.environment, wave.name, stopped_by),
                            hubs_done) for hub in wave.hubs]
            continue
        log.info("wave %s: %s", wave.name, ", ".join(h.name for h in wave.hubs))
        events.emit(events.Notice(None, f"wave {wave.name}: "
                                        f"{', '.join(h.name for h in wave.hubs)}"))
        wave_rows = _run_wave(wave, budget, max_parallel, targets,
                              str(fleet.source.resolve()), use_deployments, hubs_done,
                              now=now)
        rows += wave_rows
        if wave.canary and not all(r.ok for r in wave_rows if r.status is not Status.SKIPPED):
            stopped_by = "a staging hub failed: production was not touched"
        elif budget.exhausted:
            stopped_by = (f"{budget.failed} of {budget.attempted} hubs failed, more than "
                          f"max_fail_percent={max_fail_percent:g}")
    if stopped_by:
        log.warning("fleet upgrade stopped: %s", stopped_by)
    fleet_report(rows)
    return rows


def _skipped(hub: str, environment: str, wave: str, why: str) -> FleetRow:
    return FleetRow(hub=hub, environment=environment, wave=wave, status=Status.SKIPPED,
                    error=why)


def _exact_targets(hubs: list[HubConfig], override: str | None,
                   pre: bool) -> dict[str, str | None]:
    """Each hub's target for this run, `latest` and major versions resolved once each."""
    asked = {hub.name: override or hub.target_version for hub in hubs}
    resolved = {target: resolve_target(target, pre)
                for target in sorted({t for t in asked.values() if t and is_symbolic(t)})}
    return {name: resolved.get(target, target) if target else None
            for name, target in asked.items()}


def _ended(row: FleetRow, hubs_done: Callable[[int], None]) -> FleetRow:
    """Tell whoever watches that a hub is done, and how."""
    events.emit(events.HubEnded(row.hub, row.ok, row.summary()))
    hubs_done(1)
    return row


def _run_wave(wave: Wave, budget: FailureBudget, max_parallel: int,
              targets: dict[str, str | None], fleet_file: str, use_deployments: bool,
              hubs_done: Callable[[int], None], now: bool = False) -> list[FleetRow]:
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
        done[row.hub] = _ended(row, hubs_done)
    for hub in pending:  # never started: the budget ran out
        done[hub.name] = _ended(_skipped(hub.name, hub.environment, wave.name,
                                         "not started: the failure budget was spent"), hubs_done)
    return [done[h.name] for h in wave.hubs]
