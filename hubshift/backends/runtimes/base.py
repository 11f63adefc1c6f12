"""How a hub is stopped, started and checked: one small interface per service manager.

A flow never knows whether a hub is a process hubshift starts, a systemd unit or a
supervisord program; it asks the runtime chosen by the hub's `runtime.kind` and relies on
each method's contract below. The runtime controls the hub as its service manager knows it
and runs nothing of JupyterHub's own choosing: what to run comes from the installer.
"""

from __future__ import annotations

import socket
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import urlsplit

from pydantic import Field

from hubshift.backends.installers.base import Install, Installer
from hubshift.errors import RuntimeControlError
from hubshift.model import StrictModel
from hubshift.system.warm import WarmCommand

if TYPE_CHECKING:
    from hubshift.config import HubConfig


class RuntimeConfigBase(StrictModel):
    """What every runtime's `runtime:` section has."""

    stop_timeout: float = Field(30, gt=0, description="Seconds the hub has to stop before "
                                "it is killed (or the stop is reported as failed)")
    start_timeout: float = Field(120, gt=0, description="Seconds the hub has to become "
                                 "healthy after its start")


@dataclass(frozen=True)
class RuntimeStatus:
    """What the service manager knows of the hub (not whether the hub answers HTTP)."""

    running: bool
    pid: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class HubEnvironment:
    """The working directory and the environment variables the hub runs with: JupyterHub
    commands run for the hub (`upgrade-db`) get the same, so its config loads the same."""

    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


class Runtime(ABC):
    """Controls one hub through its service manager."""

    kind: ClassVar[str]
    #: The `runtime:` section of a hub entry for this kind (its `kind` is the tag).
    config_model: ClassVar[type[RuntimeConfigBase]]
    #: Whether `preload` can load the hub's next start before the window (a service manager
    #: that runs its own command line cannot: the start then pays JupyterHub's imports).
    can_preload: ClassVar[bool] = False
    #: Whether `set_env` can give the hub a variable of hubshift's choosing (a move's new
    #: database URL); the move refuses before the window where it cannot.
    can_set_env: ClassVar[bool] = False

    def __init__(self, hub: HubConfig, installer: Installer) -> None:
        self.hub = hub
        self.installer = installer

    @property
    def config(self) -> RuntimeConfigBase:
        return self.hub.runtime

    def check(self) -> list[str]:
        """What would stop this runtime from controlling the hub, found before the window
        (a unit that does not exist, a status command that cannot run). Never raises."""
        return []

    def stops_hub_children(self) -> str | None:
        """Why stopping the hub through this runtime also stops the processes the hub
        started as its own children (the users' servers of a local process spawner), even
        when the hub leaves them running; None when it does not. Never raises."""
        return None

    @abstractmethod
    def environment(self) -> HubEnvironment:
        """Where and with which variables the hub runs. Raises RuntimeControlError when the
        service manager cannot tell."""

    def preload(self, install: Install) -> WarmCommand | None:
        """The hub's next start from `install`, loaded while the old hub still runs, so that
        the downtime does not pay for importing JupyterHub; None if this runtime cannot.
        Raises WarmError if `install` cannot even import JupyterHub."""
        return None

    @abstractmethod
    def start(self, warm: WarmCommand | None = None) -> RuntimeStatus:
        """Start the hub as its service manager runs it (the install switched to last);
        return once it runs.

        `warm` is what `preload` returned: used if it was loaded for the install the hub
        runs now, discarded otherwise. Does not wait for HTTP health (see
        `hubshift.window.verify.wait_for_version`). Raises RuntimeControlError, quoting what
        the service manager and the hub's log say, if the hub is already running or does
        not come up. Starting a running hub is that error, never a second hub.
        """

    @abstractmethod
    def stop(self, timeout: float | None = None) -> None:
        """Stop the hub and everything it started, and return once all of it is gone and
        its port is closed.

        `timeout` defaults to the configured stop_timeout. Safe to call twice: stopping a
        stopped hub does nothing. Raises RuntimeControlError if the hub outlives it.
        """

    @abstractmethod
    def status(self) -> RuntimeStatus:
        """Whether the hub runs now, as its service manager says. Never raises."""

    def set_env_problem(self) -> str | None:
        """Why `set_env` cannot work for this hub (None: it can), found before the window.
        Never raises."""
        if self.can_set_env:
            return None
        return f"runtime kind {self.kind!r} cannot give the hub a variable of hubshift's yet"

    def set_env(self, name: str, value: str) -> None:
        """Give the hub `name=value` from its next start on (and the JupyterHub commands run
        for it, through `environment`), over what its config sets. `value` may hold a
        password: it is kept where only the hub's owner can read it, never on a command line.
        Raises RuntimeControlError where this runtime cannot (`can_set_env` False)."""
        raise self.error(f"runtime kind {self.kind!r} cannot set the hub's environment yet",
                         "move-switch", hint="run the hub with runtime kind process")

    def unset_env(self, name: str) -> None:  # noqa: B027 - nothing was set
        """Undo `set_env(name, ...)`: the next start runs as before it. Safe to call twice."""

    # -- shared by the runtimes --------------------------------------------------------

    def address(self) -> tuple[str, int]:
        """Host and port the hub itself answers on (its own API, not an external proxy's:
        a proxy that runs on its own stays up while the hub is down)."""
        parts = urlsplit(self.hub.own_api_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return parts.hostname or "127.0.0.1", port

    def port_open(self) -> bool:
        host, port = self.address()
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    def error(self, message: str, step: str, hint: str | None = None) -> RuntimeControlError:
        return RuntimeControlError(message, hub=self.hub.name, step=step, hint=hint)
