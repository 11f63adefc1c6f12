"""Prepare: install the target (and each stepping stone) beside the running hub, from the
wheelhouse preflight filled. Idempotent, so it may retry once; long, so it has a generous
timeout."""

from __future__ import annotations

from hubshift.backends.installers import Install, installer_for
from hubshift.plan.preflight import Preflight
from tasks import note, step


@step("prepare", retries=1, retry_delay_seconds=10, timeout_seconds=1800)
def prepare(checked: Preflight) -> list[Install]:
    """One install per hop, the target's last."""
    installer = installer_for(checked.hub)
    installs = []
    for hop in checked.plan.hops:
        install = installer.prepare(hop.version, wheelhouse=checked.wheelhouse)
        note("JupyterHub %s ready in %s", install.version, installer.describe(install))
        installs.append(install)
    return installs
