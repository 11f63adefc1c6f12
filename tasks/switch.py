"""Switch: point the hub at another install (a symlink flip, an offline pip install: the
installer knows); its undo is the same task with the previous install."""

from __future__ import annotations

from hubshift.backends.installers import Install, installer_for
from hubshift.config import HubConfig
from tasks import note, step


@step("switch", timeout_seconds=60)
def switch(hub: HubConfig, install: Install) -> Install:
    installer = installer_for(hub)
    previous = installer.switch(install)
    note("hub %s now runs JupyterHub %s from %s (was %s)", hub.name, install.version,
         installer.describe(install), previous.version)
    return previous
