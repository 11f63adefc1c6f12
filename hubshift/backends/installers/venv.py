"""Side-by-side virtualenvs: `<venv>` is a symlink to `<venv>-<version>`, flipped to switch.

The new venv is built next to the running one while the hub is still up, so the downtime
holds no pip at all; the old venv stays in place, so switching back is one rename.
A hub whose `<venv>` is still a plain directory is adopted at its first switch: the directory
becomes `<venv>-<old version>` and `<venv>` a symlink to it. Its scripts keep working because
their shebangs name `<venv>/bin/python`, which the symlink resolves.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Literal

from packaging.version import Version
from pydantic import Field

from hubshift.backends.databases import database_for
from hubshift.backends.installers.base import (
    HubCommand,
    Install,
    Installer,
    interpreter_version,
)
from hubshift.backends.installers.pip import (
    create_venv,
    download_wheels,
    freeze,
    installed_version,
    python_of,
    requirement_name,
    requirements_for,
    top_level_packages,
)
from hubshift.errors import InstallError
from hubshift.model import StrictModel
from hubshift.system.diskspace import tree_size

#: Written last into a venv built by hubshift: a venv without it is a half-built one.
COMPLETE_MARKER = ".hubshift-complete"
#: The `<version>` of a `<venv>-<version>` folder (a release, never `-old` or `-backup`).
_VERSION_DIR = re.compile(r"\d+(\.\d+)*((a|b|rc)\d+)?")


class VenvInstallConfig(StrictModel):
    kind: Literal["venv"] = "venv"
    venv: Path = Field(
        description="The path the hub runs from; hubshift makes it a symlink to a versioned "
        "venv beside it (<venv>-<version>) and flips it to switch versions"
    )
    extra_packages: list[str] = Field(
        default_factory=list,
        description="Packages to add to every new venv besides those the old venv had",
    )


class VenvInstaller(Installer):
    kind = "venv"
    config_model = VenvInstallConfig

    @property
    def config(self) -> VenvInstallConfig:
        return self.hub.install  # type: ignore[return-value]

    @property
    def link(self) -> Path:
        return self.config.venv

    def path_for(self, version: str) -> Path:
        return self.link.with_name(f"{self.link.name}-{version}")

    def current(self) -> Install:
        if not self.link.exists():
            raise InstallError(f"the hub's venv {self.link} does not exist", hub=self.hub.name,
                               hint="fix install.venv in the fleet file")
        version = installed_version(self.link)
        if version is None:
            raise InstallError(f"no JupyterHub installed in {self.link}", hub=self.hub.name)
        return Install(version, str(self.link.resolve() if self.link.is_symlink() else self.link))

    @cached_property
    def _extra_packages(self) -> list[str]:
        """The packages the admin added to the running venv, the fleet file's extras and the
        database driver: the same for every hop, and `pip list` takes a second to ask."""
        driver = database_for(self.hub.db_url.get_secret_value(), hub=self.hub.name)
        return _unique([*top_level_packages(self.link), *self.config.extra_packages,
                        *driver.driver_packages])

    def requirements(self, version: str) -> list[str]:
        """What a venv of `version` for this hub holds: the release and the extra packages."""
        return requirements_for(version, self._extra_packages)

    def download(self, version: str, wheelhouse: Path) -> None:
        if self._built(version) is not None:
            # An earlier prepare built it (a run refused or rolled back after it): prepare
            # reuses it, and the undo of the switch installs nothing, so there is nothing to
            # fetch, nor the running venv's package list to ask for.
            return
        try:
            # The hub venv's own pip picks wheels for the Python the new venv will run on.
            python = python_of(self.link)
            has_pip = any(self.link.glob("lib/python*/site-packages/pip"))
            download_wheels(self.requirements(version), wheelhouse,
                            python=python if has_pip else None)
        except InstallError as err:
            err.hub = self.hub.name
            raise

    def prepare(self, version: str, *, wheelhouse: Path | None = None) -> Install:
        built = self._built(version)
        if built is not None:
            return built
        target = self.path_for(version)
        if target.exists():
            if target == self._resolved_link():
                raise InstallError(f"{target} is the venv the hub runs from; not rebuilding it",
                                   hub=self.hub.name)
            shutil.rmtree(target)  # a half-built venv from an interrupted run
        return self._build(target, version, self.requirements(version), wheelhouse)

    def _built(self, version: str) -> Install | None:
        """The complete venv of `version` beside the hub's, if hubshift built one."""
        target = self.path_for(version)
        if (target / COMPLETE_MARKER).exists() and installed_version(target) == version:
            return Install(version, str(target))
        return None

    def switch(self, install: Install) -> Install:
        previous = self.current()
        target = Path(install.location)
        if target == self.link and self.link.is_symlink():
            # An install recorded before its adoption now lives under its version.
            target = self.path_for(install.version)
        if self.link.is_symlink() or not self.link.exists():
            _flip(self.link, target)
        else:
            # Adopt a plain directory: move it aside under its version, then link.
            adopted = self.path_for(previous.version)
            if adopted.exists():
                raise InstallError(f"cannot adopt {self.link}: {adopted} already exists",
                                   hub=self.hub.name)
            os.rename(self.link, adopted)
            previous = Install(previous.version, str(adopted))
            _flip(self.link, target)
        return previous

    def recover(self, version: str, location: str, package_list: str | None) -> Install:
        for path in (Path(location), self.path_for(version)):
            # An install recorded at <venv> before its adoption now lives under its version.
            if (path / "bin" / "jupyterhub").exists() and installed_version(path) == version:
                return Install(version, str(path))
        return self._reinstall(version, package_list)

    def _reinstall(self, version: str, package_list: str | None) -> Install:
        if package_list is None:
            return self.prepare(version)
        target = self.path_for(version)
        shutil.rmtree(target, ignore_errors=True)
        # `pip freeze` lines are exact pins; editable installs cannot be rebuilt from it.
        pins = [line for line in package_list.splitlines()
                if line.strip() and not line.startswith(("-e ", "#"))]
        return self._build(target, version, pins, None)

    def _build(self, target: Path, version: str, requirements: list[str],
               wheelhouse: Path | None) -> Install:
        """Create the venv, then mark it complete: a venv without the mark is half-built."""
        try:
            # On the hub's own Python (a hub on 3.9 stays on 3.9); with a wheelhouse filled
            # by `download`, the index is not asked at all.
            base = self.base_python() if self.link.exists() else None
            create_venv(target, requirements, find_links=wheelhouse,
                        offline=wheelhouse is not None,
                        python=str(base) if base is not None else None)
        except InstallError as err:
            err.hub = self.hub.name
            raise
        (target / COMPLETE_MARKER).write_text(version + "\n")
        return Install(version, str(target))

    def base_python(self) -> Path:
        """The interpreter the hub's venv was made from; new venvs are made from it too.

        Read from the venv's `pyvenv.cfg` (`executable`, Python >= 3.11), else where its
        `bin/python` symlink leads, else `home` and `version`. Raises InstallError when
        none of them names an interpreter that exists.
        """
        venv = self.link.resolve()
        cfg = _pyvenv_cfg(venv)
        candidates = [Path(cfg["executable"])] if cfg.get("executable") else []
        real = python_of(venv).resolve()
        if venv not in real.parents:
            candidates.append(real)
        version = cfg.get("version_info") or cfg.get("version") or ""
        if cfg.get("home") and version:
            candidates.append(Path(cfg["home"]) / f"python{'.'.join(version.split('.')[:2])}")
        for candidate in candidates:
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return candidate
        raise InstallError(f"cannot tell which Python {venv} was made from (its pyvenv.cfg "
                           "names none that exists)", hub=self.hub.name)

    def python_version(self, current: Install) -> str:
        """The version of `base_python`, which new venvs are made from."""
        return interpreter_version(self.base_python())

    def package_list(self, install: Install) -> str:
        return freeze(Path(install.location))

    def command(self, install: Install) -> HubCommand:
        bin_dir = Path(install.location) / "bin"
        return HubCommand(python_of(Path(install.location)), bin_dir / "jupyterhub", (bin_dir,))

    def hub_command(self, install: Install) -> HubCommand:
        """`<venv>/bin/jupyterhub` through the link (as the hub's service runs it), by
        `install`'s interpreter: once the link points at `install`, the same program."""
        return HubCommand(python_of(Path(install.location)), self.link / "bin" / "jupyterhub",
                          (self.link / "bin",))

    def describe(self, install: Install | None = None) -> str:
        if install is None:
            target = os.readlink(self.link) if self.link.is_symlink() else self.link
            return f"{self.link} (-> {target})" if self.link.is_symlink() else str(self.link)
        return install.location or str(self.path_for(install.version))

    def target_location(self, version: str) -> str:
        return str(self.path_for(version))

    def leftovers(self, keep: Sequence[Install]) -> list[Install]:
        """`<venv>-<version>` venvs beside the link, older than the one it points at."""
        current = self.current()
        running = Path(current.location).resolve()
        needed = {Path(i.location).resolve() for i in keep if i.location}
        # An install recorded at <venv> before its adoption now lives under its version.
        needed |= {self.path_for(i.version).resolve() for i in keep}
        found = []
        for path in sorted(self.link.parent.glob(f"{self.link.name}-*")):
            version = path.name[len(self.link.name) + 1:]
            if (not _VERSION_DIR.fullmatch(version) or path.is_symlink() or not path.is_dir()
                    or not ((path / "pyvenv.cfg").exists() or (path / COMPLETE_MARKER).exists())
                    or path.resolve() in needed | {running}):
                continue  # not a venv of ours, or one still needed
            if Version(version) < Version(current.version):
                found.append(Install(version, str(path)))
        return found

    def remove(self, install: Install) -> None:
        path = Path(install.location)
        if path.parent != self.link.parent or not path.name.startswith(f"{self.link.name}-"):
            raise InstallError(f"{path} is not a venv hubshift built for {self.link}",
                               hub=self.hub.name)
        if self.link.exists() and path.resolve() == self.link.resolve():
            raise InstallError(f"{path} is the venv the hub runs from; not removing it",
                               hub=self.hub.name)
        try:
            shutil.rmtree(path)
        except FileNotFoundError:
            pass  # removed already
        except OSError as err:
            raise InstallError(f"cannot remove {path}: {err.strerror or err}",
                               hub=self.hub.name) from err

    def disk_needs(self, current: Install, versions: Sequence[str]) -> dict[Path, int]:
        """A new venv per version beside the current one, each about its size."""
        return {self.link.parent: len(versions) * tree_size(Path(current.location))}

    def _resolved_link(self) -> Path | None:
        return self.link.resolve() if self.link.is_symlink() else None


def _pyvenv_cfg(venv: Path) -> dict[str, str]:
    """The `key = value` lines of a venv's pyvenv.cfg (empty when it has none)."""
    try:
        text = (venv / "pyvenv.cfg").read_text()
    except OSError:
        return {}
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def _unique(packages: list[str]) -> list[str]:
    """First mention of each distribution wins (`psycopg2-binary` vs `psycopg2_binary==2.9`)."""
    seen: set[str] = set()
    kept = []
    for spec in packages:
        name = requirement_name(spec)
        if name not in seen:
            seen.add(name)
            kept.append(spec)
    return kept


def _flip(link: Path, target: Path) -> None:
    """Point `link` at `target` atomically (new symlink, then rename over the old one)."""
    tmp = link.with_name(f".{link.name}.hubshift-tmp")
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)
