"""Named servers whose names JupyterHub 6 rejects, counted in the plan by the target release
itself, with what the configured policy does and which of them run.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.support.fleet import write_fleet
from tests.support.hubs import (
    NEW_VERSION,
    PREVIOUS_VERSION,
    SIX_REVISIONS,
    RunningHub,
    alembic_log_of_upgrade_db,
)
from tests.support.plans import plan_json

pytestmark = pytest.mark.integration


def _start_named_servers(hub: RunningHub, user: str, names: list[str]) -> None:
    """Start named servers of `user` through the hub's API and wait until each is ready."""
    for name in names:
        hub.api.request("POST", f"/users/{user}/servers/{quote(name, safe='')}", {})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        servers = hub.api.request("GET", f"/users/{user}")["servers"]
        if all(servers.get(name, {}).get("ready") for name in names):
            return
        time.sleep(0.5)
    raise AssertionError(f"named servers {names} of {user} never became ready: {servers}")


def test_the_plan_counts_named_servers_6_rejects_and_says_what_the_policy_does(
    running_hub, storage_config, tmp_path: Path
) -> None:
    """Two named servers made on 5.5.4 with names 6.x rejects: the plan counts them, with
    the rule and the policy JupyterHub 6.1.1 itself reads from the hub's config."""
    hub = running_hub(PREVIOUS_VERSION, name="named")
    _start_named_servers(hub, "alice", ["My Server", "analysis_2"])
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])

    plan = plan_json(fleet)
    assert plan["named_servers"] == {"total": 2, "invalid": 2, "running_invalid": 2,
                                     "policy": "allow-start",
                                     "rule": "jupyterhub.slugs.is_valid_safe_slug",
                                     "running_names": ["alice/My Server", "alice/analysis_2"]}
    [note] = plan["notes"]
    assert "rejects the names of 2 of the 2 named server(s)" in note
    assert "'allow-start' (the default), their owners can still start" in note
    assert not any("named server(s) (" in w for w in plan["warnings"])
    assert "2 running servers will be stopped (alice/My Server, alice/analysis_2)" in " ".join(
        plan["warnings"])
    assert "have names JupyterHub 6.1.1 rejects and are not migrated while they run: " \
        "alice/My Server, alice/analysis_2" in " ".join(plan["warnings"])
    # The revisions 6.1.1's upgrade-db will run on this 5.5.4 database, by alembic's log.
    assert [m["revision"] for m in plan["migrations"]] == SIX_REVISIONS == (
        alembic_log_of_upgrade_db(hub.sandbox.workdir / "jupyterhub.sqlite", NEW_VERSION,
                                  tmp_path))

    # A policy that changes them is a warning naming the count (5.5.4 ignores the option).
    with hub.sandbox.config_file.open("a") as config:
        config.write('\nc.JupyterHub.allow_existing_invalid_named_servers = "autorename"\n')
    plan = plan_json(fleet)
    [warning] = [w for w in plan["warnings"] if "named server" in w]
    assert "rejects the names of 2 of the 2 named server(s)" in warning
    assert "'autorename'" in warning and "renames them at its first start" in warning
    assert "(2 of them run now)" in warning and plan["notes"] == []
    assert hub.api.version() == PREVIOUS_VERSION


