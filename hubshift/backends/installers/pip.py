"""Build and inspect Python virtual environments with pip, for any JupyterHub release.

Old releases need old libraries: JupyterHub < 3 breaks with SQLAlchemy 2, and < 2 with
SQLAlchemy 1.4 and alembic 1.8, so the requirements of a venv depend on the version it holds.
Every function that runs pip takes the interpreter whose pip it runs: an environment's own
pip is the one that knows which wheels its Python can install.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.utils import canonicalize_name

from hubshift.errors import InstallError
from hubshift.system import paths
from hubshift.system.execute import child_env, run

#: Installing a JupyterHub release takes ~15 s with a warm cache; a cold one, minutes.
PIP_TIMEOUT = 900

# Packages every venv has that say nothing about the hub.
_BOOTSTRAP = {"pip", "setuptools", "wheel", "jupyterhub"}


def _major_minor(version: str) -> tuple[int, int]:
    parts = [int(p) for p in version.split(".")[:2] if p.isdigit()]
    return (parts + [0, 0])[0], (parts + [0, 0])[1]


def requirements_for(version: str, extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """pip requirements for a venv running JupyterHub `version` with `extra` packages."""
    reqs = [f"jupyterhub=={version}"]
    major, _ = _major_minor(version)
    if major < 2:
        reqs += ["sqlalchemy<1.4", "alembic<1.8"]
    elif major < 3:
        reqs += ["sqlalchemy<2"]
    return reqs + [p for p in extra if p.split("=")[0].split("<")[0].split(">")[0] not in reqs]


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


def _pip(python: Path | str) -> list[str | Path]:
    """`pip` run by `python`, never prompting, never asking PyPI about its own version."""
    return [python, "-m", "pip", "--disable-pip-version-check", "--no-input"]


def _links(find_links: Path | Sequence[Path] | None) -> list[str | Path]:
    if find_links is None:
        return []
    folders = [find_links] if isinstance(find_links, Path) else list(find_links)
    return [arg for folder in folders for arg in ("--find-links", folder)]


def _bootstrap_wheels() -> list[Path]:
    """The pip (and setuptools, where the Python bundles it) wheels that `python -m venv`
    would put into a new venv: the ones bundled with ensurepip."""
    import ensurepip

    bundled = Path(ensurepip.__file__).parent / "_bundled"
    return sorted([*bundled.glob("pip-*.whl"), *bundled.glob("setuptools-*.whl")])


def create_venv(
    path: Path,
    requirements: list[str],
    *,
    find_links: Path | Sequence[Path] | None = None,
    offline: bool = False,
    python: str | Path | None = None,
    no_deps: bool = False,
) -> None:
    """Create a venv at `path` with the interpreter `python` (default: hubshift's base
    interpreter) and pip-install `requirements` into it.

    `find_links` are wheelhouses pip looks in first; with `offline` pip looks nowhere else.
    With `no_deps`, exactly `requirements` are installed (an exact, complete package set).
    Raises InstallError with pip's output tail on failure; `path` is left for inspection.
    """
    base = python or getattr(sys, "_base_executable", None) or sys.executable
    # Without ensurepip (seconds of CPU: it runs pip once just to install pip): our own pip
    # installs the venv's pip and setuptools, from the wheels ensurepip would have used, in
    # the same run as the requirements.
    result = run([base, "-m", "venv", "--without-pip", path], timeout=120)
    if result.returncode != 0:
        raise InstallError(f"cannot create a venv at {path}: {result.tail}")
    args: list[str | Path] = [sys.executable, "-m", "pip", "--python", python_of(path),
                              "--disable-pip-version-check", "--no-input", "install", "--quiet",
                              *_links(find_links), *_bootstrap_wheels()]
    if offline:
        args += ["--no-index"]
    if no_deps:
        args += ["--no-deps"]
    result = run([*args, *requirements], env=child_env(path_first=[path / "bin"]),
                 timeout=PIP_TIMEOUT)
    if result.returncode != 0:
        raise InstallError(
            f"pip could not install {' '.join(requirements)} into {path}: {result.tail}"
        )


def download_wheels(requirements: list[str], wheelhouse: Path, *,
                    python: Path | str | None = None, build: bool = False,
                    no_deps: bool = False) -> None:
    """Put every distribution `requirements` need into `wheelhouse`, so that an install can
    run with `--no-index` later, when the package index may be unreachable.

    Run by `python`'s pip (default: hubshift's), which picks what that Python can install.
    With `build`, sdists are built into wheels now (`pip wheel`): an install inside the
    downtime must not build anything. With `no_deps`, only `requirements` themselves.
    Asks the wheelhouse alone first (no network when an earlier run filled it), then the
    index. Raises InstallError with pip's output tail when neither has everything.
    """
    with paths.filling(wheelhouse) as into:
        action = (["wheel", "--wheel-dir", into] if build else ["download", "--dest", into])
        base = [*_pip(python or sys.executable), *action, "--quiet", "--find-links",
                wheelhouse, *(["--no-deps"] if no_deps else [])]
        if run([*base, "--no-index", *requirements], timeout=PIP_TIMEOUT).returncode == 0:
            return
        result = run([*base, *requirements], timeout=PIP_TIMEOUT)
    if result.returncode != 0:
        raise InstallError(
            f"pip could not download {' '.join(requirements)} into {wheelhouse}: {result.tail}"
        )


def download_each(pins: list[str], wheelhouse: Path, *, python: Path) -> list[str]:
    """Wheels of exactly `pins` (name==version, no dependencies) into `wheelhouse`, built
    from sdists where needed; return the pins that could not be had (a package of a private
    index or built by hand). All at once first; one by one only when that fails."""
    try:
        download_wheels(pins, wheelhouse, python=python, build=True, no_deps=True)
        return []
    except InstallError:
        pass
    missing = []
    for pin in pins:
        try:
            download_wheels([pin], wheelhouse, python=python, build=True, no_deps=True)
        except InstallError:
            missing.append(pin)
    return missing


def installed_version(venv: Path, package: str = "jupyterhub") -> str | None:
    """The version of `package` in `venv`, or None when the venv or the package is missing.

    Read from the `<name>-<version>.dist-info` folder when there is exactly one (no process
    to start: this runs during the downtime), else asked of the venv's own Python.
    """
    if not python_of(venv).exists():
        return None
    name = package.replace("-", "_").lower()
    found = [p.name[len(name) + 1:-len(".dist-info")]
             for p in venv.glob("lib/python*/site-packages/*.dist-info")
             if p.name.lower().startswith(name + "-")]
    if len(found) == 1:
        return found[0]
    code = (
        "import importlib.metadata as m, sys\n"
        "try: print(m.version(sys.argv[1]))\n"
        "except m.PackageNotFoundError: pass\n"
    )
    result = run([python_of(venv), "-c", code, package], timeout=60)
    return (result.output.strip() or None) if result.returncode == 0 else None


def top_level_packages(venv: Path) -> list[str]:
    """Packages installed in `venv` that nothing else requires (what the admin added)."""
    result = run(
        [python_of(venv), "-m", "pip", "list", "--not-required", "--format=json",
         "--disable-pip-version-check"],
        timeout=120,
    )
    if result.returncode != 0:
        raise InstallError(f"cannot list the packages of {venv}: {result.tail}")
    # pip may print warnings before the JSON.
    listing = json.loads(result.output[result.output.index("["):])
    return sorted(p["name"] for p in listing if p["name"].lower() not in _BOOTSTRAP)


@dataclass(frozen=True)
class Dist:
    """One installed distribution, as its metadata folder says."""

    name: str      #: canonical (PEP 503) name: `sqlalchemy`, `jupyter-events`
    version: str
    #: Installed from a URL, a local path or editable (it has PEP 610's direct_url.json): no
    #: package index or wheelhouse can give it back by name and version.
    direct: bool = False

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


def canonical(name: str) -> str:
    return str(canonicalize_name(name))


def requirement_name(spec: str) -> str:
    """The canonical distribution name of a requirement (`psycopg[binary]>=3` -> psycopg)."""
    return canonical(re.split(r"[<>=!~\[; @]", spec.strip(), maxsplit=1)[0])


def site_packages(env: Path) -> list[Path]:
    """The site-packages folders of the environment at `env` (a venv or a conda env)."""
    found: dict[Path, Path] = {}
    for folder in sorted(env.glob("lib*/python*/site-packages")):
        found.setdefault(folder.resolve(), folder)
    return list(found.values())


def installed_distributions(env: Path) -> dict[str, Dist]:
    """Every distribution installed in `env`, by canonical name, read from the metadata
    folders themselves: no process to start (this also runs inside the downtime)."""
    dists: dict[str, Dist] = {}
    parser = HeaderParser()
    for site in site_packages(env):
        for meta in sorted([*site.glob("*.dist-info"), *site.glob("*.egg-info")]):
            source = meta / ("METADATA" if meta.suffix == ".dist-info" else "PKG-INFO")
            if meta.is_file():
                source = meta  # an egg-info may be a file of its own
            try:
                headers = parser.parsestr(source.read_text("utf-8", "replace"))
            except OSError:
                continue
            name, version = headers.get("Name"), headers.get("Version")
            if name and version:
                dist = Dist(canonical(name), version.strip(),
                            (meta / "direct_url.json").exists())
                dists[dist.name] = dist
    return dists


@dataclass(frozen=True)
class Planned:
    """What `pip install --dry-run` says it would install: a distribution and its file."""

    name: str
    version: str
    file: Path

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


class ResolutionError(InstallError):
    """pip cannot resolve the requirements; `conflicts` holds pip's own sentences naming
    the packages in the way (`site-authenticator 1.0 depends on jupyterhub<5`)."""

    def __init__(self, message: str, conflicts: list[str], **kwargs: str | None) -> None:
        super().__init__(message, **kwargs)
        self.conflicts = conflicts


# pip's resolver explains a conflict as "The conflict is caused by:" then one line each.
_DEPENDS = re.compile(r"^\s*(\S+ \S+ depends on .+?)\s*$", re.MULTILINE)


def conflicts_in(output: str) -> list[str]:
    """pip's "X 1.0 depends on Y<5" sentences in its resolver's output, each once."""
    return list(dict.fromkeys(_DEPENDS.findall(output)))


def dry_run_install(python: Path, requirements: Iterable[str], find_links: Sequence[Path], *,
                    no_deps: bool = False, ignore_installed: bool = False) -> list[Planned]:
    """What `python`'s pip would install for `requirements` into its environment, from
    `find_links` alone (no index), as pip's JSON report says; nothing is installed.

    Installed distributions that satisfy a requirement stay (pip's default strategy), so
    the answer is what an upgrade would change. Raises ResolutionError when pip cannot
    resolve (with the conflicts it names), InstallError when it cannot run.
    """
    requirements = list(requirements)
    with tempfile.TemporaryDirectory(prefix="hubshift-pip-report-") as tmp:
        report = Path(tmp) / "report.json"
        flags = [*(["--no-deps"] if no_deps else []),
                 *(["--ignore-installed"] if ignore_installed else [])]
        result = run([*_pip(python), "install", "--dry-run", "--no-index", "--report", report,
                      *_links(find_links), *flags, *requirements], timeout=PIP_TIMEOUT)
        if result.returncode != 0:
            conflicts = conflicts_in(result.output)
            errors = [line for line in result.output.splitlines()
                      if line.startswith("ERROR:")]
            raise ResolutionError("; ".join(conflicts) or "\n".join(errors) or result.tail,
                                  conflicts)
        try:
            items = json.loads(report.read_text())["install"]
        except (OSError, ValueError, KeyError) as err:
            raise InstallError(f"pip wrote no readable report ({err}): {result.tail}") from err
    return [Planned(canonical(item["metadata"]["name"]), item["metadata"]["version"],
                    Path(unquote(urlsplit(item["download_info"]["url"]).path)))
            for item in items]


def install_exactly(python: Path, pins: list[str], find_links: Sequence[Path]) -> None:
    """Install `pins` (name==version) into `python`'s environment from `find_links` alone,
    without their dependencies: the set was resolved before. pip replaces an installed
    other version of each. Installed by name from a folder, not from a file path, so no
    PEP 610 record makes `pip freeze` print a URL. Not byte-compiled: this runs inside the
    downtime, and the hub compiles the modules it imports anyway (measured: the switch
    2-3 s faster, the next start no slower). Raises InstallError."""
    result = run([*_pip(python), "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                  "--no-warn-conflicts", "--root-user-action=ignore", *_links(find_links),
                  *pins], timeout=PIP_TIMEOUT)
    if result.returncode != 0:
        raise InstallError(f"pip could not install {' '.join(pins)}: {result.tail}")


def uninstall(python: Path, names: list[str]) -> None:
    """Remove `names` from `python`'s environment. Raises InstallError."""
    result = run([*_pip(python), "uninstall", "--yes", "--quiet", "--root-user-action=ignore",
                  *names], timeout=PIP_TIMEOUT)
    if result.returncode != 0:
        raise InstallError(f"pip could not uninstall {' '.join(names)}: {result.tail}")


def base_interpreter(python: Path) -> Path:
    """The interpreter the environment of `python` was made from (itself outside a venv):
    a venv made from it runs the same Python. Raises InstallError."""
    result = run([python, "-c",
                  "import sys; print(getattr(sys, '_base_executable', '') or sys.executable)"],
                 timeout=60)
    if result.returncode != 0:
        raise InstallError(f"{python} does not run: {result.tail}")
    return Path(result.output.strip().splitlines()[-1])


def freeze(venv: Path) -> str:
    """`pip freeze` of `venv`: what a rollback needs to rebuild it exactly."""
    result = run([python_of(venv), "-m", "pip", "freeze", "--disable-pip-version-check"],
                 timeout=120)
    if result.returncode != 0:
        raise InstallError(f"cannot freeze {venv}: {result.tail}")
    return result.output
