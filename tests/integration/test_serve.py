"""`hubshift serve`: one process registers every deployment of the fleet file and runs them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.support.fleet import cli_command, stop_group, write_fleet

pytestmark = pytest.mark.integration


def test_serve_registers_the_deployments_and_runs_what_is_asked(prefect_api, storage_config,
                                                                tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    # A hub that does not answer: its run must end refused in preflight, with nothing touched.
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config, [{
        "name": "ghost", "target_version": "6.1.1", "config_file": str(tmp_path / "c.py"),
        "db_url": f"sqlite:///{tmp_path}/jupyterhub.sqlite",
        "api_url": "http://127.0.0.1:9/hub/api", "api_token": "t0ken-ghost",
        "install": {"venv": str(tmp_path / "venv")}, "runtime": {"workdir": str(tmp_path)},
        "schedule": {"cron": "0 4 * * 1", "timezone": "UTC"},
    }])
    argv, env = cli_command(["serve", "-f", fleet], prefect_api=prefect_api)
    with open(tmp_path / "serve.log", "wb") as log:
        server = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        with get_client(sync_client=True) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    deployment = client.read_deployment_by_name("upgrade-hub/ghost")
                    client.read_deployment_by_name("rollback-hub/rollback")
                    client.read_deployment_by_name("fleet-upgrade/fleet")
                    break
                except ObjectNotFound:
                    assert server.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
                    assert time.monotonic() < deadline, "serve registered nothing in 60 s"
                    time.sleep(0.5)
            assert deployment.schedules[0].schedule.cron == "0 4 * * 1"
            run = client.create_flow_run_from_deployment(deployment.id)
            deadline = time.monotonic() + 120
            while not (run := client.read_flow_run(run.id)).state.is_final():
                assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()[-3000:]
                time.sleep(0.5)
        assert run.state.is_failed()
        assert "refusing to upgrade" in run.state.message
    finally:
        stop_group(server, signum=2)
    assert "t0ken-ghost" not in (tmp_path / "serve.log").read_text()
