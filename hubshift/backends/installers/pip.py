"""Build and inspect Python virtual environments with pip, for any JupyterHub release.

Old releases need old libraries: JupyterHub < 3 breaks with SQLAlchemy 2, and < 2 with
SQLAlchemy 1.4 and alembic 1.8, so the requirements of a venv depend on the version it holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from hubshift.errors import InstallError
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


def create_venv(
    path: Path,
    requirements: list[str],
    *,
    find_links: Path | None = None,
    offline: bool = False,
    python: str | None = None,
) -> None:
    """Create a venv at `path` and pip-install `requirements` into it.

    `find_links` is a wheelhouse pip looks in first; with `offline` pip looks nowhere else.
    Raises InstallError with pip's output tail on failure; `path` is left for inspection.
    """
    base = python or getattr(sys, "_base_executable", None) or sys.executable
    result = run([base, "-m", "venv", path], timeout=120)
    if result.returncode != 0:
        raise InstallError(f"cannot create a venv at {path}: {result.tail}")
    args: list[str | Path] = [python_of(path), "-m", "pip", "install", "--quiet",
                              "--disable-pip-version-check"]
    if find_links is not None:
        args += ["--find-links", find_links]
    if offline:
        args += ["--no-index"]
    result = run([*args, *requirements], env=child_env(path_first=[path / "bin"]),
                 timeout=PIP_TIMEOUT)
    if result.returncode != 0:
        raise InstallError(
            f"pip could not install {' '.join(requirements)} into {path}: {result.tail}"
        )


def download_wheels(requirements: list[str], wheelhouse: Path, *,
                    python: Path | None = None) -> None:
    """Put every distribution `requirements` need into `wheelhouse`, so that an install can
    run with `--no-index` later, when the package index may be unreachable.

    `python` (default: ours) runs pip: the wheels chosen are those for its Python version,
    so it should be one of the Python the install will run on. Asks the wheelhouse alone
    first (no network when an earlier run filled it), then the index. Raises InstallError
    with pip's output tail when neither has everything.
    """
    base = [python or sys.executable, "-m", "pip", "download", "--quiet",
            "--disable-pip-version-check", "--find-links", wheelhouse, "--dest", wheelhouse]
    if run([*base, "--no-index", *requirements], timeout=PIP_TIMEOUT).returncode == 0:
        return
    result = run([*base, *requirements], timeout=PIP_TIMEOUT)
    if result.returncode != 0:
        raise InstallError(
            f"pip could not download {' '.join(requirements)} into {wheelhouse}: {result.tail}"
        )


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


def freeze(venv: Path) -> str:
    """`pip freeze` of `venv`: what a rollback needs to rebuild it exactly."""
    result = run([python_of(venv), "-m", "pip", "freeze", "--disable-pip-version-check"],
                 timeout=120)
    if result.returncode != 0:
        raise InstallError(f"cannot freeze {venv}: {result.tail}")
    return result.output
