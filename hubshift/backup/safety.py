"""The safety backup of a manual rollback: the hub as it is, kept before a restore replaces it.

A manual rollback restores an old backup over a database that may hold days of new users and
tokens. Before it does, it backs the hub up exactly as an upgrade does (same dump, upload,
read-back and manifest), labelled as the safety copy of that rollback, so that
`hubshift rollback --backup <safety id> --yes` brings every row back.

It is taken after the hub stops, as the upgrade's backup is: a hub that still runs could
write a token or a login between the safety copy and the stop, and the restore would then
discard it with no copy anywhere. Stopped, nothing writes, so the copy holds every row the
restore replaces, at the cost of the backup's second or so of extra downtime.
"""

from __future__ import annotations

from hubshift.backends.installers import Install
from hubshift.backup.manifest import Manifest, new_backup_id
from hubshift.backup.take import take_backup
from hubshift.config import FleetConfig, HubConfig

LABEL_PREFIX = "safety copy before rollback to "


def safety_label(restoring: str) -> str:
    """`safety copy before rollback to 20261121T031500Z`."""
    return f"{LABEL_PREFIX}{restoring}"


def take_safety_backup(fleet: FleetConfig, hub: HubConfig, *, restoring: Manifest,
                       current: Install, package_list: str) -> Manifest:
    """Back up `hub` (stopped) as it is now, labelled as the safety copy of the rollback to
    `restoring`; return the verified manifest.

    `current` and `package_list` are the running install and its `pip freeze`, read before
    the stop. The manifest's `to_version` is the version the rollback heads for, as an
    upgrade's names its target. Raises BackupError/StorageError; the hub is left as it was.
    """
    return take_backup(fleet, hub, backup_id=new_backup_id(), current=current,
                       package_list=package_list, to_version=restoring.from_version,
                       label=safety_label(restoring.backup_id))
