"""Runtimes by `runtime.kind`; adding one never edits a flow or a task."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hubshift.backends.installers import installer_for
from hubshift.backends.runtimes.base import HubEnvironment, Runtime, RuntimeStatus
from hubshift.backends.runtimes.command import CommandRuntime
from hubshift.backends.runtimes.process import ProcessRuntime
from hubshift.backends.runtimes.systemd import SystemdRuntime

if TYPE_CHECKING:
    from hubshift.config import HubConfig

RUNTIMES: dict[str, type[Runtime]] = {
    cls.kind: cls for cls in (ProcessRuntime, SystemdRuntime, CommandRuntime)}


def runtime_for(hub: HubConfig) -> Runtime:
    """The runtime that controls `hub`, chosen by its `runtime.kind`, with its installer."""
    return RUNTIMES[hub.runtime.kind](hub, installer_for(hub))


__all__ = ["RUNTIMES", "HubEnvironment", "Runtime", "RuntimeStatus", "runtime_for"]
