"""Preload: the window's `upgrade-db`s and the new hub, JupyterHub imported, before the
stop. No retries: a release that cannot import JupyterHub will not learn to."""

from __future__ import annotations

from hubshift.backends.installers import Install
from hubshift.config import HubConfig
from hubshift.window.preload import Preloaded
from hubshift.window.preload import preload as load
from tasks import note, step


@step("preload", timeout_seconds=600)
def preload(hub: HubConfig, installs: list[Install]) -> Preloaded:
    loaded = load(hub, installs)
    note("%d command(s) of the window loaded and waiting (pids %s)", len(loaded.all()),
         ", ".join(str(c.pid) for c in loaded.all()) or "none")
    return loaded
