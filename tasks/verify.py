"""Verify: poll until the hub answers the expected version, then compare rows with the
backup. Polling is the retry; the timeout is the hub's start_timeout."""

from __future__ import annotations

from hubshift.backup.manifest import Manifest
from hubshift.config import HubConfig
from hubshift.integrity.digest import Digest
from hubshift.window.verify import check_rows, wait_for_version
from tasks import note, step


@step("wait-healthy")
def wait_healthy(hub: HubConfig, version: str) -> float:
    waited = wait_for_version(hub, version, hub.runtime.start_timeout)
    note("hub %s healthy on %s after %.1f s", hub.name, version, waited)
    return waited


@step("verify", retries=1, retry_delay_seconds=2, timeout_seconds=300)
def verify_rows(hub: HubConfig, manifest: Manifest, dropped: tuple[str, ...] = (),
                rewritten: tuple[str, ...] = ()) -> Digest:
    digest = check_rows(hub, manifest, dropped=dropped, rewritten=rewritten)
    note("hub %s keeps every row of backup %s", hub.name, manifest.backup_id)
    return digest
