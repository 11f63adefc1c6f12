"""The in-progress record, the hub's lock: claimed before preflight, updated at each step
that changes the hub, cleared when the hub is healthy again.

`Hold.update` is a plain call, not a task: it runs inside the downtime, where a task run's
own bookkeeping would cost more than the small store write (which botocore retries by
itself).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect import get_run_logger
from prefect.context import FlowRunContext

from hubshift.backends.storage import store_for
from hubshift.config import FleetConfig, HubConfig
from hubshift.errors import BackupError, HubshiftError, PreflightError, StorageError
from hubshift.window import inprogress
from hubshift.window.owner import Owner
from tasks import note, step
from tasks.lock import free_slot, holder_dead


def run_id() -> str:
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else "cli"


def new_record(hub: HubConfig, step_name: str, **fields: Any) -> inprogress.InProgress:
    """A record of this run; untouched unless `fields` say otherwise."""
    return inprogress.InProgress(**{
        "touched": False, **fields, "hub": hub.name, "run_id": run_id(), "step": step_name,
        "owner": Owner.this_process(), "started_at": dt.datetime.now(dt.timezone.utc)})


class Hold:
    """This run's hold on a hub: the record it claimed (or will), as last written."""

    def __init__(self, fleet: FleetConfig, record: inprogress.InProgress,
                 claimed: bool = False) -> None:
        self.fleet = fleet
        self.record = record
        self.claimed = claimed

    def ensure(self) -> None:
        """Claim the hub now if the store did not answer before preflight (preflight then
        passed, so it answers now); PreflightError (exit 2) if it still cannot be taken."""
        if self.claimed:
            return
        try:
            claim(self.fleet, self.record)
        except inprogress.HubHeld:
            raise
        except HubshiftError as err:
            raise PreflightError(f"cannot take hub {self.record.hub}'s in-progress record: "
                                 f"{err.message}", hub=self.record.hub, step="lock") from err
        self.claimed = True

    def update(self, **changes: Any) -> inprogress.InProgress:
        """Write the record with `changes` (step, touched, backup_id...); raises
        StorageError, which inside the window is a reason to roll back."""
        updated = self.record.model_copy(update=changes)
        inprogress.write(store_for(self.fleet.storage), updated)
        self.record = updated
        get_run_logger().debug("hub %s: in progress at step %s", updated.hub, updated.step)
        return updated

    def release(self) -> None:
        """Let the hub go if this run never changed it (a refusal, a failure before the
        stop, an up-to-date hub); a touched record stays until the hub is healthy again, or
        for `hubshift rollback`. A failure to remove it is a warning: the next run takes an
        untouched record over by itself."""
        if not self.claimed or self.record.touched:
            return
        try:
            clear_record(self.fleet, self.fleet.hub(self.record.hub))
        except Exception as err:
            get_run_logger().warning(
                "hub %s: this run's record could not be removed (%s); the hub was not "
                "touched, and the next run takes the record over", self.record.hub, err)


@step("lock", retries=2, retry_delay_seconds=1, timeout_seconds=60)
def claim(fleet: FleetConfig, record: inprogress.InProgress,
          take_touched: bool = False) -> inprogress.InProgress | None:
    """Claim the hub for this run (see `inprogress.claim`); the record replaced, if any."""
    store = store_for(fleet.storage)
    replaced = inprogress.claim(store, record, holder_dead, take_touched=take_touched,
                                fleet_file=fleet.source)
    if replaced is None:
        note("hub %s held by this run", record.hub)
    else:
        note("hub %s taken over from a run proven dead at step %s (%s)", record.hub,
             replaced.step, _who(replaced))
    return replaced


@contextmanager
def holding(fleet: FleetConfig, record: inprogress.InProgress) -> Iterator[Hold]:
    """Hold the hub for the body (see `Hold.ensure` for a store that does not answer yet),
    and release it at the end (`Hold.release`)."""
    hold = Hold(fleet, record)
    try:
        claim(fleet, record)
        hold.claimed = True
    except inprogress.HubHeld:
        raise
    except HubshiftError as err:
        # A store that does not answer is one of the reasons preflight lists, with the
        # others, before anything is touched; `Hold.ensure` claims once it passes.
        get_run_logger().warning("hub %s: not held yet: %s", record.hub, err.message)
    try:
        yield hold
    finally:
        hold.release()


@step("read-record", retries=2, retry_delay_seconds=1, timeout_seconds=60)
def read_record(fleet: FleetConfig, hub: HubConfig) -> inprogress.InProgress | None:
    found = inprogress.read(store_for(fleet.storage), hub.name)
    if found is None:
        note("no run holds hub %s", hub.name)
    else:
        what = f"an upgrade to {found.to_version}" if found.to_version else "a run"
        note("%s holds hub %s at step %s (backup %s)", what, hub.name, found.step,
             found.backup_id or "none yet")
    return found


@step("clear-record", retries=2, retry_delay_seconds=1, timeout_seconds=60)
def clear_record(fleet: FleetConfig, hub: HubConfig) -> None:
    inprogress.clear(store_for(fleet.storage), hub.name)
    note("hub %s: no run holds it any more", hub.name)


@step("guard", timeout_seconds=60)
def guard(fleet: FleetConfig, hub: HubConfig) -> None:
    """Before queueing for the hub's slot: refuse at once when a run left the hub changed,
    and free the slot of a run proven dead before it touched anything (a temporary Prefect
    server never frees a dead run's slot by itself)."""
    store = store_for(fleet.storage)
    try:
        found = inprogress.read(store, hub.name)
    except (BackupError, StorageError):
        return  # preflight says why the store cannot be read, with every other reason
    refused = inprogress.refusal(store, found, dead=holder_dead, fleet_file=fleet.source)
    if refused is not None:
        raise refused
    if found is not None and not found.touched and not (
            found.owner and found.owner.is_this_process()) and holder_dead(found):
        free_slot(hub.name)
        note("a run died before it touched hub %s (%s): its slot is free", hub.name,
             _who(found))


def _who(record: inprogress.InProgress) -> str:
    """The process of a record, for the terminal (whose lines never carry a run id)."""
    return record.owner.describe() if record.owner else "written by an older hubshift"
