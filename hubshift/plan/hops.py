"""Stepping stones: which releases an upgrade passes through on its way to the target.

JupyterHub's data migrations import the ORM of the release that runs them, so a long jump
(2.x -> 5.x) can fail where one major version at a time succeeds (jupyterhub issue 5427).
Each hop runs its own release's `upgrade-db`, all inside one downtime window.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Sequence

from packaging.version import InvalidVersion, Version

from hubshift.errors import PreflightError
from hubshift.system.execute import run

#: `--via` values that are not version lists.
DIRECT, AUTO = "direct", "auto"


def parse_via(via: str | None, *, hub: str | None = None, where: str = "--via",
              ) -> list[str] | str:
    """`direct`, `auto`, or the explicit versions of `--via 3.1.1,4.1.6`, checked for form.

    The one rule for both the command line and the fleet file's `via` (`where` names which).
    Raises PreflightError (exit 2) naming the value that is not a version.
    """
    if via is None or via.strip() in ("", DIRECT):
        return DIRECT
    if via.strip() == AUTO:
        return AUTO
    versions = [v.strip() for v in via.split(",") if v.strip()]
    for version in versions:
        if not re.fullmatch(r"\d+(\.\d+){1,2}", version):
            raise PreflightError(f"{where}: {version!r} is not a release version like 4.1.6 "
                                 "(or say `auto` or `direct`)", hub=hub, step="preflight")
    return versions


def choose_hops(installed: str, target: str, via: str | None,
                releases: Callable[[], Sequence[str]], *, hub: str | None = None) -> list[str]:
    """The versions whose `upgrade-db` runs, in order, ending with `target`.

    `auto` takes the newest release of each major version between the installed one and the
    target's; an explicit list must climb strictly from `installed` to `target`. Raises
    PreflightError (exit 2) for a list that does not.
    """
    chosen = parse_via(via, hub=hub)
    if chosen == DIRECT:
        return [target]
    if chosen == AUTO:
        newest: dict[int, Version] = {}
        for text in releases():
            try:
                version = Version(text)
            except InvalidVersion:
                continue
            if version.is_prerelease or version.is_devrelease:
                continue
            if Version(installed).major < version.major < Version(target).major:
                newest[version.major] = max(version, newest.get(version.major, version))
        return [str(newest[m]) for m in sorted(newest)] + [target]
    steps = [Version(installed), *map(Version, chosen), Version(target)]
    for low, high in zip(steps, steps[1:], strict=False):
        if not low < high:
            raise PreflightError(
                f"--via {','.join(chosen)}: each stepping stone must be newer than the one "
                f"before and older than the target (installed {installed}, target {target}); "
                f"{high} does not come after {low}", hub=hub, step="preflight")
    return [*chosen, target]


def index_versions(package: str = "jupyterhub", *, hub: str | None = None) -> list[str]:
    """Every release of `package` on the package index pip is configured with.

    Raises PreflightError when the index cannot be asked.
    """
    result = run([sys.executable, "-m", "pip", "index", "versions", package,
                  "--disable-pip-version-check"], timeout=120)
    found = re.search(r"^Available versions: (.+)$", result.output, re.MULTILINE)
    if result.returncode != 0 or found is None:
        raise PreflightError(f"cannot list the releases of {package} for --via auto: "
                             f"{result.tail.strip()}", hub=hub, step="preflight",
                             hint="is the package index reachable? or name the hops: "
                                  "--via 3.1.1,4.1.6")
    return [v.strip() for v in found.group(1).split(",")]
