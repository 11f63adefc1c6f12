"""Fetch JupyterHub release wheels before the window: proof the version exists, and the
source of its migration scripts and of the install, so nothing is downloaded while down."""

from __future__ import annotations

import sys
import zipfile
from email.parser import HeaderParser
from pathlib import Path

from hubshift.errors import PreflightError
from hubshift.system import paths
from hubshift.system.execute import run


def wheel_path(version: str, wheelhouse: Path) -> Path | None:
    matches = sorted(wheelhouse.glob(f"jupyterhub-{version}-*.whl"))
    return matches[0] if matches else None


def fetch_jupyterhub(version: str, wheelhouse: Path, *, hub: str | None = None) -> Path:
    """The wheel of JupyterHub `version`, downloaded into `wheelhouse` unless already there.

    Raises PreflightError when the package index has no such version (or cannot be reached).
    """
    cached = wheel_path(version, wheelhouse)
    if cached is not None:
        return cached
    with paths.filling(wheelhouse) as into:
        result = run(
            # Requires-Python is the hub's business, not hubshift's interpreter's: preflight
            # compares it with the Python the hub's new install will run on (requires_python).
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--ignore-requires-python", "--disable-pip-version-check", "--dest", into,
             "--find-links", wheelhouse, f"jupyterhub=={version}"],
            timeout=300,
        )
    found = wheel_path(version, wheelhouse)
    if result.returncode != 0 or found is None:
        # JupyterHub has releases: an index that lists none of them was not read at all
        # (unreachable, or answering errors), which pip does not say otherwise.
        unreachable = "from versions: none" in result.output or "Retrying" in result.output
        if not unreachable and ("No matching distribution" in result.output
                                or "from versions:" in result.output):
            raise PreflightError(
                f"JupyterHub {version} does not exist on the package index",
                hub=hub, step="preflight",
                hint="check target_version / --to against https://pypi.org/project/jupyterhub/",
            )
        raise PreflightError(
            f"cannot download JupyterHub {version}: the package index lists no release of "
            f"jupyterhub ({result.tail.strip()})" if unreachable else
            f"cannot download JupyterHub {version}: {result.tail.strip()}",
            hub=hub, step="preflight", hint="is the package index reachable?",
        )
    return found


def requires_python(wheel: Path) -> str | None:
    """The `Requires-Python` of a wheel's own metadata (e.g. ">=3.10"), None if it has none."""
    with zipfile.ZipFile(wheel) as archive:
        name = next((n for n in archive.namelist()
                     if n.count("/") == 1 and n.endswith(".dist-info/METADATA")), None)
        if name is None:
            return None
        metadata = HeaderParser().parsestr(archive.read(name).decode("utf-8"))
    value = metadata.get("Requires-Python")
    return value.strip() if value else None
