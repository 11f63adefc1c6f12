"""JupyterHub upgraded inside the hub's own environment (TLJH's `/opt/tljh/hub`).

A service unit that names the env's path (`/opt/tljh/hub/bin/python -m jupyterhub`) leaves
no room for a symlink to flip, so the env itself changes at the switch. Everything slow still
happens before the stop:

- `download`: the wheels of the target AND of every package the env holds now go into the
  wheelhouse (built from sdists where needed), so that the upgrade and its undo both
  install with `--no-index` inside the window;
- `check`: the env's own pip resolves the target with the env's other packages, each pinned
  to its installed version (`pip install --dry-run --report`); a conflict is a refusal that
  names the package in the way;
- `prepare`: the target's exact package set (the env's, with what the dry run would change)
  is installed into a staging venv under `$HUBSHIFT_HOME`, made from the env's own base
  Python, so that `upgrade-db` and the checks run the target's code before the switch;
  the resolved wheel list is kept beside it.

The switch installs exactly those wheels (`--no-deps`, offline) and removes what the target
set does not hold; the undo installs the old versions back and removes what the upgrade
added, so `pip freeze` after a rollback equals `pip freeze` before. An `Install` of this
installer is the env plus a file under `$HUBSHIFT_HOME`: the package list the env held
(`packages:`) or the staged target (`staged:`); a rollback rebuilds the package list from
the backup when the file is gone.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Literal, TypeVar

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, Field

from hubshift.backends.installers.base import HubCommand, Install, Installer
from hubshift.backends.installers.pip import (
    Dist,
    Planned,
    ResolutionError,
    base_interpreter,
    canonical,
    create_venv,
    download_each,
    download_wheels,
    dry_run_install,
    freeze,
    install_exactly,
    installed_distributions,
    python_of,
    requirement_name,
    requirements_for,
    site_packages,
    top_level_packages,
    uninstall,
)
from hubshift.errors import InstallError
from hubshift.model import StrictModel
from hubshift.system import paths
from hubshift.system.diskspace import tree_size

#: Written last into a staging venv: one without it is half-built.
COMPLETE_MARKER = ".hubshift-complete"
#: pip's `install --dry-run --report` appeared in pip 22.2.
MIN_PIP = (22, 2)
#: What `pip freeze` leaves out: a package list read back from a freeze keeps them as they are.
FREEZE_SKIPS = ("pip", "setuptools", "wheel", "distribute")
# "<env> (packages: <file>)" or "<env> (staged: <folder>)": see `Install.location` below.
_LOCATION = re.compile(r"^(?P<env>.+) \((?P<kind>packages|staged): (?P<path>.+)\)$")

_M = TypeVar("_M", bound=BaseModel)


class InplaceInstallConfig(StrictModel):
    kind: Literal["inplace"] = "inplace"
    venv: Path = Field(
        description="The hub's own Python environment (e.g. TLJH's /opt/tljh/hub), which its "
        "service runs from; JupyterHub is upgraded inside it, with its own pip, while the "
        "hub is stopped"
    )
    extra_packages: list[str] = Field(
        default_factory=list,
        description="pip requirements installed with the new JupyterHub (e.g. an "
        "authenticator release that supports it); the env's other packages stay at their "
        "versions unless the new JupyterHub needs others",
    )


class PackageSet(BaseModel):
    """The packages an env held (or will hold), kept so that a switch can go back to it."""

    version: str = Field(description="JupyterHub's version in this set")
    env: str
    #: canonical name -> version; None: keep whatever is installed (a package `pip freeze`
    #: does not pin, read back from a backup's package list).
    packages: dict[str, str | None]
    #: `pip freeze` of the env when it held this set, if it was taken.
    freeze: str | None = None


class StagedTarget(BaseModel):
    """A prepared target: what the dry run resolved, and the set the env will hold."""

    version: str
    env: str
    base: str = Field(description="Fingerprint of the env's packages it was resolved against")
    target: str = Field(description="Fingerprint of the env's packages after the switch")
    install: list[str] = Field(description="name==version of each wheel the switch installs")
    packages: dict[str, str]


@dataclass(frozen=True)
class Where:
    """An `Install.location` of this installer, read back."""

    env: Path
    kind: Literal["packages", "staged"] | None
    path: Path | None


def fingerprint(packages: Mapping[str, str | None]) -> str:
    """A short digest of a package set (names and versions): two envs with the same one
    hold the same distributions, which is what `pip freeze` prints."""
    text = "".join(f"{name}=={version}\n" for name, version in sorted(packages.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def versions(dists: Mapping[str, Dist]) -> dict[str, str]:
    return {name: dist.version for name, dist in dists.items()}


def packages_from_freeze(text: str) -> dict[str, str | None]:
    """The package set a `pip freeze` describes: `name==version` pins; packages it names
    without a version (from a URL, editable) and those it leaves out are kept as they are."""
    packages: dict[str, str | None] = {}
    for raw in text.splitlines():
        line = raw.strip()
        editable = re.search(r"\((\S+?)==", line) if line.startswith("#") else None
        egg = re.search(r"[#&]egg=([\w.-]+)", line) if line.startswith("-e") else None
        if editable or egg:
            packages[canonical((editable or egg).group(1))] = None  # type: ignore[union-attr]
        elif line and not line.startswith(("#", "-")):
            if " @ " in line:
                packages[requirement_name(line)] = None
            elif "==" in line:
                name, version = line.split("==", 1)
                packages[canonical(name)] = version.split(";")[0].strip()
    for name in FREEZE_SKIPS:
        packages.setdefault(name, None)
    return packages


class InplaceInstaller(Installer):
    kind = "inplace"
    config_model = InplaceInstallConfig

    @property
    def config(self) -> InplaceInstallConfig:
        return self.hub.install  # type: ignore[return-value]

    @property
    def env(self) -> Path:
        return self.config.venv

    @property
    def python(self) -> Path:
        return python_of(self.env)

    # -- where things are kept -----------------------------------------------------------

    @cached_property
    def root(self) -> Path:
        """This env's folder under $HUBSHIFT_HOME: readable, and unique per env path."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", str(self.env)).strip("-")[-60:]
        digest = hashlib.sha256(str(self.env).encode()).hexdigest()[:6]
        return paths.installs(f"inplace-{slug}-{digest}")

    def _set_path(self, version: str, print_: str) -> Path:
        return self.root / "sets" / f"{version}-{print_}.json"

    def _staged_path(self, version: str, base: str) -> Path:
        return self.root / "staged" / f"{version}-{base}"

    def _location(self, kind: str, path: Path) -> str:
        return f"{self.env} ({kind}: {path})"

    def where(self, install: Install | str) -> Where:
        location = install.location if isinstance(install, Install) else install
        match = _LOCATION.match(location)
        if match is None:
            return Where(Path(location), None, None)
        return Where(Path(match["env"]), match["kind"], Path(match["path"]))  # type: ignore[arg-type]

    def _error(self, message: str, hint: str | None = None) -> InstallError:
        return InstallError(message, hub=self.hub.name, hint=hint)

    # -- the env as it is ------------------------------------------------------------------

    def _scan(self) -> dict[str, Dist]:
        if not self.env.is_dir():
            raise self._error(f"the hub's env {self.env} does not exist",
                              hint="fix install.venv in the fleet file")
        if not self.python.exists():
            raise self._error(f"the hub's env {self.env} has no bin/python",
                              hint="install.venv must be a Python environment")
        return installed_distributions(self.env)

    def current(self) -> Install:
        dists = self._scan()
        if "jupyterhub" not in dists:
            raise self._error(f"no JupyterHub installed in {self.env}")
        version = dists["jupyterhub"].version
        return Install(version, self._location(
            "packages", self._set_path(version, fingerprint(versions(dists)))))

    def _remember(self) -> Install:
        """`current()`, its package list kept where `switch(previous)` finds it (the env's
        `pip freeze` is taken the first time only: the window does not pay for it)."""
        install = self.current()
        path = self.where(install).path
        assert path is not None
        if not path.exists():
            text = freeze(self.env)
            _write(path, PackageSet(version=install.version, env=str(self.env),
                                    packages=versions(self._scan()), freeze=text))
        return install

    def holds(self, install: Install) -> bool:
        """Whether the env holds exactly `install`'s package set now."""
        where = self.where(install)
        if where.path is None or where.env != self.env:
            return False
        now = fingerprint(versions(self._scan()))
        if where.kind == "staged":
            staged = _read(where.path / "plan.json", StagedTarget)
            return staged is not None and staged.target == now
        return where.path.stem.rsplit("-", 1)[-1] == now

    # -- before the window -----------------------------------------------------------------

    @cached_property
    def _top_level(self) -> list[str]:
        """What the admin installed (nothing requires it), asked of the env's pip once."""
        return [canonical(name) for name in top_level_packages(self.env)]

    def requirements(self, version: str, dists: Mapping[str, Dist]) -> list[str]:
        """`jupyterhub==version`, the fleet file's extras, and every other top-level package
        of the env pinned to its installed version: what the upgrade must keep."""
        wanted = requirements_for(version, self.config.extra_packages)
        named = {requirement_name(spec) for spec in wanted}
        return wanted + [dists[name].pin for name in self._top_level
                         if name in dists and name not in named]

    def download(self, version: str, wheelhouse: Path) -> None:
        try:
            self._remember()
            dists = self._scan()
            # The env as it is: the undo reinstalls from these, offline. One that cannot be
            # had is refused by `check` only if the upgrade would replace it.
            download_each([d.pin for d in dists.values() if not d.direct], wheelhouse,
                          python=self.python)
            download_wheels(requirements_for(version, self.config.extra_packages),
                            wheelhouse, python=self.python, build=True)
        except InstallError as err:
            err.hub = self.hub.name
            raise

    def _resolve(self, version: str, wheelhouse: Path,
                 dists: Mapping[str, Dist]) -> list[Planned]:
        return dry_run_install(self.python, self.requirements(version, dists), [wheelhouse])

    def _conflict(self, version: str, err: ResolutionError) -> str:
        if err.conflicts:
            return (f"JupyterHub {version} conflicts with what {self.env} holds: "
                    f"{'; '.join(err.conflicts)} (upgrade or remove those packages first, or "
                    "name versions that support it in install.extra_packages)")
        return f"pip cannot install JupyterHub {version} into {self.env}: {err.message}"

    def check(self, version: str, wheelhouse: Path) -> list[str]:
        try:
            dists = self._scan()
            pip = dists.get("pip")
            if pip is None or _release(pip.version) < MIN_PIP:
                found = f"pip {pip.version}" if pip else "no pip"
                return [f"{self.env} has {found}; an in-place upgrade needs pip >= "
                        f"{'.'.join(map(str, MIN_PIP))} in the hub's env (run "
                        f"{self.python} -m pip install --upgrade pip)"]
            planned = self._resolve(version, wheelhouse, dists)
        except ResolutionError as err:
            return [self._conflict(version, err)]
        except InstallError as err:
            return [err.message]
        return self._undo_problems(version, planned, dists, wheelhouse)

    def _undo_problems(self, version: str, planned: list[Planned], dists: Mapping[str, Dist],
                       wheelhouse: Path) -> list[str]:
        """Why the switch or its undo could not run offline inside the window."""
        problems = [f"pip would install {p.pin} from {p.file.name}, not a wheel: the window "
                    "must not build anything" for p in planned if p.file.suffix != ".whl"]
        replaced = [dists[p.name] for p in planned
                    if p.name in dists and dists[p.name].version != p.version]
        problems += [f"JupyterHub {version} replaces {d.pin}, which was installed from a URL "
                     "or a path: a rollback could not put it back" for d in replaced if d.direct]
        pins = [d.pin for d in replaced if not d.direct]
        if pins:
            try:  # the undo's own install, rehearsed: every old wheel found, offline
                dry_run_install(self.python, pins, [wheelhouse], no_deps=True,
                                ignore_installed=True)
            except InstallError as err:
                problems.append(f"a rollback could not reinstall {', '.join(pins)} without a "
                                f"package index: {err.message}")
        return problems

    def prepare(self, version: str, *, wheelhouse: Path | None = None) -> Install:
        base = self._remember()
        if base.version == version:
            return base
        if wheelhouse is None:
            wheelhouse = paths.wheelhouse()
            self.download(version, wheelhouse)
        dists = self._scan()
        folder = self._staged_path(version, fingerprint(versions(dists)))
        installed = Install(version, self._location("staged", folder))
        if (folder / "venv" / COMPLETE_MARKER).exists() and (folder / "plan.json").exists():
            return installed
        try:
            planned = self._resolve(version, wheelhouse, dists)
        except ResolutionError as err:
            raise self._error(self._conflict(version, err)) from err
        shutil.rmtree(folder, ignore_errors=True)  # a half-built one from an interrupted run
        wheels = folder / "wheels"
        wheels.mkdir(parents=True)
        for item in planned:
            # Kept beside the plan: the switch needs no resolver and no shared wheelhouse.
            shutil.copy2(item.file, wheels / item.file.name)
        packages = {**versions(dists), **{p.name: p.version for p in planned}}
        staged = StagedTarget(version=version, env=str(self.env),
                              base=fingerprint(versions(dists)), target=fingerprint(packages),
                              install=[p.pin for p in planned], packages=packages)
        _write(folder / "plan.json", staged)
        # The set after the switch is known now: the switch's own `previous` costs no freeze.
        after = self._set_path(version, staged.target)
        if not after.exists():
            _write(after, PackageSet(version=version, env=str(self.env), packages=packages))
        self._build_staging(folder, staged, dists, [wheels, wheelhouse])
        return installed

    def _build_staging(self, folder: Path, staged: StagedTarget, dists: Mapping[str, Dist],
                       wheelhouse: Sequence[Path]) -> None:
        """A venv of the target's package set, from the env's own base Python, offline.

        What pip cannot install by name (a package installed from a URL or a path, such as
        TLJH's own) is read from the hub's env, after everything of the venv's own.
        """
        venv = folder / "venv"
        new = set(staged.install)
        pins = [f"{name}=={version}" for name, version in sorted(staged.packages.items())
                if name != "pip" and (f"{name}=={version}" in new or not dists[name].direct)]
        try:
            create_venv(venv, pins, find_links=wheelhouse, offline=True, no_deps=True,
                        python=base_interpreter(self.python))
        except InstallError as err:
            err.hub = self.hub.name
            raise
        # A .pth runs `import` lines: addsitedir also reads the env's own .pth files
        # (editable installs). Named to come last among the venv's .pth files.
        (site_packages(venv)[0] / "zz-hubshift-hub-env.pth").write_text("".join(
            f"import site; site.addsitedir({str(site)!r})\n"
            for site in site_packages(self.env)))
        (venv / COMPLETE_MARKER).write_text(staged.version + "\n")

    # -- the switch, and its undo ----------------------------------------------------------

    def switch(self, install: Install) -> Install:
        previous = self._remember()
        where = self.where(install)
        if where.env != self.env or where.path is None:
            raise self._error(f"{install.location} is not an in-place install of {self.env}")
        if where.kind == "staged":
            staged = _read(where.path / "plan.json", StagedTarget)
            if staged is None:
                raise self._error(f"JupyterHub {install.version} is not prepared in "
                                  f"{where.path} (its plan.json is gone); prepare it again")
            now = fingerprint(versions(self._scan()))
            if now not in (staged.base, staged.target):
                raise self._error(f"{self.env} changed since JupyterHub {install.version} was "
                                  "prepared; nothing was installed", hint="prepare it again")
            wanted: Mapping[str, str | None] = staged.packages
            links = [where.path / "wheels", paths.wheelhouse()]
        else:
            kept = _read(where.path, PackageSet)
            if kept is None:
                raise self._error(f"the package list {where.path} is gone",
                                  hint="`hubshift rollback` rebuilds it from the backup")
            wanted, links = kept.packages, [paths.wheelhouse()]
        self._converge(wanted, links)
        return previous

    def _converge(self, wanted: Mapping[str, str | None], links: list[Path]) -> None:
        """Make the env hold `wanted`: remove what it does not hold, then install each
        wanted version that differs, offline and without dependencies. Only distributions a
        switch can have installed are removed (never one installed from a URL or a path).
        Safe to call twice: the second call finds nothing to do."""
        have = self._scan()
        extra = sorted(name for name, dist in have.items()
                       if name not in wanted and not dist.direct)
        missing = [f"{name}=={version}" for name, version in sorted(wanted.items())
                   if version is not None and getattr(have.get(name), "version", None) != version]
        try:
            # Removed first: a package that moved from one distribution to another must
            # not lose its files to the uninstall of the old one.
            if extra:
                uninstall(self.python, extra)
            if missing:
                install_exactly(self.python, missing, links)
        except InstallError as err:
            err.hub = self.hub.name
            raise
        after = self._scan()
        wrong = [f"{name} is {getattr(after.get(name), 'version', 'missing')}, not {version}"
                 for name, version in wanted.items()
                 if version is not None and getattr(after.get(name), "version", None) != version]
        wrong += [f"{dist.pin} is still installed" for name, dist in after.items()
                  if name not in wanted and not dist.direct]
        if wrong:
            raise self._error(f"{self.env} did not end up as wanted: {'; '.join(wrong)}")

    def package_list(self, install: Install) -> str:
        where = self.where(install)
        if self.holds(install):
            return freeze(self.env)
        if where.kind == "staged" and where.path is not None:
            staged = _read(where.path / "plan.json", StagedTarget)
            if staged is not None:
                return "".join(f"{n}=={v}\n" for n, v in sorted(staged.packages.items()))
        kept = _read(where.path, PackageSet) if where.kind == "packages" and where.path else None
        if kept is not None and kept.freeze is not None:
            return kept.freeze
        raise self._error(f"no package list of JupyterHub {install.version} ({install.location})")

    def recover(self, version: str, location: str, package_list: str | None) -> Install:
        where = self.where(location)
        if where.kind == "staged" and where.path and (where.path / "plan.json").exists():
            return Install(version, location)
        name = where.path.name if where.kind == "packages" and where.path else None
        # The same file, or one of that name under this machine's $HUBSHIFT_HOME.
        for path in ([where.path, self.root / "sets" / name] if where.path and name else []):
            if path.exists():
                return Install(version, self._location("packages", path))
        current = self.current()
        if current.version == version and (name is None or self.holds(
                Install(version, self._location("packages", self.root / "sets" / name)))):
            return self._remember()
        if package_list is None:
            raise self._error(f"the package list of JupyterHub {version} in {self.env} "
                              f"({location}) is gone and the backup holds none")
        path = self.root / "sets" / (name or f"{version}-{fingerprint({'backup': location})}.json")
        _write(path, PackageSet(version=version, env=str(self.env),
                                packages=packages_from_freeze(package_list), freeze=package_list))
        return Install(version, self._location("packages", path))

    # -- running it ------------------------------------------------------------------------

    def _env_command(self, warmable: bool) -> HubCommand:
        bin_dir = self.env / "bin"
        return HubCommand(self.python, bin_dir / "jupyterhub", (bin_dir,), warmable=warmable)

    def command(self, install: Install) -> HubCommand:
        """The env's `jupyterhub` when it holds `install`; before the switch, the staging
        venv's (with the env's `bin` after its own on PATH)."""
        if self.holds(install):
            return self._env_command(warmable=True)
        where = self.where(install)
        if where.kind == "staged" and where.path is not None:
            venv = where.path / "venv"
            if not (venv / COMPLETE_MARKER).exists():
                raise self._error(f"JupyterHub {install.version} is not prepared in {venv}")
            bin_dir = venv / "bin"
            return HubCommand(python_of(venv), bin_dir / "jupyterhub", (bin_dir, self.env / "bin"))
        raise self._error(f"{self.env} does not hold JupyterHub {install.version} "
                          f"({install.location}) now: switch to it first")

    def hub_command(self, install: Install) -> HubCommand:
        """The env's `jupyterhub`, as the hub's service runs it. It cannot be loaded before
        the switch: the switch replaces the very files it would import."""
        return self._env_command(warmable=self.holds(install))

    def describe(self, install: Install | None = None) -> str:
        if install is None:
            return f"{self.env} (in place)"
        where = self.where(install)
        if where.kind == "staged" and where.path is not None:
            return (f"{self.env}, in place (JupyterHub {install.version} staged in "
                    f"{where.path / 'venv'})")
        return f"{self.env}, in place (JupyterHub {install.version}; packages {where.path})"

    def target_location(self, version: str) -> str:
        return f"{self.env}, in place (JupyterHub {version} staged first under {self.root})"

    def leftovers(self, keep: Sequence[Install]) -> list[Install]:
        """Staged targets under $HUBSHIFT_HOME of releases older than the one the env holds
        (stepping stones and past upgrades): a switch back never uses them, it goes by the
        package list. The env itself is never one."""
        current = self.current()
        needed = {i.location for i in keep}
        found = []
        for folder in sorted((self.root / "staged").glob("*")):
            version = folder.name.rsplit("-", 1)[0]
            install = Install(version, self._location("staged", folder))
            try:
                older = Version(version) < Version(current.version)
            except InvalidVersion:
                continue  # not a folder prepare() made
            if folder.is_dir() and older and install.location not in needed:
                found.append(install)
        return found

    def remove(self, install: Install) -> None:
        where = self.where(install)
        if (where.kind != "staged" or where.path is None
                or where.path.parent != self.root / "staged"):
            raise self._error(f"{install.location} is not a staged target of {self.env}")
        try:
            shutil.rmtree(where.path)
        except FileNotFoundError:
            pass  # removed already
        except OSError as err:
            raise self._error(f"cannot remove {where.path}: {err.strerror or err}") from err

    def disk_needs(self, current: Install, versions: Sequence[str]) -> dict[Path, int]:
        """A staging venv per version under $HUBSHIFT_HOME, each about the env's size, and
        room in the env for the new release beside the old while pip replaces it."""
        size = tree_size(self.env)
        return {paths.home(): len(versions) * size, self.env: size}


def _release(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def _write(path: Path, model: BaseModel) -> None:
    """Write then rename: a reader never finds half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(model.model_dump_json(indent=1))
    os.replace(tmp, path)


def _read(path: Path | None, model: type[_M]) -> _M | None:
    """The model stored at `path`; None when it is missing or unreadable."""
    if path is None:
        return None
    try:
        return model.model_validate_json(path.read_text())
    except (OSError, ValueError):
        return None
