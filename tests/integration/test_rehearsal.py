"""The rehearsal on a copy of the hub (issue 14), on one real JupyterHub 5.5.4 hub on SQLite
whose proxy runs on its own and whose user alice has a real `jupyterhub-singleuser` server
running all along, rehearsed and upgraded to 6.1.1.

In order: a rehearsal leaves alice's server (process, proxy route, database rows) and the
hub exactly as they were; a column the operator added that 6.1.1 adds again is refused in
the rehearsal of `hubshift upgrade` (exit 2, nothing touched, nothing left); a config the
new release cannot load is refused before any downtime; an upgrade killed with SIGKILL in
its rehearsal leaves the hub untouched and the next rehearsal removes its leftovers; then
the upgrade itself rehearses and goes through (over the killed one's record), its result
giving the rehearsal and the downtime apart.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hubshift.backends.storage import BackupStore
from hubshift.integrity.digest import VOLATILE_COLUMNS, Digest, differences
from hubshift.system import paths, procs
from hubshift.window import inprogress
from hubshift_lab.s3server import S3Server
from tests.support.fleet import cli_command, write_fleet
from tests.support.hubs import NEW_VERSION, PREVIOUS_VERSION, jupyterhub_venv
from tests.support.lab import Lab, open_lab, refused_in_rehearsal

pytestmark = pytest.mark.integration

USER = "alice"


@dataclass
class Rehearsed:
    lab: Lab
    server_pid: int


@pytest.fixture(scope="module")
def rehearsed(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
              prefect_api: str) -> Iterator[Rehearsed]:
    venv = jupyterhub_venv(PREVIOUS_VERSION, ("jupyter_server",))
    with open_lab(tmp_path_factory.mktemp("rehearse"), "rehearsed", venv,
                  endpoint_url=s3_server.endpoint_url, prefect_api=prefect_api,
                  from_version=PREVIOUS_VERSION, jupyter_servers=True,
                  keep_servers=True) as lab:
        # The rehearsal's tests opt in (write_fleet turns it off for every other test).
        write_fleet(lab.fleet, lab.storage, [{**lab.entry, "rehearse": True}],
                    [lab.inbox.url])
        yield Rehearsed(lab, _spawn(lab))


def _spawn(lab: Lab) -> int:
    """Start alice's default server; return its pid once it is ready."""
    with lab.sandbox.api(timeout=60) as api:
        api.request("POST", f"/users/{USER}/server")
        deadline = time.monotonic() + 120
        while True:
            server = (api.request("GET", f"/users/{USER}").get("servers") or {}).get("", {})
            if server.get("ready"):
                return int(server["state"]["pid"])
            assert time.monotonic() < deadline, server
            time.sleep(0.5)


@dataclass(frozen=True)
class HubAsItWas:
    pid: int | None
    version: str
    install: Path
    revision: str | None
    digest: Digest
    rows: dict[str, list[tuple]]
    routes: dict
    server_alive: bool


def _rows(db_file: Path) -> dict[str, list[tuple]]:
    """alice's spawner and server rows of the live database, every column but the
    `last_activity` the running hub itself refreshes from the proxy every 5 minutes."""
    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as conn:
        return {
            "spawners": conn.execute(
                "SELECT s.id, s.user_id, s.server_id, s.state, s.name, s.started, "
                "s.user_options FROM spawners s JOIN users u ON s.user_id = u.id "
                "WHERE u.name = ? ORDER BY s.id", (USER,)).fetchall(),
            "servers": conn.execute("SELECT * FROM servers ORDER BY id").fetchall(),
        }


def _routes(lab: Lab) -> dict:
    token = (lab.sandbox.proxy_token_file or Path()).read_text().strip()
    answer = httpx.get(f"http://127.0.0.1:{lab.sandbox.proxy_api_port}/api/routes",
                       headers={"Authorization": f"token {token}"}, timeout=10)
    answer.raise_for_status()
    # CHP adds `last_activity` to each route: activity, not the route.
    return {spec: {k: v for k, v in route.items() if k != "last_activity"}
            for spec, route in answer.json().items()}


