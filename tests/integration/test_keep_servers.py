"""Users keep working through an upgrade: real `jupyterhub-singleuser` servers behind a
proxy that runs on its own, on a hub with `cleanup_servers = False`, answer every request
while hubshift upgrades (4.1.6 -> 5.5.4 -> 6.1.1) or rolls back the hub; a hub set up the
default way is told, in the plan, that its servers will be stopped, and the result says so.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from hubshift.backends.hubapi import HubAPI, hub_base_url
from hubshift.system import procs
from hubshift_lab.poller import ServerPoller
from hubshift_lab.s3server import S3Server
from tests.support.hubs import OLD_VERSION, jupyterhub_venv
from tests.support.lab import Lab, open_lab

pytestmark = pytest.mark.integration

#: The users whose servers run through every upgrade of this module.
USERS = ("alice", "bob")
SERVER_PACKAGES = ("jupyter_server",)


def _spawn_servers(lab: Lab) -> dict[str, int]:
    """Start the default server of each of USERS; return user -> server pid."""
    # A spawn answers once the server is up or after JupyterHub's slow_spawn_timeout.
    with lab.sandbox.api(timeout=60) as api:
        for user in USERS:
            api.request("POST", f"/users/{user}/server")
        return _wait_ready(api)


def _wait_ready(api: HubAPI, timeout: float = 120) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    while True:
        models = {user: api.request("GET", f"/users/{user}") for user in USERS}
        servers = {user: (model.get("servers") or {}).get("", {})
                   for user, model in models.items()}
        if all(server.get("ready") for server in servers.values()):
            return {user: int(server["state"]["pid"]) for user, server in servers.items()}
        assert time.monotonic() < deadline, f"servers not ready: {servers}"
        time.sleep(0.5)


def _poll(lab: Lab, user: str = "alice") -> ServerPoller:
    """A poller of `user`'s server through the proxy, with a token made before the upgrade."""
    url = f"{hub_base_url(lab.sandbox.api_url)}/user/{user}/api/status"
    return ServerPoller(url, lab.seeded.tokens[user])


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
         prefect_api: str) -> Iterator[tuple[Lab, dict[str, int]]]:
    venv = jupyterhub_venv(OLD_VERSION, SERVER_PACKAGES)
    with open_lab(tmp_path_factory.mktemp("keep"), "keeper", venv,
                  endpoint_url=s3_server.endpoint_url, prefect_api=prefect_api,
                  jupyter_servers=True, keep_servers=True) as lab:
        yield lab, _spawn_servers(lab)


def _upgrade(lab: Lab, to: str, fault: str | None = None) -> tuple[int, dict, ServerPoller]:
    with _poll(lab) as alice:
        done = lab.hubshift("upgrade", "--to", to, "--json", fault=fault)
    return done.returncode, json.loads(done.stdout), alice


def _assert_servers_as_before(lab: Lab, pids: dict[str, int]) -> None:
    with lab.api() as api:
        assert _wait_ready(api, timeout=30) == pids
    for user, pid in pids.items():
        assert procs.alive(pid), f"{user}'s server (pid {pid}) is gone"


def test_the_plan_says_the_running_servers_keep_running(kept: tuple[Lab, dict[str, int]]) -> None:
    lab, _ = kept
    done = lab.hubshift("plan", "--to", "5.5.4", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    plan = json.loads(done.stdout)["plans"][0]
    assert (plan["running_servers"], plan["keeps_servers"]) == (list(USERS), True)
    assert not any("server" in warning for warning in plan["warnings"])


def test_a_rollback_after_a_failed_start_interrupts_no_user(
        kept: tuple[Lab, dict[str, int]]) -> None:
    lab, pids = kept
    code, result, alice = _upgrade(lab, "5.5.4", fault="start:raise")
    assert (code, result["status"]) == (1, "rolled-back"), result.get("error")
    assert alice.requests > 20 and alice.failures == []
    _assert_servers_as_before(lab, pids)
    with lab.api() as api:
        assert api.version() == OLD_VERSION


@pytest.mark.parametrize("to", ["5.5.4", "6.1.1"])
def test_an_upgrade_interrupts_no_user_and_finds_every_server_again(
        kept: tuple[Lab, dict[str, int]], to: str) -> None:
    lab, pids = kept
    code, result, alice = _upgrade(lab, to)
    assert (code, result["status"]) == (0, "upgraded"), result.get("error")
    assert result["downtime_seconds"] > 0
    assert alice.requests > 20 and alice.failures == [], alice.failures[:5]
    assert result["servers"]["kept"] == list(USERS) and result["servers"]["lost"] == {}
    _assert_servers_as_before(lab, pids)
    with lab.api() as api:
        assert api.version() == to
    # A user opens a page of their server with a token made before the upgrades.
    with _poll(lab, "bob") as bob:
        time.sleep(0.5)
    assert bob.requests and bob.failures == []


def test_a_hub_set_up_the_default_way_is_told_its_servers_will_be_stopped(
        tmp_path: Path, s3_server: S3Server, prefect_api: str) -> None:
    venv = jupyterhub_venv(OLD_VERSION, SERVER_PACKAGES)
    with open_lab(tmp_path, "plain", venv, endpoint_url=s3_server.endpoint_url,
                  prefect_api=prefect_api, jupyter_servers=True) as lab:
        _spawn_servers(lab)
        planned = lab.hubshift("plan", "--to", "5.5.4")
        assert planned.returncode == 0, planned.stderr[-3000:]
        assert ("2 running servers will be stopped (alice, bob): to keep them, run the proxy "
                "on its own (ConfigurableHTTPProxy.should_start = False") in planned.stdout
        assert "JupyterHub.cleanup_servers = False" in planned.stdout

        done = lab.hubshift("upgrade", "--to", "5.5.4", "--json")
        assert done.returncode == 0, done.stderr[-3000:]
        servers = json.loads(done.stdout)["servers"]
        assert servers["stopped"] == list(USERS) and servers["kept"] == []
        assert "stopped by the hub (alice, bob)" in lab.inbox.messages[-1]["message"]


def test_a_systemd_unit_that_stops_its_whole_cgroup_is_named_as_what_stops_the_servers(
        tmp_path: Path, s3_server: S3Server, prefect_api: str, systemd_manager) -> None:
    """The hub keeps its servers by its settings, but its unit's KillMode=control-group
    stops them with it: the plan must say so, not promise that they keep running."""
    with open_lab(tmp_path, "unit", jupyterhub_venv(OLD_VERSION), keep_servers=True,
                  endpoint_url=s3_server.endpoint_url, prefect_api=prefect_api,
                  manager=systemd_manager) as lab:
        _spawn_servers(lab)
        done = lab.hubshift("plan", "--to", "5.5.4", "--json")
        assert done.returncode == 0, done.stderr[-3000:]
        plan = json.loads(done.stdout)["plans"][0]
        assert plan["keeps_servers"] is False
        assert any(w.startswith("2 running servers will be stopped (alice, bob): systemd "
                                "stops every process of unit")
                   and "KillMode=control-group" in w and "KillMode=process" in w
                   for w in plan["warnings"]), plan["warnings"]
