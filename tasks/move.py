"""The steps of a database move, one core call each. Step names are the fault seams:
`move-copy`, `move-verify`, ... (HUBSHIFT_FAULT=move-copy:after)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from hubshift.backends.databases.sqlite import SQLiteDatabase
from hubshift.backends.installers import installer_for
from hubshift.backends.runtimes import runtime_for
from hubshift.backup.manifest import Manifest
from hubshift.backup.take import take_backup
from hubshift.config import FleetConfig, HubConfig
from hubshift.integrity.checksum import sha256_file
from hubshift.integrity.digest import Digest, counts
from hubshift.move.copy import Copied
from hubshift.move.plan import MovePlan, plan_move
from hubshift.move.steps import copy_checked, make_schema, rehearse, undo
from hubshift.move.verify import Roster, check_moved, roster
from tasks import note, step


@step("move-check", timeout_seconds=300)
def move_check(hub: HubConfig, to_url: SecretStr, replace: bool) -> MovePlan:
    plan = plan_move(hub, to_url.get_secret_value(), replace=replace)
    note("hub %s (JupyterHub %s, %s) can move to the %s through $%s", hub.name, plan.version,
         plan.source_engine, plan.shown_target, plan.variable)
    return plan


@step("move-schema", timeout_seconds=600)
def move_schema(hub: HubConfig, plan: MovePlan, to_url: SecretStr) -> list[str]:
    dropped, revision = make_schema(hub, plan, to_url.get_secret_value())
    note("JupyterHub %s created its schema (revision %s) in the %s", plan.version, revision,
         plan.shown_target)
    return dropped


@step("move-rehearse", timeout_seconds=1800)
def move_rehearse(hub: HubConfig, plan: MovePlan) -> Copied:
    copied = rehearse(hub, plan)
    note("rehearsed: %d rows copied and compared, then rolled back", copied.rows)
    return copied


@step("backup", retries=2, retry_delay_seconds=5, timeout_seconds=1800)
def move_backup(fleet: FleetConfig, hub: HubConfig, backup_id: str, version: str,
                package_list: str) -> Manifest:
    current = installer_for(hub).current()
    manifest = take_backup(fleet, hub, backup_id=backup_id, current=current,
                           package_list=package_list, to_version=version, label="move-db")
    rows = counts(manifest.digest)
    note("backup %s verified in the store (%d rows in %d tables)", backup_id,
         sum(rows.values()), len(rows))
    return manifest


@step("move-copy", timeout_seconds=1800)
def move_copy(hub: HubConfig, plan: MovePlan, manifest: Manifest) -> Copied:
    copied = copy_checked(hub, plan, manifest)
    note("%d rows copied; digest equal to backup %s's%s", copied.rows, manifest.backup_id,
         f" (whole seconds in {', '.join(copied.lossy)})" if copied.lossy else "")
    return copied


@step("move-switch", timeout_seconds=60)
def move_switch(hub: HubConfig, variable: str, to_url: SecretStr) -> None:
    runtime_for(hub).set_env(variable, to_url.get_secret_value())
    note("hub %s takes its database from $%s, set by hubshift", hub.name, variable)


@step("move-verify", retries=1, retry_delay_seconds=2, timeout_seconds=300)
def move_verify(hub: HubConfig, copied: Copied, before: Roster) -> Digest:
    """`hub` is the hub's config with its new db_url."""
    digest = check_moved(hub, hub.db_url.get_secret_value(), copied.expected, before)
    note("hub %s answers on its new database with the same users, groups and rows", hub.name)
    return digest


@step("package-list", retries=1, timeout_seconds=300)
def package_list(hub: HubConfig) -> str:
    """The running install's package list, kept with the backup (read before the stop)."""
    installer = installer_for(hub)
    return installer.package_list(installer.current())


@step("roster", retries=2, retry_delay_seconds=2, timeout_seconds=120)
def move_roster(hub: HubConfig) -> Roster:
    return roster(hub)


@step("move-undo", timeout_seconds=600)
def move_undo(hub: HubConfig, plan: MovePlan) -> list[str]:
    dropped = undo(hub, plan)
    note("hub %s stopped, $%s unset, %d tables dropped in the target", hub.name,
         plan.variable, len(dropped))
    return dropped


@step("sqlite-sha256", timeout_seconds=600)
def source_sha256(hub: HubConfig) -> str | None:
    """sha256 of the hub's SQLite file (None for a server database): a move never writes
    it, and the result shows it."""
    url = hub.db_url.get_secret_value()
    if not url.startswith("sqlite"):
        return None
    return sha256_file(Path(SQLiteDatabase(url).path))
