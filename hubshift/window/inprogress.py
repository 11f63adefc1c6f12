"""The record of a run that holds a hub, kept next to the hub's backups: the hub's lock.

An upgrade creates it before its preflight and a manual rollback before it stops the hub,
each with a conditional write (`Store.create_bytes`), so that two orchestrators, on
two hosts or one, cannot both hold the hub: the Prefect concurrency limit in front of it is
only the queue. The record names its process (`owner`) and whether the hub may have been
changed yet (`touched`). The holder updates it at each step that changes the hub and
removes it once the hub is healthy again, upgraded or rolled back.

A record left behind means its run died. Untouched (it died before the stop), the hub runs
as before and the next run takes the record over once the holder is proven dead (see
`hubshift.window.owner`). Touched, the next upgrade refuses, and `hubshift rollback` knows
which backup and which install to go back to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from hubshift.backends.store_base import ObjectMissing, Store
from hubshift.errors import BackupError, PreflightError, StorageError
from hubshift.result import command
from hubshift.window.owner import Owner

RECORD_NAME = "in-progress.json"
#: The step of a record whose upgrade finished: written before the record is removed, so
#: that a record the store would not let go of is not mistaken for an interrupted upgrade.
FINISHED = "finished"
#: The step of a manual rollback's record.
ROLLBACK = "rollback"
#: Attempts to take a record that keeps changing under us (its holder just released it).
_CLAIM_ATTEMPTS = 3


class InProgress(BaseModel):
    hub: str
    run_id: str = Field(description="Prefect flow run id, or 'cli' when there is none")
    step: str = Field(description="The step that was running when the record was written")
    owner: Owner | None = Field(None, description="The run's process; None in records "
                                "written before hubshift named it, whose runs are over")
    touched: bool = Field(True, description="Whether the hub may have been changed: false "
                                            "until the run stops it or restores into it")
    backup_id: str | None = Field(None, description="Set once the backup is verified")
    from_version: str | None = None
    from_install: str | None = Field(None, description="The install to go back to")
    to_version: str | None = None
    started_at: dt.datetime


class HubHeld(PreflightError):
    """Another run holds the hub (or held it and left it changed): nothing was touched."""


def _key(hub: str) -> str:
    return f"{hub}/{RECORD_NAME}"


def where(store: Store, hub: str) -> str:
    """Where the record of `hub` is, for people: `<hub>/in-progress.json in <store>`."""
    return f"{_key(hub)} in {store.describe()}"


def _parse(store: Store, hub: str, data: bytes) -> InProgress:
    try:
        return InProgress.model_validate_json(data)
    except ValidationError as err:
        raise BackupError(f"{where(store, hub)} is not a hubshift record",
                          hub=hub) from err


def read(store: Store, hub: str) -> InProgress | None:
    """The record of a run holding `hub`, or None: a record marked FINISHED is one whose
    removal failed after its upgrade finished, nothing to finish or refuse.
    Raises BackupError if it cannot be read."""
    try:
        data = store.get_bytes(_key(hub))
    except ObjectMissing:
        return None
    found = _parse(store, hub, data)
    return None if found.step == FINISHED else found


def write(store: Store, record: InProgress) -> None:
    """Update the record of the run that holds the hub (only its holder writes it)."""
    store.put_bytes(_key(record.hub), _dump(record))


def clear(store: Store, hub: str) -> None:
    """Remove the record; safe when there is none."""
    store.delete(_key(hub))


def _dump(record: InProgress) -> bytes:
    return record.model_dump_json(indent=2).encode()


def claim(store: Store, record: InProgress, dead: Callable[[InProgress], bool], *,
          take_touched: bool, fleet_file: Path | None = None) -> InProgress | None:
    """Make `record` the hub's record, unless another run holds the hub.

    A record already there is replaced only when its run finished (FINISHED), or its run is
    proven `dead` and left the hub untouched, or touched too with `take_touched` (a rollback
    finishes such a run; an upgrade never does). Returns the record replaced, else None.
    Raises HubHeld (exit 2) when the hub is held, naming the run and what to do; BackupError
    or StorageError if the store fails.
    """
    for _ in range(_CLAIM_ATTEMPTS):
        try:
            data, tag = store.read_tagged(_key(record.hub))
        except ObjectMissing:
            if store.create_bytes(_key(record.hub), _dump(record)):
                return None
            continue  # another run created it in between: look at it
        there = _parse(store, record.hub, data)
        over = there.step == FINISHED or dead(there)
        if not over or (there.touched and not take_touched and there.step != FINISHED):
            raise held(store, there, dead=over, fleet_file=fleet_file)
        if store.replace_bytes(_key(record.hub), _dump(record), tag):
            return None if there.step == FINISHED else there
    raise HubHeld(f"the record of hub {record.hub} kept changing while this run tried to take "
                  "it: another run is starting on it", hub=record.hub,
                  step="lock", hint="wait for that run, then try again")


def held(store: Store, record: InProgress, *, dead: bool,
         fleet_file: Path | None = None) -> HubHeld:
    """The refusal of a run that finds `record` there: what holds the hub, what to do."""
    hub = record.hub
    started = record.started_at.strftime("%Y-%m-%d %H:%M")
    who = f"run {record.run_id}" + (f", {record.owner.describe()}" if record.owner else "")
    what = "a rollback" if record.step == ROLLBACK else (
        f"an upgrade to {record.to_version}" if record.to_version else "an upgrade")
    if not dead:
        here = (f"`hubshift rollback --hub {hub}` on host {record.owner.host}"
                if record.owner else f"`hubshift rollback --hub {hub}`")
        return HubHeld(
            f"{what} of hub {hub} started {started} UTC ({who}) holds the hub, now at step "
            f"{record.step}: it has not been proven dead",
            hub=hub, step="lock",
            hint=f"wait for it to finish; if it was killed, {here} (where its death can be "
                 "proven) finishes its recovery and frees the hub",
            hub_state=f"hub {hub} is in the hands of that run; this run touched nothing",
            next_command=command("rollback", hub, fleet_file))
    backup = record.backup_id or "none yet"
    return HubHeld(
        f"{what} of hub {hub} started {started} UTC ({who}) did not finish: it stopped at "
        f"step {record.step} (backup {backup})",
        hub=hub, step="preflight",
        hint=f"run `hubshift rollback --hub {hub}` to restore the hub and clear the record",
        hub_state=f"hub {hub} is as that run left it at step {record.step}; this run "
                  "touched nothing",
        next_command=command("rollback", hub, fleet_file))


def refuse_if_present(store: Store, hub: str, *, fleet_file: Path | None = None,
                      dead: Callable[[InProgress], bool] | None = None) -> None:
    """HubHeld (exit 2) telling the operator what to run when a run left the hub changed.

    A record of this process is this run's own; an untouched record is no refusal here
    (the claim decides who waits). `dead` proves a holder dead beyond this host (default:
    this host's proof only). A store that cannot be read is a refusal too.
    """
    try:
        record = read(store, hub)
    except (BackupError, StorageError) as err:
        raise PreflightError(f"cannot read the in-progress record: {err.message}",
                             hub=hub, step="preflight") from err
    found = refusal(store, record, dead=dead or proven_dead_here, fleet_file=fleet_file)
    if found is not None:
        raise found


def refusal(store: Store, record: InProgress | None, *, dead: Callable[[InProgress], bool],
            fleet_file: Path | None = None) -> HubHeld | None:
    """The refusal `refuse_if_present` raises for `record` (already read), or None: no
    record, an untouched one, or this process's own."""
    if record is None or not record.touched:
        return None
    if record.owner is not None and record.owner.is_this_process():
        return None
    return held(store, record, dead=dead(record), fleet_file=fleet_file)


def proven_dead_here(record: InProgress) -> bool:
    """Whether this host alone proves the record's run dead (a record without an owner was
    written by a hubshift that only left records of runs that died)."""
    return record.owner is None or record.owner.proven_dead_here()
