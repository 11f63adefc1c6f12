"""The many-machines path on one machine: a real `prefect server start`, a real process
worker, the deployments registered by `hubshift deploy`, runs created through the server's
REST API exactly as the UI's Run button does, and a real hub upgraded by the worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import prefect_worker
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import NEW_VERSION, OLD_VERSION

pytestmark = pytest.mark.integration

POOL = "hubshift-e2e"


@pytest.fixture(scope="module")
def server_and_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with prefect_worker.server_and_worker(tmp_path_factory.mktemp("prefect-e2e"), POOL) as both:
        yield both


def _press_run(api: str, deployment_id: str) -> dict:
    """POST create_flow_run as the UI does; like Prefect's own client, retry a 5xx answer."""
    for _ in range(3):
        response = httpx.post(f"{api}/deployments/{deployment_id}/create_flow_run", json={},
                              timeout=10)
        if response.status_code < 500:
            break
        time.sleep(1)
    assert response.status_code == 201, (response.status_code, response.text[:2000])
    return response.json()


def test_the_ui_run_button_upgrades_a_hub_through_a_worker_one_run_at_a_time(
        server_and_worker: str, running_hub, storage_config, tmp_path: Path) -> None:
    api, worker_log = server_and_worker
    hub = running_hub(OLD_VERSION, name="physics", ready=NEW_VERSION)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    deployed = run_cli(["deploy", "-f", fleet, "--pool", POOL], prefect_api=api)
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    assert f"upgrade-hub/physics -> work pool {POOL}" in deployed.stdout

    deployment = httpx.get(f"{api}/deployments/name/upgrade-hub/physics", timeout=10).json()
    # Two presses of Run at once: the hub's deployment runs them one after the other.
    runs = [_press_run(api, deployment["id"]) for _ in range(2)]
    finished = sorted((prefect_worker.wait_final(api, run["id"]) for run in runs),
                      key=lambda r: r["start_time"])
    assert [r["state"]["type"] for r in finished] == ["COMPLETED", "COMPLETED"], (
        worker_log.read_text()[-4000:])
    assert finished[0]["end_time"] <= finished[1]["start_time"], "the two runs overlapped"

    with hub.sandbox.api() as client:
        assert client.version() == NEW_VERSION
        assert client.whoami(hub.seeded.tokens["alice"])["name"] == "alice"
    listed = run_cli(["backups", "-f", fleet, "--json"])
    assert len(listed.stdout.split('"backup_id"')) == 2, listed.stdout  # upgraded once
