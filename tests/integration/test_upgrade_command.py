"""A JupyterHub 4.1.6 hub on MariaDB run as a supervisord program, upgraded to 5.5.4 by
`hubshift upgrade` through the `command` runtime (supervisorctl start/stop/status).

One hub goes through the module in order: a refusal first (the hub must be untouched), then
faults (the hub must be back as before, RUNNING under supervisord), then the upgrade that
succeeds. After each, the process answering on the hub's port must be supervisord's
program, never a hub hubshift started beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hubshift.backends.databases import database_for
from hubshift.integrity.digest import VOLATILE_COLUMNS, differences
from hubshift.system import procs
from hubshift.system.listeners import listening_pids, parent_pid
from hubshift_lab.s3server import S3Server
from tests.support.databases import require_service, server_database
from tests.support.fleet import write_fleet
from tests.support.hubs import (
    HEADS,
    OLD_VERSION,
    PREVIOUS_VERSION,
    assert_everyone_kept,
    jupyterhub_venv,
)
from tests.support.lab import (
    Lab,
    assert_back_as_before,
    baseline,
    open_lab,
    upgrade_rolled_back,
)
from tests.support.supervisor import Supervisord, SupervisorManager

pytestmark = pytest.mark.integration

#: A one-major hop: what this module tests is the runtime or the installer, not a release.
TARGET = PREVIOUS_VERSION

# A name of its own: no lock or backup of another module's hub can meet it.
HUB = "hub-under-supervisord"
NEW_REVISION = HEADS[TARGET]


@dataclass
class SupervisedLab(Lab):
    supervisord: Supervisord
    program: str
    venv: Path

    def runtime_entry(self) -> dict:
        """The `runtime:` section of the lab's fleet file, as written."""
        return yaml.safe_load(self.fleet.read_text())["hubs"][0]["runtime"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, prefect_api: str,
        supervisor_manager: SupervisorManager) -> Iterator[SupervisedLab]:
    """A seeded 4.1.6 hub on a fresh MariaDB database, a supervisord program."""
    require_service("mysql")
    root = tmp_path_factory.mktemp(HUB)
    with server_database("mysql") as database:
        # The hub's venv needs the driver its URL names (pymysql).
        venv = jupyterhub_venv(OLD_VERSION, database_for(database.url()).driver_packages)
        with open_lab(root, HUB, venv, endpoint_url=s3_server.endpoint_url,
                      prefect_api=prefect_api, db_url=database.url(),
                      manager=supervisor_manager, to_version=TARGET,
                      ready=False) as lab:  # a refusal must leave no new install
            yield SupervisedLab(**vars(lab), supervisord=supervisor_manager.supervisord,
                                program=supervisor_manager.program(lab.sandbox), venv=venv)


def assert_supervised(lab: SupervisedLab, version: str) -> int:
    """The program is RUNNING; its pid, supervisord's child, is the one hub of this config
    and answers on the hub's ports (its own, and the public one through its proxy); the hub
    reports `version`. Returns the pid."""
    pid = lab.supervisord.running_pid(lab.program)
    assert parent_pid(pid) == lab.supervisord.process.pid
    hubs = [p for p in _pids() if str(lab.sandbox.config_file) in (procs.cmdline(p) or "")
            and procs.alive(p)]
    assert hubs == [pid], [procs.cmdline(p) for p in hubs]
    assert listening_pids(lab.sandbox.hub_port) == [pid]
    [proxy] = listening_pids(lab.sandbox.port)
    assert parent_pid(proxy) == pid
    assert lab.runtime.status().pid == pid
    with lab.api() as api:
        assert api.version() == version
    return pid


def _pids() -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()]


def test_a_status_command_that_cannot_run_is_refused_before_any_downtime(
    lab: SupervisedLab,
) -> None:
    before = baseline(lab)
    pid = assert_supervised(lab, OLD_VERSION)
    missing = lab.root / "no-such-dir" / "hub-status"
    entry = lab.sandbox.fleet_entry(TARGET) | {
        "runtime": lab.runtime_entry() | {"status": [str(missing), lab.program]}}
    fleet = write_fleet(lab.root / "fleet-broken-status.yaml", lab.storage, [entry])

    done = lab.hubshift("upgrade", "--json", fleet=fleet)
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    result = json.loads(done.stdout)
    assert result["status"] == "refused"
    assert "runtime.status" in result["error"]
    assert f"`{missing} {lab.program}`" in result["error"]  # the command, as a shell spells it

    # Untouched: the same supervised process on the same version, install and rows.
    assert assert_supervised(lab, OLD_VERSION) == pid
    assert lab.sandbox.venv_link.resolve() == lab.venv.resolve()
    assert not (lab.sandbox.workdir / f"venv-{TARGET}").exists()
    assert differences(before, lab.db().digest(), ignore_columns=VOLATILE_COLUMNS) == []
    assert lab.backups() == []
    assert not lab.record_exists()


@pytest.mark.parametrize("fault", [
    "migrate:after",   # upgrade-db ran (the schema is 5.x), then failed: half-way
    "start:raise",     # the new hub's start failed: the old one must come back under supervisord
])
def test_a_fault_after_stop_brings_the_old_program_back(lab: SupervisedLab, fault: str) -> None:
    before = baseline(lab)
    pid_before = assert_supervised(lab, OLD_VERSION)

    upgrade_rolled_back(lab, fault)

    assert_back_as_before(lab, before, lab.venv)
    assert set(lab.db().digest()) == set(before)  # no table of 5.x left behind
    assert assert_supervised(lab, OLD_VERSION) != pid_before  # stopped and started again


def test_upgrade_restarts_the_program_on_the_new_release_with_every_row(
    lab: SupervisedLab,
) -> None:
    with lab.api() as api:
        users_before = sorted(u["name"] for u in api.users())
        groups_before = {g["name"]: sorted(g["users"]) for g in api.groups()}
    # Taken after the listing: a hub adds a user's spawner row when it first lists the user.
    before = baseline(lab)

    done = lab.hubshift("upgrade", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "upgraded"
    assert (result["from_version"], result["to_version"]) == (OLD_VERSION, TARGET)
    assert lab.sandbox.venv_link.resolve() == lab.sandbox.workdir / f"venv-{TARGET}"

    assert lab.db().revision() == NEW_REVISION
    assert differences(before, lab.db().digest(), ignore_columns=VOLATILE_COLUMNS) == []
    with lab.api() as api:
        assert_everyone_kept(api, TARGET, (users_before, groups_before), lab.seeded.tokens)
    assert_supervised(lab, TARGET)
