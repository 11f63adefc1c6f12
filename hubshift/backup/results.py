"""Each upgrade run's result, kept beside the hub's backups: `<hub>/results/<run id>.json`.

A fleet run that upgrades its hubs through their deployments (on other hosts' workers) learns
how each hub ended from this object, found by the flow run id Prefect gave the hub's run:
typed data, never parsed back from the report written for people. Every run writes one,
refused and up-to-date runs too, so that "no result" means the run never got to say.
"""

from __future__ import annotations

from pydantic import ValidationError

from hubshift.backends.store_base import ObjectMissing, Store
from hubshift.errors import BackupError
from hubshift.result import UpgradeResult

FOLDER = "results"


def key(hub: str, run_id: str) -> str:
    """Where the result of run `run_id` of `hub` is kept, relative to the store's prefix."""
    if not run_id or "/" in run_id or run_id.startswith("."):
        raise ValueError(f"not a flow run id: {run_id!r}")
    return f"{hub}/{FOLDER}/{run_id}.json"


def write(store: Store, result: UpgradeResult) -> str:
    """Keep `result` under its hub and flow run id; return its key.

    Safe to call twice: a run overwrites only its own result. Raises ValueError when the
    result names no flow run (there would be no way to find it), StorageError when the
    store refuses the write.
    """
    where = key(result.hub, result.flow_run_id or "")
    store.put_bytes(where, result.model_dump_json(indent=2).encode())
    return where


def read(store: Store, hub: str, run_id: str) -> UpgradeResult | None:
    """The result run `run_id` wrote for `hub`, or None when it wrote none (it died first,
    or the store was unreachable when it tried).

    Raises StorageError when the store cannot be read (a missing bucket included: that is
    not "no result"), BackupError when the object there is not a hubshift result.
    """
    where = key(hub, run_id)
    try:
        data = store.get_bytes(where)
    except ObjectMissing:
        return None
    try:
        return UpgradeResult.model_validate_json(data)
    except ValidationError as err:
        raise BackupError(f"{where} in {store.describe()} is not a hubshift result: "
                          f"{err.error_count()} field(s) wrong", hub=hub) from err


def last_downtime(store: Store, hub: str, tries: int = 10) -> float | None:
    """The downtime of `hub`'s newest run that measured one (an upgrade, or a rollback's
    window), looking at the `tries` newest results; None when none did. The window's
    estimate where no rehearsal timed the upgrade. Raises StorageError."""
    kept = sorted(store.list(f"{hub}/{FOLDER}/"), key=lambda o: o.last_modified, reverse=True)
    for info in kept[:tries]:
        try:
            result = UpgradeResult.model_validate_json(store.get_bytes(info.key))
        except (ObjectMissing, ValidationError):
            continue  # pruned meanwhile, or not ours: the next one will do
        if result.downtime_seconds is not None:
            return result.downtime_seconds
    return None
