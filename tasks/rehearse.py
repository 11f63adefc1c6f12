"""Rehearse: the upgrade done on a copy of the hub's database, the hub up and untouched.
No retries: a migration that breaks on this hub's data breaks again. A failure is a refusal
(exit 2); the time it took is the coming window's estimate."""

from __future__ import annotations

from prefect import get_run_logger

from hubshift.backends.installers import Install
from hubshift.plan.preflight import Preflight
from hubshift.plan.rehearsal import rehearse as run_rehearsal
from hubshift.result import Rehearsal
from tasks import note, step


@step("rehearse", timeout_seconds=3600)
def rehearse(checked: Preflight, installs: list[Install]) -> Rehearsal:
    outcome = run_rehearsal(checked.hub, checked.plan, installs)
    log = get_run_logger()
    for line in outcome.cleaned:
        log.info("removed a leftover of an interrupted rehearsal: %s", line)
    for line in outcome.warnings:
        log.warning("%s", line)
    note("on a copy of the database, the hub up: %s", outcome.summary())
    return outcome
