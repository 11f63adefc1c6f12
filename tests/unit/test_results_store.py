"""A run's result kept in the backup store, against a real S3 server (moto over HTTP)."""

from __future__ import annotations

import pytest

from hubshift.backends.storage import BackupStore
from hubshift.backup import results
from hubshift.backup.store import list_backups
from hubshift.config import StorageConfig
from hubshift.errors import BackupError, StorageError
from hubshift.result import Status, StepTiming, UpgradeResult

RUN = "0b7e4c1e-6a53-4c1f-9d0e-3f1c2a9b8d77"


def _result(**changes: object) -> UpgradeResult:
    return UpgradeResult(hub="physics", status=Status.ROLLED_BACK, from_version="4.1.6",
                         to_version="6.1.1", backup_id="20261201T030000Z", flow_run_id=RUN,
                         downtime_seconds=7.5, steps=[StepTiming(name="stop", seconds=0.5)],
                         warnings=["the record could not be cleared"]).model_copy(
                             update=changes)


def test_a_kept_result_reads_back_equal_under_its_hub_and_run(
        storage_config: StorageConfig) -> None:
    store = BackupStore(storage_config)
    assert results.write(store, _result()) == f"physics/results/{RUN}.json"
    assert [o.key for o in store.list("physics/")] == [f"physics/results/{RUN}.json"]
    kept = results.read(store, "physics", RUN)
    assert kept == _result() and kept.status is Status.ROLLED_BACK and kept.exit_code == 1
    # The same run writing again overwrites its own result only.
    results.write(store, _result(status=Status.NEEDS_OPERATOR))
    assert results.read(store, "physics", RUN).status is Status.NEEDS_OPERATOR


def test_a_run_that_kept_nothing_reads_as_none_and_lists_no_backup(
        storage_config: StorageConfig) -> None:
    store = BackupStore(storage_config)
    assert results.read(store, "physics", RUN) is None
    results.write(store, _result())
    assert results.read(store, "physics", "another-run") is None
    assert results.read(store, "chemistry", RUN) is None
    assert list_backups(store, "physics") == []  # the results folder is not a backup


def test_a_missing_bucket_is_an_error_not_a_missing_result(
        storage_config: StorageConfig) -> None:
    gone = BackupStore(storage_config.model_copy(
        update={"url": storage_config.url.replace("hubshift-test-", "hubshift-gone-")}))
    with pytest.raises(StorageError, match="does not exist"):
        results.read(gone, "physics", RUN)
    with pytest.raises(StorageError, match="does not exist"):
        results.write(gone, _result())


def test_an_object_that_is_not_a_result_is_named(storage_config: StorageConfig) -> None:
    store = BackupStore(storage_config)
    store.put_bytes(f"physics/results/{RUN}.json", b'{"hub": "physics", "status": "fine"}')
    with pytest.raises(BackupError, match=f"physics/results/{RUN}.json .* not a hubshift "
                                          "result"):
        results.read(store, "physics", RUN)


def test_a_result_without_a_run_id_has_nowhere_to_go(storage_config: StorageConfig) -> None:
    store = BackupStore(storage_config)
    with pytest.raises(ValueError, match="flow run id"):
        results.write(store, _result(flow_run_id=None))
    with pytest.raises(ValueError, match="flow run id"):
        results.read(store, "physics", "../in-progress")
    assert store.list("") == []
