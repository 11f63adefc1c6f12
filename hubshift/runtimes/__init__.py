"""Runtimes by `runtime.kind`; adding one never edits a flow."""

from __future__ import annotations

from hubshift.config import HubConfig
from hubshift.runtimes.base import Runtime, RuntimeStatus
from hubshift.runtimes.process import ProcessRuntime

RUNTIMES: dict[str, type[Runtime]] = {ProcessRuntime.kind: ProcessRuntime}


def runtime_for(hub: HubConfig) -> Runtime:
    """The runtime that controls `hub`, chosen by its `runtime.kind`."""
    return RUNTIMES[hub.runtime.kind](hub)


__all__ = ["Runtime", "RuntimeStatus", "runtime_for"]
