"""Switch: point the hub at another install. A symlink flip: instant, and its undo is the
same task with the previous install."""

from __future__ import annotations

from prefect import get_run_logger

from hubshift.config import HubConfig
from hubshift.installers import Install, installer_for
from tasks import step


@step("switch", timeout_seconds=60)
def switch(hub: HubConfig, install: Install) -> Install:
    previous = installer_for(hub).switch(install)
    get_run_logger().info("hub %s now runs JupyterHub %s from %s (was %s)", hub.name,
                          install.version, install.path, previous.version)
    return previous
