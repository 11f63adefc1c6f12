"""Deployments built from a fleet file of three hubs, as a real Prefect server stores them."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployments.build import deploy
from tests.support.fleet import write_fleet

pytestmark = pytest.mark.integration


def _entry(name: str, environment: str, **extra) -> dict:
    return {"name": name, "environment": environment, "config_file": f"/srv/{name}/c.py",
            "db_url": f"sqlite:////srv/{name}/jupyterhub.sqlite",
            "api_url": "http://127.0.0.1:8000/hub/api", "api_token": "t0ken-not-shown",
            "install": {"kind": "venv", "venv": f"/srv/{name}/venv"},
            "runtime": {"kind": "process", "workdir": f"/srv/{name}"}, **extra}


def test_each_hub_gets_its_window_parameters_and_limit(prefect_api, storage_config,
                                                       tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client

    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config, [
        _entry("physics", "staging", target_version="6.1.1",
               schedule={"cron": "0 3 * * 0", "timezone": "Europe/Paris"}),
        # `latest` stays `latest`: each scheduled run resolves it in its own preflight.
        _entry("chemistry", "production", target_version="latest", queue="chem-host",
               schedule={"cron": "30 2 * * 6", "timezone": "America/New_York"}),
        _entry("biology", "production"),
    ])
    names = deploy(fleet, "hubshift-test")
    assert sorted(names) == ["fleet-upgrade/fleet", "move-db/move-db", "rollback-hub/rollback",
                             "upgrade-hub/biology", "upgrade-hub/chemistry",
                             "upgrade-hub/physics"]
    with get_client(sync_client=True) as client:
        physics = client.read_deployment_by_name("upgrade-hub/physics")
        chemistry = client.read_deployment_by_name("upgrade-hub/chemistry")
        biology = client.read_deployment_by_name("upgrade-hub/biology")
        fleet_run = client.read_deployment_by_name("fleet-upgrade/fleet")
        rollback = client.read_deployment_by_name("rollback-hub/rollback")
        move = client.read_deployment_by_name("move-db/move-db")

    [schedule] = physics.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 3 * * 0", "Europe/Paris")
    [schedule] = chemistry.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("30 2 * * 6",
                                                                    "America/New_York")
    assert biology.schedules == []
    assert physics.parameters == {"hub": "physics", "target_version": "6.1.1",
                                  "fleet_file": str(fleet.resolve())}
    assert chemistry.parameters["target_version"] == "latest"
    assert biology.parameters == {"hub": "biology", "fleet_file": str(fleet.resolve())}
    for deployment in (physics, chemistry, biology):
        assert deployment.global_concurrency_limit.limit == 1
        assert deployment.work_pool_name == "hubshift-test"
    assert chemistry.work_queue_name == "chem-host"
    assert "staging" in physics.tags and "production" in chemistry.tags
    # The UI's Run form: typed parameters with their descriptions.
    properties = physics.parameter_openapi_schema["properties"]
    assert properties["hub"]["type"] == "string"
    assert "Name of the hub" in properties["hub"]["description"]
    assert "JupyterHub version" in str(properties["target_version"])
    assert properties["pre"]["type"] == "boolean" and "pre-release" in str(properties["pre"])
    fleet_props = fleet_run.parameter_openapi_schema["properties"]
    assert fleet_props["max_parallel"]["maximum"] == 32
    assert "failed/attempted" in fleet_props["max_fail_percent"]["description"]
    assert fleet_run.parameters["use_deployments"] is True
    rollback_props = rollback.parameter_openapi_schema["properties"]
    assert "backup_id" in rollback_props
    # A manual rollback from the UI reports only, unless its form's confirm is ticked.
    assert rollback_props["confirm"]["type"] == "boolean"
    assert rollback_props["confirm"]["default"] is False
    assert "safety backup" in " ".join(rollback_props["confirm"]["description"].split())
    # The move's form: the URL as a ${VAR} of the worker, --replace off by default.
    move_props = move.parameter_openapi_schema["properties"]
    assert "${" in move_props["to_url"]["description"]
    assert move_props["replace"]["default"] is False
    assert move.parameters == {"fleet_file": str(fleet.resolve())}
    # No secret travels in a deployment: only the fleet file's path.
    for deployment in (physics, chemistry, biology, fleet_run, rollback, move):
        assert "t0ken-not-shown" not in str(deployment.model_dump())
