"""Which JupyterHub release `latest` or a major version (`6`) means, asked of the package index.

pip answers, with the index it is configured with: `pip install --dry-run --report` resolves a
requirement such as `jupyterhub>=6,<7` to the release it would install and writes that as JSON
(pip's installation report), so no listing is scraped. The same question answers `--via auto`
(the newest release of each major version in between). Pre-releases count only when asked
(`--pre`). Requires-Python is ignored here on purpose: `latest` is the newest release, and
preflight says plainly when the hub's Python cannot run it, instead of quietly picking an
older one for hubshift's own interpreter.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from hubshift.errors import PreflightError
from hubshift.system.execute import run

PACKAGE = "jupyterhub"
#: A target that names no exact version: the newest release on the index.
LATEST = "latest"
_MAJOR = re.compile(r"\d+")
#: Resolving asks the index once; a slow mirror may take a while.
RESOLVE_TIMEOUT = 300


def is_symbolic(target: str) -> bool:
    """Whether `target` is `latest` or a bare major version (`6`), not an exact release."""
    return target.strip().lower() == LATEST or bool(_MAJOR.fullmatch(target.strip()))


def requirement_for(target: str, pre: bool = False) -> str:
    """The pip requirement a symbolic target stands for: `jupyterhub` or `jupyterhub>=6,<7`.

    With `pre`, the bounds are dev releases (`>=7.dev0,<8.dev0`): 7.0.0rc1 comes before 7,
    so `>=7` would leave out the pre-releases of 7 that `--pre` asks for.
    """
    target = target.strip().lower()
    if target == LATEST:
        return PACKAGE
    major = int(target)
    if pre:
        return f"{PACKAGE}>={major}.dev0,<{major + 1}.dev0"
    return f"{PACKAGE}>={major},<{major + 1}"


class Unreachable(PreflightError):
    """The package index could not be read at all (down, or it lists no JupyterHub)."""


def newest(requirement: str, *, pre: bool = False, hub: str | None = None) -> str | None:
    """The release pip would install for `requirement`, or None when the index has none.

    Raises Unreachable (a PreflightError, exit 2) when the index cannot be read.
    """
    with tempfile.TemporaryDirectory(prefix="hubshift-resolve-") as scratch:
        report = Path(scratch) / "report.json"
        argv: list[str | Path] = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--no-deps", "--only-binary=:all:", "--ignore-requires-python", "--quiet",
            "--disable-pip-version-check", "--report", report, requirement]
        if pre:
            argv.append("--pre")
        result = run(argv, timeout=RESOLVE_TIMEOUT)
        if result.returncode == 0 and report.exists():
            chosen = json.loads(report.read_text()).get("install") or []
            for item in chosen:
                if item["metadata"]["name"].lower() == PACKAGE:
                    return str(item["metadata"]["version"])
    # pip says which releases it saw: none at all means the index was not read (JupyterHub
    # has releases), some means it was, and none matched. Only the failure is read as text.
    if "No matching distribution" in result.output \
            and "from versions: none" not in result.output:
        return None
    raise Unreachable(f"cannot ask the package index which release {requirement} means: "
                      f"{_error_line(result.output)}", hub=hub, step="preflight",
                      hint="is the package index reachable? or name an exact version")


def resolve_target(target: str, *, pre: bool = False, hub: str | None = None) -> str:
    """The exact release `target` means: itself when exact, else the newest final release
    on the index (`latest`) or of that major version (`6`); with `pre`, pre-releases too.

    Raises PreflightError (exit 2) for a major version with no release, or an index that
    cannot be read.
    """
    if not is_symbolic(target):
        return target
    found = newest(requirement_for(target, pre), pre=pre, hub=hub)
    if found is None:
        which = "pre-release or release" if pre else "final release"
        raise PreflightError(f"--to {target}: the package index has no {which} of "
                             f"JupyterHub {target}.x", hub=hub, step="preflight",
                             hint="name a major version that exists, or an exact version")
    return found


def newest_of_majors(majors: Iterable[int], *, hub: str | None = None) -> dict[int, str]:
    """The newest final release of each major version that has one (asked in parallel:
    each question is a pip process that mostly waits on the index)."""
    wanted = sorted(set(majors))
    if not wanted:
        return {}
    with ThreadPoolExecutor(max_workers=min(4, len(wanted))) as pool:
        found = pool.map(lambda m: newest(requirement_for(str(m)), hub=hub), wanted)
        return {major: version for major, version in zip(wanted, found, strict=True)
                if version is not None}


def _error_line(output: str) -> str:
    """pip's last error line (an index it could not read lists no versions at all)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if any("from versions: none" in line for line in errors):
        return f"the index lists no release of {PACKAGE} (is it down, or not a mirror of it?)"
    return (errors or lines or ["pip printed nothing"])[-1]
