"""Stepping stones: which releases an upgrade passes through on its way to the target.

JupyterHub's data migrations import the ORM of the release that runs them, so a long jump
(2.x -> 5.x) can fail where one major version at a time succeeds (jupyterhub issue 5427).
Each hop runs its own release's `upgrade-db`, all inside one downtime window.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from packaging.version import Version

from hubshift.errors import PreflightError

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
                newest_of_majors: Callable[[Sequence[int]], Mapping[int, str]], *,
                hub: str | None = None) -> list[str]:
    """The versions whose `upgrade-db` runs, in order, ending with `target`.

    `auto` takes the newest final release of each major version between the installed one
    and the target's, as `newest_of_majors` finds them on the index (see releases.py); an
    explicit list must climb strictly from `installed` to `target`. Raises PreflightError
    (exit 2) for a list that does not.
    """
    chosen = parse_via(via, hub=hub)
    if chosen == DIRECT:
        return [target]
    if chosen == AUTO:
        between = range(Version(installed).major + 1, Version(target).major)
        newest = newest_of_majors(list(between))
        return [newest[m] for m in between if m in newest] + [target]
    steps = [Version(installed), *map(Version, chosen), Version(target)]
    for low, high in zip(steps, steps[1:], strict=False):
        if not low < high:
            raise PreflightError(
                f"--via {','.join(chosen)}: each stepping stone must be newer than the one "
                f"before and older than the target (installed {installed}, target {target}); "
                f"{high} does not come after {low}", hub=hub, step="preflight")
    return [*chosen, target]
