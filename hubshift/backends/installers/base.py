"""How a JupyterHub version gets installed and switched to, one interface per install kind.

Installing happens while the hub still runs (it is the slow part); switching is the short,
reversible step done while the hub is down, and its undo is the same call with the previous
install. An `Install` is a handle that only its installer reads: nothing outside the
installer's module knows whether it is a venv, an env's package set or an image. Whoever
needs to run JupyterHub asks the installer for a `HubCommand`.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from hubshift.errors import InstallError
from hubshift.model import StrictModel
from hubshift.system.execute import Result, child_env, run, spawn_detached
from hubshift.system.warm import WarmCommand

if TYPE_CHECKING:
    from hubshift.config import HubConfig


@dataclass(frozen=True)
class Install:
    """One installed JupyterHub. `location` means what its installer says it means (the
    venv's folder, the env a package set lives in); records and manifests keep it as is."""

    version: str
    location: str


@dataclass(frozen=True)
class HubCommand:
    """`jupyterhub` of one install: the interpreter that runs it, its console script, and
    the folders that go first on PATH (`upgrade-db` runs `alembic` from PATH, the hub starts
    its proxy from it). Cold and preloaded runs take their arguments from the same call."""

    python: Path
    script: Path
    path_first: tuple[Path, ...] = ()
    #: False when the files this command would import change before it runs (an in-place
    #: install replaced at the switch): loading it early would run the old release's code.
    warmable: bool = True

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        return child_env(path_first=self.path_first, extra=extra)

    def run(self, args: Sequence[str | os.PathLike[str]], *, cwd: Path,
            extra_env: Mapping[str, str] | None = None, timeout: float | None = None,
            secrets: Iterable[str] = ()) -> Result:
        """Run `jupyterhub ARGS` to completion; output merged and redacted (never raises
        for a non-zero exit; subprocess.TimeoutExpired after `timeout`)."""
        return run([self.script, *args], env=self.env(extra_env), cwd=cwd, timeout=timeout,
                   secrets=secrets)

    def python_run(self, args: Sequence[str | os.PathLike[str]], *, cwd: Path,
                   extra_env: Mapping[str, str] | None = None, timeout: float | None = None,
                   secrets: Iterable[str] = ()) -> Result:
        """Run the install's interpreter with `args` (a script that asks the release's own
        code), in the same environment as `run`."""
        return run([self.python, *args], env=self.env(extra_env), cwd=cwd, timeout=timeout,
                   secrets=secrets)

    def spawn(self, args: Sequence[str | os.PathLike[str]], *, cwd: Path,
              extra_env: Mapping[str, str] | None, log_path: Path) -> int:
        """Start `jupyterhub ARGS` in a session of its own, output appended to `log_path`;
        return its pid. Raises OSError when the script cannot be run."""
        return spawn_detached([self.script, *args], env=self.env(extra_env), cwd=cwd,
                              log_path=log_path)

    def warm(self, args: Sequence[str | os.PathLike[str]], *, cwd: Path,
             extra_env: Mapping[str, str] | None = None,
             log_path: Path | None = None) -> WarmCommand | None:
        """The same command, its interpreter importing JupyterHub now (see system.warm);
        None when it cannot be loaded ahead (`warmable` is False): it then runs cold."""
        if not self.warmable:
            return None
        return WarmCommand(self.python, self.script, args, env=self.env(extra_env), cwd=cwd,
                           log_path=log_path)


class Installer(ABC):
    """Installs JupyterHub releases for one hub and switches the hub between them."""

    kind: ClassVar[str]
    #: The `install:` section of a hub entry for this kind (its `kind` is the tag).
    config_model: ClassVar[type[StrictModel]]

    def __init__(self, hub: HubConfig) -> None:
        self.hub = hub

    @abstractmethod
    def current(self) -> Install:
        """The install the hub runs from now. Raises InstallError if there is none."""

    def check(self, version: str, wheelhouse: Path) -> list[str]:
        """Reasons `version` cannot be installed for this hub, found before the window
        (after `download`); empty when there are none. Never raises."""
        return []

    def download(self, version: str, wheelhouse: Path) -> None:  # noqa: B027 - optional
        """Fetch what `prepare(version, wheelhouse=...)` and the undo of the switch install
        into `wheelhouse`, so that neither needs a package index. Raises InstallError."""

    @abstractmethod
    def prepare(self, version: str, *, wheelhouse: Path | None = None) -> Install:
        """Make `version` ready to switch to, without touching what the hub runs; return it.

        With `wheelhouse` (filled by `download`), no package index is asked. Once this
        returns, `command(install)` runs the new release (for `upgrade-db` and checks).
        Safe to call twice: a complete install of the same version is reused. Raises
        InstallError (the hub is still untouched).
        """

    @abstractmethod
    def switch(self, install: Install) -> Install:
        """Make the hub run from `install`; return the install it ran from before.

        The undo is `switch(previous)`. Safe to call twice. Called with the hub stopped.
        Raises InstallError.
        """

    @abstractmethod
    def package_list(self, install: Install) -> str:
        """The exact package list of `install` (e.g. `pip freeze`), kept with the backup."""

    @abstractmethod
    def recover(self, version: str, location: str, package_list: str | None) -> Install:
        """The install a backup was taken from (`version` at `location`, as `current()`
        said then), rebuilt from `package_list` if it is gone. Raises InstallError."""

    @abstractmethod
    def command(self, install: Install) -> HubCommand:
        """How to run `jupyterhub` of `install` (prepared or current) now, e.g. `upgrade-db`
        or `--version`."""

    def hub_command(self, install: Install) -> HubCommand:
        """How the hub itself runs `jupyterhub` once `install` is switched to (the runtime
        that starts the hub as a process uses it). The same as `command` unless the
        installer switches through a path of its own."""
        return self.command(install)

    @abstractmethod
    def describe(self, install: Install | None = None) -> str:
        """Where `install` lives (default: what the hub runs now), for plans and messages."""

    def target_location(self, version: str) -> str:
        """What the plan shows as the new install of `version`."""
        return self.describe(Install(version, ""))

    def leftovers(self, keep: Sequence[Install]) -> list[Install]:
        """Installs of this hub that hubshift built and `remove` may delete: older releases
        and stepping stones that neither the hub runs now nor `keep` names (the rollback
        targets of the backups kept). Never one newer than the current (an upgrade may be
        preparing it). Default: none. Raises InstallError when the current install cannot
        be read. Reads only."""
        return []

    def remove(self, install: Install) -> None:
        """Delete one install `leftovers` listed, after checking again that the hub does not
        run from it. Safe to call twice. Raises InstallError."""
        raise InstallError(f"{self.kind} installs are not removed by hubshift",
                           hub=self.hub.name)

    def disk_needs(self, current: Install, versions: Sequence[str]) -> dict[Path, int]:
        """Bytes each folder must have free to prepare `versions` (for preflight)."""
        return {}

    def python_version(self, current: Install) -> str:
        """The version ("3.11.7") of the Python that installs `prepare` makes for this hub
        will run on, so that preflight can hold it against a release's Requires-Python.

        By default the interpreter that runs `current`: right for an installer that
        installs into the hub's own environment, or builds new ones on the same Python.
        Raises InstallError when that interpreter cannot be asked. Safe to call twice.
        """
        return interpreter_version(self.command(current).python)


def interpreter_version(python: Path) -> str:
    """`python`'s own version, as it reports it. Raises InstallError if it cannot run."""
    result = run([python, "-c", "import platform; print(platform.python_version())"],
                 timeout=60)
    if result.returncode != 0 or not result.output.strip():
        raise InstallError(f"cannot ask {python} for its version: {result.tail.strip()}")
    return result.output.strip().splitlines()[-1]
