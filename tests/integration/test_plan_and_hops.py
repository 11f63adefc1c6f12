"""The plan on hubs made by old releases, stepping stones, and the offline wheelhouse.

The plan's revision list is compared with what the real `upgrade-db` of the target writes in
alembic's log; stepping-stone upgrades climb a real 1.5.1 hub and a real 2.3.1 hub to the
newest release (6.1.1) through the newest release of each major version in between, in one
window; and an upgrade runs with the package index unreachable.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from hubshift.backends.databases import database_for
from hubshift.integrity.digest import VOLATILE_COLUMNS, differences
from hubshift_lab.sandbox import SEED_GROUPS
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import (
    NEW_VERSION,
    OLD_VERSION,
    PREVIOUS_VERSION,
    SIX_REVISIONS,
    RunningHub,
    alembic_log_of_upgrade_db,
)

pytestmark = pytest.mark.integration

def _rows(db_file: Path, table: str) -> int:
    with sqlite3.connect(db_file) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _who(hub: RunningHub) -> tuple[list[str], dict[str, list[str]]]:
    """User names and group members, as the hub's API tells them."""
    users = sorted(u["name"] for u in hub.api.users())
    groups = {g["name"]: sorted(g["users"]) for g in hub.api.groups()}
    return users, groups


def _plan(fleet: Path, *args: str) -> dict:
    done = run_cli(["plan", "-f", fleet, "--json", *args])
    assert done.returncode == 0, done.stderr[-3000:]
    [plan] = json.loads(done.stdout)["plans"]
    return plan


def test_plan_of_a_1_5_1_hub_lists_what_upgrade_db_runs_and_via_auto_climbs_to_the_newest(
    running_hub, storage_config, prefect_api: str, tmp_path: Path
) -> None:
    hub = running_hub("1.5.1", name="legacy")
    db_file = hub.sandbox.workdir / "jupyterhub.sqlite"
    tokens = _rows(db_file, "api_tokens")
    assert tokens >= 3  # alice's, bob's and the hubshift service's
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    before = _who(hub)

    plan = _plan(fleet)
    planned = [m["revision"] for m in plan["migrations"]]
    assert plan["current_revision"] == "4dc2d5a8c53c" and plan["installed_version"] == "1.5.1"
    assert any(f"drops table api_tokens: all its {tokens} rows will be deleted" in w
               for w in plan["warnings"]), plan["warnings"]
    assert any(f"1.5.1 -> {NEW_VERSION} crosses more than one major version" in w
               for w in plan["warnings"])
    assert planned == alembic_log_of_upgrade_db(db_file, NEW_VERSION, tmp_path)

    # One major version at a time: every revision the direct jump would run, hop by hop.
    climb = ["2.3.1", "3.1.1", OLD_VERSION, PREVIOUS_VERSION, NEW_VERSION]
    stepped = _plan(fleet, "--via", "auto")
    assert [h["version"] for h in stepped["hops"]] == climb
    assert [m["revision"] for m in stepped["migrations"]] == planned
    done = run_cli(["upgrade", "-f", fleet, "--hub", "legacy", "--via", "auto", "--json"],
                   prefect_api=prefect_api)
    result = json.loads(done.stdout)
    assert done.returncode == 0, (result.get("error"), done.stderr[-3000:])
    assert result["hops"] == climb
    assert result["migrations_run"] == planned == result["migrations"]
    assert hub.api.version() == NEW_VERSION
    assert _who(hub) == before


