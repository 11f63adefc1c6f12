"""Publish a run's result to the hub's backup store, where a fleet run on another host finds
it by flow run id (hubshift.backup.results)."""

from __future__ import annotations

from hubshift.backends.storage import store_for
from hubshift.backup import results
from hubshift.config import FleetConfig
from hubshift.result import UpgradeResult
from tasks import note, step


@step("publish-result", retries=2, retry_delay_seconds=1, timeout_seconds=60)
def publish_result(fleet: FleetConfig, result: UpgradeResult) -> None:
    where = results.write(store_for(fleet.storage), result)
    note("hub %s: result %s kept as %s", result.hub, result.status, where)
