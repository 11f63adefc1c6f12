"""`hubshift prune`'s side effects: read a hub's backups, record and installs, then delete
what `hubshift.backup.prune.plan_prune` says, and the installs no kept backup needs.

Planning reads only; `apply` deletes. Before it does, it reads the in-progress record again:
a run that started since the plan protects its backup, and the installs of a hub with an
unfinished upgrade are never touched (its rollback may need any of them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from hubshift.backends.installers import Install, installer_for
from hubshift.backends.storage import store_for
from hubshift.backends.store_base import Store
from hubshift.backup.manifest import MANIFEST_NAME, Manifest
from hubshift.backup.prune import BACKUP_ID, BackupAge, PrunePlan, plan_prune
from hubshift.backup.safety import LABEL_PREFIX
from hubshift.backup.store import folder, read_manifest
from hubshift.config import FleetConfig, HubConfig
from hubshift.errors import BackupError, InstallError
from hubshift.window import inprogress


@dataclass
class HubPrune:
    """What prune does (or did) to one hub."""

    hub: str
    retention: str
    plan: PrunePlan
    manifests: dict[str, Manifest]  # the complete backups, by id
    installs: list[Install] = field(default_factory=list)  # to remove
    installs_note: str | None = None  # why installs were left alone
    deleted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def backups_of(store: Store, hub: str) -> tuple[list[BackupAge], dict[str, Manifest]]:
    """Every backup folder of `hub` as the rules see it, and the manifests of the complete
    ones. Folders whose name is not a backup id (results/) are not backups."""
    ages, manifests = [], {}
    for backup_id in store.list_folders(f"{hub}/"):
        if not BACKUP_ID.fullmatch(backup_id):
            continue
        try:
            manifest = read_manifest(store, hub, backup_id)
        except BackupError:
            objects = store.list(f"{folder(hub, backup_id)}/")
            if objects:
                ages.append(BackupAge(backup_id, max(o.last_modified for o in objects),
                                      size=sum(o.size for o in objects), complete=False))
            continue
        manifests[backup_id] = manifest
        ages.append(BackupAge(backup_id, manifest.created_at,
                              size=sum(f.size for f in manifest.files),
                              safety=(manifest.label or "").startswith(LABEL_PREFIX)))
    return ages, manifests


def plan_hub(fleet: FleetConfig, hub: HubConfig, now: dt.datetime) -> HubPrune:
    """What prune would delete of `hub` at `now`. Reads only. Raises ConfigError without a
    retention, BackupError/StorageError when the store cannot be read."""
    retention = fleet.retention_of(hub)
    store = store_for(fleet.storage)
    record = inprogress.read(store, hub.name)
    ages, manifests = backups_of(store, hub.name)
    plan = plan_prune(ages, record, now, retention)
    result = HubPrune(hub.name, retention.describe(), plan, manifests)
    if record is not None:
        result.installs_note = ("left alone: an upgrade of this hub did not finish "
                                f"(its record: {inprogress.where(store, hub.name)})")
        return result
    needed = [Install(m.from_version, m.from_install)
              for b in plan.kept if (m := manifests.get(b.backup_id)) is not None]
    try:
        result.installs = installer_for(hub).leftovers(needed)
    except InstallError as err:
        result.installs_note = f"left alone: {err.message}"
    return result


def apply(fleet: FleetConfig, hub: HubConfig, planned: HubPrune) -> HubPrune:
    """Delete what `planned` deletes; fill in `deleted` and `removed`. A backup goes
    manifest first, so that one cut short is no longer listed as a backup (and a later
    prune removes the rest). Raises StorageError/InstallError at the first failure."""
    store = store_for(fleet.storage)
    record = inprogress.read(store, hub.name)
    protected = record.backup_id if record is not None else None
    for backup in planned.plan.deleted:
        if backup.backup_id == protected:
            continue  # a run started since the plan, and needs it
        where = folder(hub.name, backup.backup_id)
        if backup.complete:
            store.delete(f"{where}/{MANIFEST_NAME}")
        for item in store.list(f"{where}/"):
            store.delete(item.key)
        planned.deleted.append(backup.backup_id)
    if record is None:
        installer = installer_for(hub)
        for install in planned.installs:
            installer.remove(install)
            planned.removed.append(install.location)
    return planned
