"""Prepare: install the target beside the running hub. Idempotent, so it may retry once
(a flaky index); long, so it has a generous timeout."""

from __future__ import annotations

from prefect import get_run_logger

from hubshift.installers import Install, installer_for
from hubshift.preflight import Preflight
from tasks import step


@step("prepare", retries=1, retry_delay_seconds=10, timeout_seconds=1800)
def prepare(checked: Preflight) -> Install:
    install = installer_for(checked.hub).prepare(checked.plan.target_version,
                                                 wheelhouse=checked.wheelhouse)
    get_run_logger().info("JupyterHub %s ready in %s", install.version, install.path)
    return install
