"""A fleet that waits between waves and soaks them, on three real hubs (physics staging,
already on the target, so that its canary wave costs no upgrade; chem-a and chem-b
production, one wave each): with `approve: after-canary` and no answer the fleet stops
with production untouched; approved with `hubshift approve` (as the UI's Resume form
does), a production hub that goes down during its soak is rolled back and, the budget
spent, the next wave is skipped."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from hubshift.backends.hubapi import wait_healthy
from hubshift.backends.runtimes import runtime_for
from hubshift.backends.storage import BackupStore
from hubshift.backup.store import list_backups
from hubshift.config import StorageConfig
from hubshift_lab.s3server import DEMO_REGION, S3Server
from hubshift_lab.sandbox import SandboxHub, make_hub, seed
from tests.support.fleet import cli_command, run_cli, stop_group, write_fleet
from tests.support.hubs import (
    NEW_VERSION,
    OLD_VERSION,
    hub_config,
    install_ready,
    jupyterhub_venv,
    versions_of,
)

pytestmark = pytest.mark.integration

HUBS = {"physics": "staging", "chem-a": "production", "chem-b": "production"}
VERSIONS = {"physics": NEW_VERSION, "chem-a": OLD_VERSION, "chem-b": OLD_VERSION}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
          prefect_api: str) -> Iterator[tuple[Path, dict[str, SandboxHub], StorageConfig]]:
    root = tmp_path_factory.mktemp("gates")
    storage = StorageConfig(url=f"s3://hubshift-gates-{uuid.uuid4().hex[:8]}/hubshift",
                            endpoint_url=s3_server.endpoint_url, region=DEMO_REGION)
    BackupStore(storage).ensure_bucket()
    sandboxes = {name: make_hub(root, name, jupyterhub_venv(VERSIONS[name])) for name in HUBS}
    runtimes = [runtime_for(hub_config(s)) for s in sandboxes.values()]
    try:
        # The one hub upgraded: its target built by uv (not pip) while the hubs start.
        with ThreadPoolExecutor(1) as pool:
            ready = pool.submit(install_ready, hub_config(sandboxes["chem-a"]), NEW_VERSION)
            for runtime in runtimes:
                runtime.start()
            for name, sandbox in sandboxes.items():
                with sandbox.api() as api:
                    wait_healthy(api, 60, version=VERSIONS[name])
                    seed(api)
            ready.result()
        entries = [{**s.fleet_entry(NEW_VERSION), "environment": HUBS[n]}
                   for n, s in sandboxes.items()]
        path = write_fleet(root / "fleet.yaml", storage, entries)
        # The operator's rollout section: the gate after the canary, a short wait.
        path.write_text(path.read_text() + "rollout:\n  approve: after-canary\n"
                        "  approve_timeout: 3\n")
        yield path, sandboxes, storage
    finally:
        for runtime in runtimes:
            runtime.stop()


def test_no_approval_in_time_stops_with_production_untouched(fleet, prefect_api) -> None:
    path, sandboxes, storage = fleet
    done = run_cli(["fleet-upgrade", "-f", path, "--json"], prefect_api=prefect_api)
    assert done.returncode == 1, done.stderr[-3000:]
    rows = {r["hub"]: r for r in json.loads(done.stdout)["hubs"]}
    assert rows["physics"]["outcome"] == "up to date"
    for name in ("chem-a", "chem-b"):
        assert rows[name]["outcome"] == "skipped"
        assert rows[name]["note"] == "stopped: no approval within 3 s"
    # Without a UI at hand, the run said how to answer it.
    assert "hubshift approve --run " in done.stderr
    assert versions_of(sandboxes) == VERSIONS
    store = BackupStore(storage)
    assert list_backups(store, "chem-a") == list_backups(store, "chem-b") == []


def _paused_fleet_run(api: str, deadline: float) -> str:
    while time.monotonic() < deadline:
        found = httpx.post(f"{api}/flow_runs/filter", timeout=10, json={
            "flow_runs": {"state": {"type": {"any_": ["PAUSED"]}}}}).json()
        if found:
            return found[0]["id"]
        time.sleep(0.3)
    raise AssertionError("the fleet never paused for its approval")


def _table(api: str, run_id: str) -> dict[str, dict]:
    """The newest table artifact of fleet run `run_id`: hub -> row."""
    [artifact] = httpx.post(f"{api}/artifacts/filter", timeout=10, json={
        "artifacts": {"key": {"any_": ["fleet-upgrade"]}, "flow_run_id": {"any_": [run_id]}},
        "sort": "CREATED_DESC", "limit": 1}).json() or [{"data": []}]
    data = artifact["data"]
    return {row["hub"]: row for row in (data if isinstance(data, list) else json.loads(data))}


def test_a_hub_failing_its_soak_is_rolled_back_and_the_fleet_stops(fleet,
                                                                   prefect_api) -> None:
    path, sandboxes, _ = fleet
    argv, env = cli_command(
        ["fleet-upgrade", "-f", path, "--json", "--approve-timeout", "120",
         "--soak-minutes", "0.15", "--on-soak-failure", "rollback", "--max-fail-percent", "0"],
        prefect_api=prefect_api)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        run_id = _paused_fleet_run(prefect_api, deadline)
        # While it waits, the UI shows the table so far and the progress.
        assert _table(prefect_api, run_id)["physics"]["outcome"] == "up to date"
        # The no-UI way, as the waiting run printed it (the UI's Resume form does the same).
        approved = run_cli(["approve", "--run", run_id, "--comment", "canary looks fine"],
                           prefect_api=prefect_api)
        assert approved.returncode == 0, approved.stderr[-2000:]
        # chem-a's row appears once its upgrade ended; its soak is on: the hub goes down.
        while _table(prefect_api, run_id).get("chem-a", {}).get("outcome") != "upgraded":
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.3)
        runtime_for(hub_config(sandboxes["chem-a"])).stop()
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            stop_group(proc)
    assert proc.returncode == 1, err[-3000:]
    rows = {r["hub"]: r for r in json.loads(out)["hubs"]}
    assert rows["physics"]["outcome"] == "up to date"
    chem = rows["chem-a"]
    assert chem["outcome"] == "rolled back" and chem["failed_step"] == "soak"
    assert chem["note"].startswith("approved: canary looks fine; failed its soak: ")
    # Users wrote to it during its soak: a safety backup keeps that, named in its state.
    assert "safety backup " in chem["hub_state"]
    assert rows["chem-b"]["outcome"] == "skipped" and "max_fail_percent=0" in rows[
        "chem-b"]["note"]
    assert versions_of(sandboxes) == VERSIONS
    assert _table(prefect_api, run_id)["chem-a"]["outcome"] == "rolled back"
    progress = httpx.post(f"{prefect_api}/artifacts/filter", timeout=10, json={
        "artifacts": {"key": {"any_": ["fleet-progress"]},
                      "flow_run_id": {"any_": [run_id]}}}).json()
    assert [a["data"] for a in progress] == [100.0]


def test_a_bad_rollout_flag_or_run_id_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from tests.unit.test_config import HUB, _write

    path = _write(tmp_path, [HUB])
    bad = run_cli(["fleet-upgrade", "-f", path, "--approve", "sometimes"],
                  env_changes={"PHYSICS_TOKEN": "t"})
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1, bad.stderr
    assert bad.stderr.startswith("error: --approve: ") and "after-canary" in bad.stderr
    unknown = run_cli(["approve", "--run", "not-a-run"])
    assert unknown.returncode == 2 and unknown.stderr.strip() == (
        "error: --run: 'not-a-run' is not a flow run id (a UUID)")
