"""The record of an upgrade in progress, kept next to the hub's backups.

A run writes it before it stops the hub and removes it once the hub is healthy again,
upgraded or rolled back. A record left behind means a run died half-way: the next upgrade
refuses, and `hubshift rollback` knows which backup and which install to go back to.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from hubshift.backends.storage import BackupStore, ObjectMissing
from hubshift.errors import BackupError, PreflightError, StorageError
from hubshift.result import command

RECORD_NAME = "in-progress.json"
#: The step of a record whose upgrade finished: written before the record is removed, so
#: that a record the store would not let go of is not mistaken for an interrupted upgrade.
FINISHED = "finished"


class InProgress(BaseModel):
    hub: str
    run_id: str = Field(description="Prefect flow run id, or 'cli' when there is none")
    step: str = Field(description="The step that was running when the record was written")
    backup_id: str | None = Field(None, description="Set once the backup is verified")
    from_version: str
    from_install: str = Field(description="The install to go back to")
    to_version: str
    started_at: dt.datetime


def _key(hub: str) -> str:
    return f"{hub}/{RECORD_NAME}"


def where(store: BackupStore, hub: str) -> str:
    """Where the record of `hub` is, for people: `<hub>/in-progress.json in <store>`."""
    return f"{_key(hub)} in {store.describe()}"


def read(store: BackupStore, hub: str) -> InProgress | None:
    """The record of an unfinished upgrade of `hub`, or None: a record marked FINISHED is
    one whose removal failed after its upgrade finished, nothing to finish or refuse.
    Raises BackupError if it cannot be read."""
    try:
        data = store.get_bytes(_key(hub))
    except ObjectMissing:
        return None
    try:
        found = InProgress.model_validate_json(data)
    except ValidationError as err:
        raise BackupError(f"{where(store, hub)} is not a hubshift record",
                          hub=hub) from err
    return None if found.step == FINISHED else found


def write(store: BackupStore, record: InProgress) -> None:
    store.put_bytes(_key(record.hub), record.model_dump_json(indent=2).encode())


def clear(store: BackupStore, hub: str) -> None:
    """Remove the record; safe when there is none."""
    store.delete(_key(hub))


def refuse_if_present(store: BackupStore, hub: str, *, unreadable_ok: bool = False,
                      fleet_file: Path | None = None) -> None:
    """PreflightError telling the operator what to run (with `fleet_file`) when a record is
    there.

    With `unreadable_ok`, a store that cannot be read is not a refusal here: the early guard
    leaves it to preflight, which lists it with every other reason.
    """
    try:
        record = read(store, hub)
    except (BackupError, StorageError) as err:
        if unreadable_ok:
            return
        raise PreflightError(f"cannot read the in-progress record: {err.message}",
                             hub=hub, step="preflight") from err
    if record is not None:
        backup = record.backup_id or "none yet"
        started = record.started_at.strftime("%Y-%m-%d %H:%M")
        raise PreflightError(
            f"an upgrade of {hub} to {record.to_version} started {started} UTC "
            f"(run {record.run_id}) did not finish: it stopped at step {record.step} "
            f"(backup {backup})",
            hub=hub, step="preflight",
            hint=f"run `hubshift rollback --hub {hub}` to restore the hub and clear the record",
            hub_state=f"hub {hub} is as that run left it at step {record.step}; this run "
                      "touched nothing",
            next_command=command("rollback", hub, fleet_file),
        )
