"""The window's backup is the snapshot taken before the stop when the hub wrote nothing since,
and a fresh copy when it did: either way a rollback restores the database as it was when the
hub stopped, and a manifest never names a copy that was not read back.

One real JupyterHub 4.1.6 hub (SQLite) upgraded towards 6.1.1. Writes "after the snapshot"
are made through the hub's API while the run is held right after its snapshot step (the
fault seam's `pause`), so they land between the snapshot and the stop every time.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubshift.backends.storage import BackupStore
from hubshift.backup.store import list_backups, read_manifest, verify_uploaded
from hubshift.integrity.digest import counts
from tests.support.fleet import cli_command
from tests.support.hubs import NEW_VERSION, OLD_VERSION
from tests.support.lab import Lab, baseline, module_lab

pytestmark = pytest.mark.integration

HUB = "physics"


lab = module_lab("window-backup", HUB)


@dataclass
class Written:
    """A user and a token made between the snapshot and the stop."""

    user: str
    token: str


def _upgrade_writing_after_the_snapshot(lab: Lab, fault: str, tmp_path: Path,
                                        ) -> tuple[subprocess.CompletedProcess[str], Written]:
    """`hubshift upgrade` held after its snapshot while a user and a token are made."""
    hold = tmp_path / "hold"
    hold.touch()
    argv, env = cli_command(["upgrade", "--json", "-f", lab.fleet, "--hub", lab.hub],
                            prefect_api=lab.prefect_api, fault=f"snapshot:pause,{fault}",
                            env_changes={"HUBSHIFT_FAULT_PAUSE": str(hold)})
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 300
        while not (tmp_path / "hold.reached").exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the upgrade never reached its snapshot"
            time.sleep(0.05)
        user = f"late-{uuid.uuid4().hex[:6]}"
        with lab.api() as api:
            api.request("POST", f"/users/{user}", {})
            made = api.request("POST", f"/users/{user}/tokens", {"note": "after the snapshot"})
        hold.unlink()
        out, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    return subprocess.CompletedProcess(argv, proc.returncode, out, err), Written(user,
                                                                                made["token"])


def _still_there(lab: Lab, written: Written) -> None:
    with lab.api() as api:
        assert api.version() == OLD_VERSION
        assert written.user in {u["name"] for u in api.users()}
        assert api.whoami(written.token)["name"] == written.user


def _every_manifest_reads_back(lab: Lab) -> list[str]:
    """Ids of the complete backups; each one's files check out against its manifest."""
    store = BackupStore(lab.storage)
    backups = list_backups(store, lab.hub)
    for manifest in backups:
        verify_uploaded(store, manifest)
    return [m.backup_id for m in backups]


def test_a_failed_snapshot_stops_the_upgrade_before_the_hub_is_touched(lab: Lab) -> None:
    baseline(lab)
    pid = lab.runtime.status().pid
    done = lab.hubshift("upgrade", "--json", fault="snapshot-upload:raise")
    assert done.returncode == 1, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("failed", "snapshot")
    assert "not touched" in result["hub_state"]
    assert lab.runtime.status().pid == pid  # never stopped
    assert _every_manifest_reads_back(lab) == []


def test_writes_after_the_snapshot_are_in_the_backup_and_a_rollback_keeps_them(
        lab: Lab, tmp_path: Path) -> None:
    before = counts(baseline(lab))
    done, written = _upgrade_writing_after_the_snapshot(lab, "migrate:after", tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("rolled-back", "migrate")
    assert "the database was written after the snapshot: a fresh copy" in done.stderr
    manifest = read_manifest(BackupStore(lab.storage), lab.hub, result["backup_id"])
    assert counts(manifest.digest)["users"] == before["users"] + 1
    assert counts(manifest.digest)["api_tokens"] == before["api_tokens"] + 1
    _still_there(lab, written)
    assert _every_manifest_reads_back(lab) == [result["backup_id"]]


@pytest.mark.parametrize("fault", ["backup-upload:raise", "backup-read-back:raise"])
def test_a_fault_in_the_windows_copy_rolls_back_and_no_manifest_names_it(
        lab: Lab, tmp_path: Path, fault: str) -> None:
    baseline(lab)
    kept = _every_manifest_reads_back(lab)
    done, written = _upgrade_writing_after_the_snapshot(lab, fault, tmp_path)
    assert done.returncode == 1, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("rolled-back", "backup")
    assert "rolled back" in result["hub_state"]
    assert f"fault injected before {fault.split(':')[0]}" in result["error"]
    # The snapshot no longer counts (the hub wrote after it), and the fresh copy never did.
    assert _every_manifest_reads_back(lab) == kept
    _still_there(lab, written)


def test_nothing_written_after_the_snapshot_makes_it_the_windows_backup(lab: Lab) -> None:
    baseline(lab)
    kept = _every_manifest_reads_back(lab)
    done = lab.hubshift("upgrade", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["to_version"]) == ("upgraded", NEW_VERSION)
    assert "nothing written since the snapshot" in done.stderr
    assert _every_manifest_reads_back(lab) == [*kept, result["backup_id"]]
    seconds = {s["name"]: s["seconds"] for s in result["steps"]}
    print(f"snapshot {seconds['snapshot']} s before the stop, backup {seconds['backup']} s "
          "in the window")
