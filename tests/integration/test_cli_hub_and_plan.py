"""`hubshift plan` and `hubshift hub start|stop|status` on a real hub, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import (
    HEADS,
    NEW_VERSION,
    OLD_VERSION,
    PREVIOUS_VERSION,
    SIX_REVISIONS,
    alembic_log_of_upgrade_db,
)

pytestmark = pytest.mark.integration


def test_plan_lists_the_migrations_and_what_the_target_itself_says(
        running_hub, storage_config, tmp_path: Path) -> None:
    hub = running_hub(OLD_VERSION, name="physics", seed_hub=False)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    # An option JupyterHub 6 dropped; the running hub read its config before.
    with hub.sandbox.config_file.open("a") as config:
        config.write('\nc.JupyterHub.statsd_host = "127.0.0.1"\n')
    pid, link = hub.runtime.status().pid, hub.sandbox.venv_link.resolve()

    # `--to 6`: the newest release of major 6, named exactly in the plan.
    done = run_cli(["plan", "-f", fleet, "--to", "6", "--json"])
    assert done.returncode == 0, done.stderr
    [plan] = json.loads(done.stdout)["plans"]
    assert (plan["target_version"], plan["requested_version"]) == (NEW_VERSION, "6")
    assert (plan["installed_version"], plan["running_version"]) == (OLD_VERSION, OLD_VERSION)
    assert plan["current_revision"] == HEADS[OLD_VERSION]
    assert [m["revision"] for m in plan["migrations"]] == ["3c2384c5aae1", "4621fec11365",
                                                          *SIX_REVISIONS]
    # Exactly what the real upgrade-db of the target then runs, by alembic's own log.
    assert [m["revision"] for m in plan["migrations"]] == alembic_log_of_upgrade_db(
        hub.sandbox.workdir / "jupyterhub.sqlite", NEW_VERSION, tmp_path)
    assert plan["migrations"][1]["title"] == "manage roles"
    assert any("sqlite cannot downgrade" in w for w in plan["warnings"])
    statsd = [w for w in plan["warnings"] if "c.JupyterHub.statsd_host" in w]
    assert len(statsd) == 1 and statsd[0].startswith(f"JupyterHub {NEW_VERSION} does not know")
    assert plan["named_servers"] == {"total": 0, "invalid": 0, "running_invalid": 0,
                                     "policy": "allow-start",
                                     "rule": "jupyterhub.slugs.is_valid_safe_slug",
                                     "running_names": []}

    text = run_cli(["plan", "-f", fleet])
    assert text.returncode == 0, text.stderr
    assert f"4.1.6 -> {NEW_VERSION}" in text.stdout
    assert "f460b0348206  Add display_name to spawners" in text.stdout
    assert "warning: JupyterHub 6.1.1 does not know the option c.JupyterHub.statsd_host" in (
        text.stdout)

    # The same config is fine for 5.5.4, which still knows the option.
    done = run_cli(["plan", "-f", fleet, "--to", PREVIOUS_VERSION, "--json"])
    assert done.returncode == 0, done.stderr
    [plan] = json.loads(done.stdout)["plans"]
    assert plan["target_version"] == PREVIOUS_VERSION and plan["requested_version"] is None
    assert not any("statsd" in w for w in plan["warnings"]), plan["warnings"]
    assert plan["named_servers"] is None  # 5.5.4 has no rule for names

    # The plan built the targets beside the hub (kept for the upgrade), and touched nothing.
    assert hub.runtime.status().pid == pid and hub.api.version() == OLD_VERSION
    assert hub.sandbox.venv_link.resolve() == link
    for version in (NEW_VERSION, PREVIOUS_VERSION):
        assert (hub.sandbox.workdir / f"venv-{version}" / ".hubshift-complete").exists()


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