def _as_it_is(r: Rehearsed) -> HubAsItWas:
    lab = r.lab
    with lab.api() as api:
        version = api.version()
    return HubAsItWas(
        pid=lab.runtime.status().pid, version=version,
        install=lab.sandbox.venv_link.resolve(), revision=lab.db().revision(),
        digest=lab.db().digest(), rows=_rows(lab.sandbox.workdir / "jupyterhub.sqlite"),
        routes=_routes(lab), server_alive=procs.alive(r.server_pid))


def _assert_untouched(before: HubAsItWas, r: Rehearsed) -> None:
    now = _as_it_is(r)
    assert (now.pid, now.version, now.install, now.revision) == (
        before.pid, before.version, before.install, before.revision)
    assert differences(before.digest, now.digest, ignore_columns=VOLATILE_COLUMNS) == []
    assert now.rows == before.rows
    assert now.routes == before.routes and f"/user/{USER}" in now.routes
    assert now.server_alive


def _scratch_left(hub: str) -> list[str]:
    """What rehearsals of `hub` left: folders (copies, configs, logs) and their processes."""
    root = paths.home() / "rehearse" / hub
    found = [str(p) for p in root.iterdir()] if root.exists() else []
    marker = f"{root}/"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = procs.cmdline(int(entry.name)) or ""
            if marker in line and procs.alive(int(entry.name)):
                found.append(line)
    return found


