"""Preload: the window's `upgrade-db`s and the new hub, JupyterHub imported, before the
stop. No retries: a release that cannot import JupyterHub will not learn to."""

from __future__ import annotations

from prefect import get_run_logger

from hubshift.backends.installers import Install
from hubshift.config import HubConfig
from hubshift.window.preload import Preloaded
from hubshift.window.preload import preload as load
from tasks import step


@step("preload", timeout_seconds=600)
def preload(hub: HubConfig, installs: list[Install]) -> Preloaded:
    loaded = load(hub, installs)
    get_run_logger().info("hub %s: %d command(s) of the window loaded and waiting (pids %s)",
                          hub.name, len(loaded.all()),
                          ", ".join(str(c.pid) for c in loaded.all()))
    return loaded
