"""Installers by `install.kind`; adding one never edits a flow or a task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubshift.backends.installers.base import HubCommand, Install, Installer
from hubshift.backends.installers.inplace import InplaceInstaller
from hubshift.backends.installers.venv import VenvInstaller

if TYPE_CHECKING:
    from hubshift.config import HubConfig

INSTALLERS: dict[str, type[Installer]] = {
    cls.kind: cls for cls in (VenvInstaller, InplaceInstaller)}


def installer_for(hub: HubConfig) -> Installer:
    """The installer that manages `hub`'s JupyterHub, chosen by its `install.kind`."""
    return INSTALLERS[hub.install.kind](hub)


__all__ = ["INSTALLERS", "HubCommand", "Install", "Installer", "installer_for"]