def _proxies_on(api_port: int) -> list[int]:
    """configurable-http-proxy processes whose API port is `api_port`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = procs.cmdline(int(entry.name)) or ""
            if ("configurable-http-proxy" in line and f"--api-port {api_port}" in line
                    and procs.alive(int(entry.name))):
                found.append(int(entry.name))
    return found


def test_a_rehearsal_leaves_a_running_users_server_and_the_hub_exactly_as_they_were(
        rehearsed: Rehearsed) -> None:
    before = _as_it_is(rehearsed)
    assert before.rows["servers"], "alice's server should have a row"
    done = rehearsed.lab.hubshift("plan", "--rehearse", "--to", NEW_VERSION, "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rehearsal = json.loads(done.stdout)["plans"][0]["rehearsal"]
    assert rehearsal["status"] == "rehearsed", rehearsal
    assert rehearsal["migrations_run"] == ["be8ecf03ddac", "afd65840b69e", "ff1860e38070",
                                           "f460b0348206"]
    assert rehearsal["migrate_seconds"] > 0 and rehearsal["start_seconds"] > 0
    assert rehearsal["seconds"] >= rehearsal["migrate_seconds"] + rehearsal["start_seconds"]
    _assert_untouched(before, rehearsed)
    assert _scratch_left(rehearsed.lab.hub) == []


def test_a_column_the_operator_added_is_refused_in_the_rehearsal_with_the_hub_untouched(
        rehearsed: Rehearsed) -> None:
    lab = rehearsed.lab
    db_file = lab.sandbox.workdir / "jupyterhub.sqlite"
    with sqlite3.connect(db_file) as conn:  # "database fields added by user"
        conn.execute("ALTER TABLE spawners ADD COLUMN display_name VARCHAR(255)")
    try:
        before = _as_it_is(rehearsed)
        done = lab.hubshift("upgrade", "--to", NEW_VERSION, "--json")
        result = refused_in_rehearsal(done, NEW_VERSION)
        error = result["error"]
        assert "duplicate column name: display_name" in error
        assert result["downtime_seconds"] is None and result["backup_id"] is None
        steps = [s["name"] for s in result["steps"]]
        assert steps[-1] == "rehearse" and "stop" not in steps
        # The notification says the same.
        said = lab.inbox.messages[-1]["message"]
        assert "rehearse" in said and "The live hub was not touched" in said
        _assert_untouched(before, rehearsed)
        assert _scratch_left(lab.hub) == []
        assert lab.backups() == [] and not lab.record_exists()
    finally:
        with sqlite3.connect(db_file) as conn:
            conn.execute("ALTER TABLE spawners DROP COLUMN display_name")


def test_a_config_the_new_release_cannot_load_is_refused_before_any_downtime(
        rehearsed: Rehearsed) -> None:
    lab = rehearsed.lab
    # The hub's config, plus a module that only the new release's env would lack.
    config = lab.sandbox.workdir / "needs_a_missing_module.py"
    config.write_text(
        f"load_subconfig({str(lab.sandbox.config_file)!r})  # noqa: F821\n"
        "import jupyterhub\n"
        "if jupyterhub.version_info >= (6,):\n"
        "    import hubshift_auth_plugin_not_in_the_new_env  # noqa: F401\n")
    fleet = write_fleet(lab.root / "fleet-missing-module.yaml", lab.storage,
                        [{**lab.entry, "config_file": str(config), "rehearse": True}])
    before = _as_it_is(rehearsed)
    done = lab.hubshift("upgrade", "--to", NEW_VERSION, "--json", fleet=fleet)
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    # The target's own check refuses it first, else the rehearsal's start does.
    assert result["status"] == "refused" and result["failed_step"] in ("check-target",
                                                                        "rehearse")
    assert "hubshift_auth_plugin_not_in_the_new_env" in result["error"]
    assert "stop" not in [s["name"] for s in result["steps"]]
    _assert_untouched(before, rehearsed)
    assert _scratch_left(lab.hub) == []


def test_an_upgrade_killed_in_its_rehearsal_leaves_the_hub_untouched_and_the_next_cleans_up(
        rehearsed: Rehearsed) -> None:
    lab = rehearsed.lab
    before = _as_it_is(rehearsed)
    argv, env = cli_command(["upgrade", "-f", lab.fleet, "--hub", lab.hub, "--to",
                             NEW_VERSION, "--json"], prefect_api=lab.prefect_api)
    root = paths.home() / "rehearse" / lab.hub
    with subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL) as proc:
        # Killed once the target runs on the copy: the most there is to leave behind.
        deadline = time.monotonic() + 600
        state: dict = {}
        while "hub_pid" not in state:
            assert proc.poll() is None, "the rehearsal ended before it could be killed"
            assert time.monotonic() < deadline
            for found in root.glob("*/state.json") if root.exists() else []:
                with contextlib.suppress(OSError, ValueError):
                    state = json.loads(found.read_text())
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    leftovers = _scratch_left(lab.hub)
    assert leftovers, "a killed rehearsal leaves its folder"
    left = inprogress.read(BackupStore(lab.storage), lab.hub)
    assert left is not None and not left.touched, left  # the next upgrade may take it over
    assert procs.alive(state["hub_pid"]), "the killed rehearsal's hub outlives it"
    _assert_untouched(before, rehearsed)

    done = lab.hubshift("rehearse", "--to", NEW_VERSION, "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    cleaned = json.loads(done.stdout)["rehearsal"]["cleaned"]
    assert len(cleaned) == 1 and cleaned[0].startswith("folder "), cleaned
    assert _scratch_left(lab.hub) == []
    assert not procs.alive(state["hub_pid"])
    assert _proxies_on(state["proxy_port"]) == [], "the killed rehearsal's proxy still runs"
    _assert_untouched(before, rehearsed)


def test_a_good_hub_rehearses_and_upgrades_with_rehearsal_and_downtime_apart(
        rehearsed: Rehearsed) -> None:
    lab = rehearsed.lab
    done = lab.hubshift("upgrade", "--to", NEW_VERSION, "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    rehearsal = result["rehearsal"]
    assert (result["status"], rehearsal["status"]) == ("upgraded", "rehearsed")
    assert rehearsal["migrate_seconds"] > 0 and rehearsal["start_seconds"] > 0
    assert result["downtime_seconds"] > 0
    steps = [s["name"] for s in result["steps"]]
    assert steps.index("rehearse") < steps.index("preload") < steps.index("stop")
    assert result["servers"]["kept"] == [USER]
    assert procs.alive(rehearsed.server_pid)
    with lab.api() as api:
        assert api.version() == NEW_VERSION
    assert _scratch_left(lab.hub) == []
