"""How a hub process is stopped, started and checked: one small interface per runtime kind.

A flow never knows whether a hub is a process, a systemd unit or a helm release; it asks the
runtime chosen by the hub's `runtime.kind` and relies on each method's contract below.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hubshift.config import HubConfig
from hubshift.warm import WarmCommand


@dataclass(frozen=True)
class RuntimeStatus:
    """What the runtime knows of the hub process (not whether the hub answers HTTP)."""

    running: bool
    pid: int | None = None
    detail: str = ""


class Runtime(ABC):
    """Controls one hub's process."""

    kind: ClassVar[str]

    def __init__(self, hub: HubConfig) -> None:
        self.hub = hub

    def preload(self, install: Path) -> WarmCommand | None:
        """The hub's next start from `install`, loaded while the old hub still runs, so
        that the downtime does not pay for importing JupyterHub; None if this runtime
        cannot. Raises WarmError if `install` cannot even import JupyterHub."""
        return None

    @abstractmethod
    def start(self, venv: Path, warm: WarmCommand | None = None) -> RuntimeStatus:
        """Start the hub from `venv` (its `bin/jupyterhub`) and return once the process runs.

        `warm` is what `preload` returned: used if `venv` now points at its install,
        discarded otherwise. Does not wait for HTTP health (see `hubshift.hubapi.
        wait_healthy`). Raises RuntimeControlError if the hub is already running or the
        process exits at once.
        """

    @abstractmethod
    def stop(self, timeout: float | None = None) -> None:
        """Stop the hub and everything it started, and return once all of it is gone.

        SIGTERM first, SIGKILL after `timeout` (default: the configured stop_timeout).
        Safe to call twice: stopping a stopped hub does nothing. Raises
        RuntimeControlError if the processes or the port outlive SIGKILL.
        """

    @abstractmethod
    def status(self) -> RuntimeStatus:
        """Whether the hub process runs now. Never raises for a stopped hub."""
