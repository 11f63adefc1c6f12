"""The steps only a rollback takes: fetch and verify the backup, restore it, find the old install;
and for a rollback an admin asks for, what the restore discards and the safety backup.

Fetching retries (a flaky store, nothing touched yet); restoring is safe to repeat, so it
retries too; both are bounded by timeouts.
"""

from __future__ import annotations

from pathlib import Path

from prefect.artifacts import create_markdown_artifact

from hubshift.backends.installers import Install, installer_for
from hubshift.backup.discards import DiscardReport, what_restore_discards
from hubshift.backup.manifest import Manifest
from hubshift.backup.restore import fetch_verified, previous_install, resolve_backup, restore_files
from hubshift.backup.safety import take_safety_backup
from hubshift.config import FleetConfig, HubConfig
from tasks import note, step


@step("fetch", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def fetch(fleet: FleetConfig, hub: HubConfig, backup_id: str) -> tuple[Manifest, Path]:
    backup_id = resolve_backup(fleet, hub, backup_id)
    manifest, folder = fetch_verified(fleet, hub, backup_id)
    note("backup %s of %s downloaded, every checksum verified", backup_id, hub.name)
    return manifest, folder


@step("discards", timeout_seconds=1800)
def discards(hub: HubConfig, manifest: Manifest, folder: Path) -> DiscardReport:
    report = what_restore_discards(hub, manifest, folder)
    rows = ", ".join(f"{table} {count}" for table, count in report.counts().items())
    note("restoring backup %s discards %s", manifest.backup_id,
         "an unknown number of rows" if report.error else rows or "no row")
    return report


@step("publish-discards", retries=2, retry_delay_seconds=1)
def publish_discards(report: DiscardReport, confirmed: bool) -> None:
    """The report as the run's artifact: what an admin reads in the UI before confirming."""
    then = ("confirmed: a safety backup is taken, then the backup restored" if confirmed else
            "NOT confirmed: nothing was touched; run again with confirm=true to take a safety "
            "backup and restore")
    create_markdown_artifact(
        key=f"rollback-{report.hub}",
        markdown="\n".join([f"# Rollback of `{report.hub}` to `{report.backup_id}`", "",
                            "```", *report.lines(), "```", "", then, ""]),
        description=f"What restoring backup {report.backup_id} over {report.hub} discards",
    )


@step("read-install", timeout_seconds=600)
def running_install(hub: HubConfig) -> tuple[Install, str]:
    """The install the hub runs and its `pip freeze`, read while it still runs (the safety
    backup needs both, and pip does not belong in the downtime)."""
    installer = installer_for(hub)
    current = installer.current()
    package_list = installer.package_list(current)
    note("hub %s runs JupyterHub %s from %s", hub.name, current.version,
         installer.describe(current))
    return current, package_list


@step("safety-backup", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def safety_backup(fleet: FleetConfig, hub: HubConfig, restoring: Manifest, current: Install,
                  package_list: str) -> Manifest:
    manifest = take_safety_backup(fleet, hub, restoring=restoring, current=current,
                                  package_list=package_list)
    note("safety backup %s of hub %s verified in the store (%s)", manifest.backup_id, hub.name,
         manifest.label)
    return manifest


@step("restore", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def restore(hub: HubConfig, manifest: Manifest, folder: Path) -> None:
    restore_files(hub, manifest, folder)
    note("hub %s: database and config restored from backup %s (alembic %s)", hub.name,
         manifest.backup_id, manifest.alembic_revision)


@step("old-install", timeout_seconds=1800)
def old_install(hub: HubConfig, version: str, path: str, folder: Path | None) -> Install:
    install = previous_install(hub, version, path, folder)
    note("JupyterHub %s ready in %s", version, installer_for(hub).describe(install))
    return install
