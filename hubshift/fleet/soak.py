"""The soak of a wave: every upgraded hub watched (health, version, its API answering) for
a while before the next wave starts, and what becomes of the row of a hub that fails it.

A hub that breaks an hour after its upgrade (a leak, a spawner that fails on the new
version) is caught before the next, larger wave repeats the mistake.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Protocol

from hubshift.backends.hubapi import HubAPI, HubAPIError
from hubshift.errors import HubshiftError
from hubshift.fleet.report import FleetRow
from hubshift.result import Status, command

#: Seconds between two looks at a soaking hub, at most (shorter for a short soak).
SOAK_INTERVAL = 5.0


class HubLike(Protocol):
    """What a soak needs of a hub (a HubConfig; this module is below hubshift.config)."""

    @property
    def name(self) -> str: ...

    @property
    def own_api_url(self) -> str: ...


def probe(hub: HubLike, version: str | None) -> str | None:
    """What is wrong with `hub` now (None: healthy, answers, reports `version`). Never
    raises: a soak only collects what it saw."""
    with HubAPI(hub.own_api_url, timeout=5) as api:
        if not api.healthy():
            return "its health check did not answer 200"
        try:
            seen = api.version()
        except HubAPIError as err:
            return f"its API did not answer: {err.message}"
    if version is not None and seen != version:
        return f"it reports JupyterHub {seen}, not {version}"
    return None


def soak(hubs: Sequence[tuple[HubLike, str | None]], seconds: float, *,
         look: Callable[[HubLike, str | None], str | None] = probe,
         interval: float | None = None) -> dict[str, str]:
    """Watch each (hub, version) for `seconds`; return hub name -> what failed, for the hubs
    that failed a look (a failed hub is not looked at again). Looks every `interval`
    (default: SOAK_INTERVAL, or a tenth of a short soak), once more at the end."""
    every = interval or min(SOAK_INTERVAL, max(0.5, seconds / 10))
    failed: dict[str, str] = {}
    deadline = time.monotonic() + seconds
    while True:
        for hub, version in hubs:
            if hub.name not in failed and (problem := look(hub, version)) is not None:
                failed[hub.name] = problem
        left = deadline - time.monotonic()
        if left <= 0 or len(failed) == len(hubs):
            return failed
        time.sleep(min(every, left))


def soak_failed(row: FleetRow, why: str, fleet_file: str) -> FleetRow:
    """`row` of a hub that failed its soak and is left as it is (on_soak_failure: stop):
    an operator looks, with the rollback to its pre-upgrade backup as the next command."""
    again = (command("rollback", row.hub, fleet_file, "--backup", row.backup_id, "--yes")
             if row.backup_id else command("hub status", row.hub, fleet_file))
    return row.model_copy(update={
        "status": Status.NEEDS_OPERATOR, "failed_step": "soak",
        "note": _note(row, f"failed its soak: {why}"),
        "cause": f"failed its soak: {why}", "next_command": again,
        "hub_state": f"on JupyterHub {row.to_version or '?'} as the upgrade left it, "
                     f"then {why}; left as it is (on_soak_failure: stop)"})


def soak_rolled_back(row: FleetRow, why: str, version: str | None,
                     safety_backup: str | None = None) -> FleetRow:
    """`row` of a hub that failed its soak and was rolled back to its backup (a safety
    backup keeps what users wrote during the soak)."""
    kept = (f"; safety backup {safety_backup} keeps what was written since the upgrade"
            if safety_backup else "")
    return row.model_copy(update={
        "status": Status.ROLLED_BACK, "failed_step": "soak",
        "note": _note(row, f"failed its soak: {why}; rolled back"),
        "cause": f"failed its soak: {why}; rolled back to backup {row.backup_id}",
        "hub_state": f"rolled back: hub {row.hub} runs JupyterHub {version or '?'} again, "
                     f"its database as it was before the upgrade{kept}",
        "next_command": None})


def soak_rollback_failed(row: FleetRow, why: str, err: HubshiftError | Exception | str,
                         fleet_file: str) -> FleetRow:
    """`row` of a hub whose rollback after a failed soak did not complete."""
    state = getattr(err, "hub_state", None) or "unknown: the rollback did not complete"
    again = getattr(err, "next_command", None) or command(
        "rollback", row.hub, fleet_file, "--backup", row.backup_id or "latest", "--yes")
    return row.model_copy(update={
        "status": Status.NEEDS_OPERATOR, "failed_step": "soak",
        "note": _note(row, f"failed its soak: {why}; the rollback did not complete"),
        "cause": f"failed its soak: {why}; then the rollback failed: {err}",
        "hub_state": state, "next_command": again})


def _note(row: FleetRow, text: str) -> str:
    """`text` after the row's note (an approval's comment stays in the table)."""
    return f"{row.note}; {text}" if row.note else text
