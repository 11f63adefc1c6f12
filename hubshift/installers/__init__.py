"""Installers by `install.kind`; adding one never edits a flow."""

from __future__ import annotations

from hubshift.config import HubConfig
from hubshift.installers.base import Install, Installer
from hubshift.installers.venv import VenvInstaller

INSTALLERS: dict[str, type[Installer]] = {VenvInstaller.kind: VenvInstaller}


def installer_for(hub: HubConfig) -> Installer:
    """The installer that manages `hub`'s JupyterHub, chosen by its `install.kind`."""
    return INSTALLERS[hub.install.kind](hub)


__all__ = ["Install", "Installer", "installer_for"]
