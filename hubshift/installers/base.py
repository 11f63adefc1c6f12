"""How a JupyterHub version gets installed and switched to, one interface per install kind.

Installing happens while the hub still runs (it is the slow part); switching is the short,
reversible step done while the hub is down, and its undo is the same call with the old path.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from hubshift.config import HubConfig


@dataclass(frozen=True)
class Install:
    """One installed JupyterHub: where it lives and which version it holds."""

    path: Path
    version: str


class Installer(ABC):
    kind: ClassVar[str]

    def __init__(self, hub: HubConfig) -> None:
        self.hub = hub

    @abstractmethod
    def current(self) -> Install:
        """The install the hub runs from now. Raises InstallError if there is none."""

    @abstractmethod
    def prepare(self, version: str, *, wheelhouse: Path | None = None) -> Install:
        """Install `version` beside the current one without touching it; return the new install.

        With `wheelhouse` (filled by `download`), the install asks no package index.

        Safe to call twice: a complete install of the same version is reused. Raises
        InstallError (the hub is still untouched).
        """

    def download(self, version: str, wheelhouse: Path) -> None:  # noqa: B027 - optional
        """Fetch what `prepare(version, wheelhouse=...)` installs into `wheelhouse`, so that
        the install itself needs no package index. Raises InstallError."""

    @abstractmethod
    def switch(self, install: Install) -> Install:
        """Make the hub run from `install`; return the install it ran from before.

        The undo is `switch(previous)`. Safe to call twice. Called with the hub stopped.
        """

    @abstractmethod
    def package_list(self, install: Install) -> str:
        """The exact package list of `install` (e.g. `pip freeze`), kept with the backup."""

    @abstractmethod
    def reinstall(self, version: str, package_list: str | None) -> Install:
        """Rebuild the install of `version` that a rollback needs but that is gone.

        With `package_list` (as `package_list` returned it) the exact packages come back;
        without, the release and the current install's extras. Raises InstallError.
        """
