"""The in-progress record: written before the stop and at each step that changes the hub,
cleared when the hub is healthy again.

`record` is a plain call, not a task: it runs inside the downtime, where a task run's own
bookkeeping would cost more than the small S3 write (which botocore retries by itself).
"""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger
from prefect.context import FlowRunContext

from hubshift.backends.storage import store_for
from hubshift.config import FleetConfig, HubConfig
from hubshift.window import inprogress
from tasks import note, step


def run_id() -> str:
    context = FlowRunContext.get()
    return str(context.flow_run.id) if context and context.flow_run else "cli"


def new_record(hub: HubConfig, from_version: str, from_install: str,
               to_version: str) -> inprogress.InProgress:
    return inprogress.InProgress(hub=hub.name, run_id=run_id(), step="stop",
                                 from_version=from_version, from_install=from_install,
                                 to_version=to_version,
                                 started_at=dt.datetime.now(dt.timezone.utc))


def record(fleet: FleetConfig, entry: inprogress.InProgress) -> None:
    inprogress.write(store_for(fleet.storage), entry)
    get_run_logger().debug("hub %s: in progress at step %s", entry.hub, entry.step)


@step("read-record", retries=2, retry_delay_seconds=1, timeout_seconds=60)
def read_record(fleet: FleetConfig, hub: HubConfig) -> inprogress.InProgress | None:
    found = inprogress.read(store_for(fleet.storage), hub.name)
    if found is None:
        note("no upgrade of hub %s in progress", hub.name)
    else:
        note("an upgrade to %s stopped at step %s (backup %s)", found.to_version, found.step,
             found.backup_id or "none yet")
    return found


@step("clear-record", retries=2, retry_delay_seconds=1, timeout_seconds=60)
def clear_record(fleet: FleetConfig, hub: HubConfig) -> None:
    inprogress.clear(store_for(fleet.storage), hub.name)
    note("hub %s: no upgrade in progress any more", hub.name)


@step("guard", timeout_seconds=60)
def guard(fleet: FleetConfig, hub: HubConfig) -> None:
    """Refuse at once when an earlier run left the hub half-way (before waiting for the lock)."""
    inprogress.refuse_if_present(store_for(fleet.storage), hub.name, unreadable_ok=True,
                                 fleet_file=fleet.source)