def test_via_auto_climbs_2_3_1_through_3_4_and_5_to_the_newest_in_one_window(
    running_hub, storage_config, prefect_api: str, tmp_path: Path
) -> None:
    hub = running_hub("2.3.1", name="climber")
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    before = _who(hub)
    assert set(SEED_GROUPS) <= set(before[1])

    plan = _plan(fleet, "--via", "auto")
    climb = ["3.1.1", OLD_VERSION, PREVIOUS_VERSION, NEW_VERSION]
    assert [h["version"] for h in plan["hops"]] == climb
    assert not any("more than one major" in w for w in plan["warnings"])

    # A failure after the first hop migrated: back to 2.3.1, its revision and its rows.
    db = database_for(hub.sandbox.db_url)
    revision, rows, venv = db.revision(), db.digest(), hub.sandbox.venv_link.resolve()
    failed = run_cli(["upgrade", "-f", fleet, "--hub", "climber", "--via", "auto", "--json"],
                     prefect_api=prefect_api, fault="migrate:after")
    result = json.loads(failed.stdout)
    assert failed.returncode == 1, (result.get("error"), failed.stderr[-3000:])
    assert result["status"] == "rolled-back" and result["failed_step"] == "migrate 3.1.1"
    assert hub.api.version() == "2.3.1" and db.revision() == revision
    assert differences(rows, db.digest(), ignore_columns=VOLATILE_COLUMNS) == []
    assert hub.sandbox.venv_link.resolve() == venv and _who(hub) == before

    done = run_cli(["upgrade", "-f", fleet, "--hub", "climber", "--via", "auto", "--json"],
                   prefect_api=prefect_api)
    result = json.loads(done.stdout)
    assert done.returncode == 0, (result.get("error"), done.stderr[-3000:])
    assert result["status"] == "upgraded" and result["hops"] == climb
    steps = [s["name"] for s in result["steps"]]
    # One window: one stop and one start around every hop's upgrade-db.
    assert steps.count("stop") == 1 and steps.count("start") == 1
    migrations = [steps.index(f"migrate {version}") for version in climb]
    assert steps.index("stop") < migrations[0] and migrations == sorted(migrations)
    assert migrations[-1] < steps.index("start")
    assert result["migrations_run"] == [m["revision"] for m in plan["migrations"]]
    assert hub.api.version() == NEW_VERSION and hub.api.healthy()
    assert _who(hub) == before
    for version in climb:
        assert (hub.sandbox.workdir / f"venv-{version}" / ".hubshift-complete").exists()


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

    plan = _plan(fleet)
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
    plan = _plan(fleet)
    [warning] = [w for w in plan["warnings"] if "named server" in w]
    assert "rejects the names of 2 of the 2 named server(s)" in warning
    assert "'autorename'" in warning and "renames them at its first start" in warning
    assert "(2 of them run now)" in warning and plan["notes"] == []
    assert hub.api.version() == PREVIOUS_VERSION


class _DeadIndex:
    """A package index that answers 503 to everything and counts who asked."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hits.append(self.path)
                self.send_error(503, "index down for the test")

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    def __enter__(self) -> _DeadIndex:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dead_index() -> Iterator[_DeadIndex]:
    with _DeadIndex() as index:
        yield index


def test_an_upgrade_planned_earlier_completes_from_the_wheelhouse_with_the_index_down(
    running_hub, storage_config, prefect_api: str, tmp_path: Path, dead_index: _DeadIndex
) -> None:
    hub = running_hub(OLD_VERSION, name="offline")
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    home = {"HUBSHIFT_HOME": str(tmp_path / "home")}  # a wheelhouse of its own
    planned = run_cli(["plan", "-f", fleet], env_changes=home)  # the day before: index up
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert list((tmp_path / "home" / "wheelhouse").glob(f"jupyterhub-{NEW_VERSION}-*.whl"))

    # The night of the window: pip's only index answers 503, and pip reads no config file.
    offline = {**home, "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": dead_index.url,
               "PIP_EXTRA_INDEX_URL": None, "PIP_FIND_LINKS": None}
    done = run_cli(["upgrade", "-f", fleet, "--hub", "offline", "--json"],
                   prefect_api=prefect_api, env_changes=offline)
    result = json.loads(done.stdout)
    assert done.returncode == 0, (result.get("error"), done.stderr[-3000:])
    assert result["status"] == "upgraded" and hub.api.version() == NEW_VERSION
    assert dead_index.hits == []

    # The same index down without a wheelhouse: refused in preflight, the hub untouched.
    other = running_hub(OLD_VERSION, name="unplanned")
    fleet = write_fleet(tmp_path / "fleet-unplanned.yaml", storage_config,
                        [other.sandbox.fleet_entry(NEW_VERSION)])
    done = run_cli(["upgrade", "-f", fleet, "--hub", "unplanned", "--json"],
                   prefect_api=prefect_api,
                   env_changes={**offline, "HUBSHIFT_HOME": str(tmp_path / "empty-home")})
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot download JupyterHub {NEW_VERSION}" in json.loads(done.stdout)["error"]
    assert dead_index.hits and other.api.version() == OLD_VERSION
