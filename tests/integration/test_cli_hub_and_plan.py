"""`hubshift plan` and `hubshift hub start|stop|status` on a real hub, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import NEW_VERSION, OLD_VERSION, alembic_log_of_upgrade_db

pytestmark = pytest.mark.integration


def test_plan_lists_the_migrations_and_touches_nothing(running_hub, storage_config,
                                                       tmp_path: Path) -> None:
    hub = running_hub(OLD_VERSION, name="physics", seed_hub=False)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    pid = hub.runtime.status().pid

    done = run_cli(["plan", "-f", fleet, "--json"])
    assert done.returncode == 0, done.stderr
    [plan] = json.loads(done.stdout)["plans"]
    assert (plan["installed_version"], plan["running_version"]) == (OLD_VERSION, OLD_VERSION)
    assert plan["current_revision"] == "0eee8c825d24"
    assert [m["revision"] for m in plan["migrations"]] == ["3c2384c5aae1", "4621fec11365"]
    # Exactly what the real upgrade-db of the target then runs, by alembic's own log.
    assert [m["revision"] for m in plan["migrations"]] == alembic_log_of_upgrade_db(
        hub.sandbox.workdir / "jupyterhub.sqlite", NEW_VERSION, tmp_path)
    assert plan["migrations"][1]["title"] == "manage roles"
    assert any("sqlite cannot downgrade" in w for w in plan["warnings"])

    text = run_cli(["plan", "-f", fleet])
    assert "4.1.6 -> 5.5.4" in text.stdout and "4621fec11365  manage roles" in text.stdout
    assert hub.runtime.status().pid == pid and hub.api.version() == OLD_VERSION
    assert not (hub.sandbox.workdir / f"venv-{NEW_VERSION}").exists()


def test_plan_refuses_an_unreachable_hub_listing_every_reason(running_hub, storage_config,
                                                              tmp_path: Path) -> None:
    hub = running_hub(OLD_VERSION, name="physics", seed_hub=False)
    entry = hub.sandbox.fleet_entry(NEW_VERSION)
    entry["api_url"] = "http://127.0.0.1:9/hub/api"  # nothing listens on the discard port
    entry["config_file"] = str(tmp_path / "missing_config.py")
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config, [entry])
    done = run_cli(["plan", "-f", fleet])
    assert done.returncode == 2
    assert "hub API http://127.0.0.1:9/hub/api" in done.stderr
    assert "missing_config.py does not exist" in done.stderr
    assert hub.sandbox.token not in done.stderr + done.stdout


def test_plan_refuses_a_token_without_the_scopes_it_needs(running_hub, storage_config,
                                                          tmp_path: Path) -> None:
    hub = running_hub(OLD_VERSION, name="physics", seed_hub=False)
    weak = hub.api.request("POST", "/users/admin/tokens", {"scopes": ["read:users:name"]})
    entry = {**hub.sandbox.fleet_entry(NEW_VERSION), "api_token": weak["token"]}
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config, [entry])
    done = run_cli(["plan", "-f", fleet])
    assert done.returncode == 2
    assert "it lacks the scopes list:users, read:servers, read:users" in done.stderr
    assert weak["token"] not in done.stderr + done.stdout


def test_hub_stop_status_start_round_trip(running_hub, storage_config, tmp_path: Path) -> None:
    hub = running_hub(OLD_VERSION, name="physics", seed_hub=False)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    status = run_cli(["hub", "status", "-f", fleet, "--hub", "physics", "--json"])
    assert status.returncode == 0
    assert json.loads(status.stdout) | {"pid": None} == {
        "hub": "physics", "running": True, "pid": None, "healthy": True, "version": OLD_VERSION}

    assert run_cli(["hub", "stop", "-f", fleet, "--hub", "physics"]).returncode == 0
    stopped = run_cli(["hub", "status", "-f", fleet, "--hub", "physics"])
    assert stopped.returncode == 1 and "stopped" in stopped.stdout
    assert not hub.api.healthy()

    started = run_cli(["hub", "start", "-f", fleet, "--hub", "physics"])
    assert started.returncode == 0, started.stderr
    assert hub.api.version() == OLD_VERSION
