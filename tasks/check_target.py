"""Check target: the prepared release itself loads the hub's config, imports its classes and
judges its named servers, before the window. No retries: a release that refuses will not
change its mind. A refusal is exit 2 with the hub untouched."""

from __future__ import annotations

import dataclasses

from prefect import get_run_logger

from hubshift.backends.installers import Install
from hubshift.plan.preflight import Preflight
from hubshift.plan.target_checks import check_prepared
from tasks import step
from tasks.preflight import publish_plan


@step("check-target", timeout_seconds=600)
def check_target(checked: Preflight, installs: list[Install]) -> Preflight:
    """`checked` with the plan the target release completed (`installs[-1]` is the target)."""
    plan = check_prepared(checked.hub, checked.plan, installs[-1])
    log = get_run_logger()
    for line in [*plan.warnings[len(checked.plan.warnings):], *plan.notes]:
        log.warning("JupyterHub %s: %s", plan.target_version, line)
    publish_plan(plan)
    return dataclasses.replace(checked, plan=plan)
