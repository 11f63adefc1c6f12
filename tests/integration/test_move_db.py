"""`hubshift move-db`: real 4.1.6 and 6.1.1 hubs on SQLite, seeded with users, groups, a
service (with its role) and tokens, moved to PostgreSQL and to MariaDB in one window.

One hub per release goes through this module in order: the refusals (exit 2, the hub never
stopped), then the faults at copy and at verify (rolled back to SQLite, its file byte for
byte as it was, the target empty again), then a move to each engine (after each, the hub is
put back on its SQLite file by hand, which a move never wrote), and last, for 4.1.6, a move
to PostgreSQL followed by `hubshift upgrade` of the moved hub.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from pydantic import SecretStr
from sqlalchemy import inspect

from hubshift.backends.databases import database_for
from hubshift.backends.databases.sqlalchemy_common import connect
from hubshift.backends.databases.urls import parse_server_url
from hubshift.backends.hubapi import HubAPI, wait_healthy
from hubshift.integrity.checksum import sha256_file
from hubshift.integrity.digest import KEPT_TABLES, VOLATILE_COLUMNS, differences
from hubshift_lab.s3server import S3Server
from hubshift_lab.sandbox import free_port
from tests.support.databases import (
    ServerDatabase,
    require_service,
    server_database,
)
from tests.support.fleet import write_fleet
from tests.support.hubs import NEW_VERSION, OLD_VERSION, install_ready, jupyterhub_venv
from tests.support.lab import Lab, open_lab, prefect_records
from tests.support.systemd import SystemdManager

pytestmark = pytest.mark.integration

VARIABLE = "JUPYTERHUB_DB_URL"
#: Every driver a moved hub may need: one venv per release serves both engines.
DRIVERS = ("psycopg2-binary", "psycopg[binary]", "pymysql")


@dataclass
class MoveLab(Lab):
    version: str
    sqlite_file: Path

    def back_on_sqlite(self) -> None:
        """Put the hub back on its SQLite file as an operator would undo a move by hand."""
        self.runtime.stop()
        self.runtime.unset_env(VARIABLE)
        self.runtime.start()
        with self.api() as api:
            wait_healthy(api, 90, version=self.version)

    def move(self, url: str, *extra: str, fault: str | None = None,
             fleet: Path | None = None):
        """`hubshift move-db --to-url '${VAR}'`, the URL (and its password) only in the
        environment, as the README says to give it."""
        return self.hubshift("move-db", "--to-url", "${MOVE_TARGET_URL}", "--json", *extra,
                             fleet=fleet, fault=fault, env_changes={"MOVE_TARGET_URL": url})


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        s3_server: S3Server, prefect_api: str) -> Iterator[MoveLab]:
    version = request.param  # each test says which releases (`_ONCE`, `_EVERY_RELEASE`)
    hub = f"move-{version.replace('.', '-')}"
    root = tmp_path_factory.mktemp(hub)
    with open_lab(root, hub, jupyterhub_venv(version, DRIVERS), endpoint_url=s3_server.endpoint_url,
                  prefect_api=prefect_api, from_version=version, to_version=NEW_VERSION,
                  ready=False, db_url_env=VARIABLE) as opened:
        yield MoveLab(**vars(opened), version=version,
                      sqlite_file=opened.sandbox.workdir / "jupyterhub.sqlite")


@pytest.fixture
def target(request: pytest.FixtureRequest) -> Iterator[ServerDatabase]:
    engine = getattr(request, "param", "postgres")
    require_service(engine)
    with server_database(engine) as database:
        yield database


def _tables(db: ServerDatabase) -> list[str]:
    with connect(parse_server_url(db.url())) as conn:
        return sorted(inspect(conn).get_table_names())


def _secrets(lab: MoveLab, db: ServerDatabase) -> list[str]:
    return [db.password, quote(db.password, safe=""), lab.sandbox.token,
            *lab.seeded.tokens.values()]


def _assert_on_sqlite(lab: MoveLab, pid: int | None = None) -> None:
    with lab.api() as api:
        assert api.version() == lab.version
        for user, token in lab.seeded.tokens.items():
            assert api.whoami(token)["name"] == user
    if pid is not None:
        assert lab.runtime.status().pid == pid
    assert lab.runtime.environment().env.get(VARIABLE) is None


#: The lab of the old release only, for what does not depend on the release.
_ONCE = pytest.mark.parametrize("lab", [OLD_VERSION], indirect=True)
#: The lab of each release.
_EVERY_RELEASE = pytest.mark.parametrize("lab", [OLD_VERSION, NEW_VERSION], indirect=True)


@_ONCE
def test_refusals_exit_2_before_the_hub_is_stopped(lab: MoveLab, target: ServerDatabase,
                                                   tmp_path: Path) -> None:
    pid = lab.runtime.status().pid
    # A target that holds a table.
    with connect(parse_server_url(target.url())) as conn:
        conn.exec_driver_sql("CREATE TABLE somebody_elses (id INTEGER PRIMARY KEY)")
        conn.commit()
    done = lab.move(target.url())
    assert done.returncode == 2, done.stderr[-2000:]
    assert "is not empty" in done.stderr and "--replace" in done.stderr
    # An unreachable target.
    done = lab.move(target.url(port=free_port()))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "unreachable" in done.stderr
    # A config that hard-codes its db_url.
    hard = tmp_path / "hardcoded_config.py"
    hard.write_text(lab.sandbox.config_file.read_text().replace(
        f"os.environ.get({VARIABLE!r}) or ", ""))
    entry = lab.entry | {"config_file": str(hard)}
    fleet = write_fleet(tmp_path / "fleet.yaml", lab.storage, [entry])
    done = lab.move(target.url(database="elsewhere"), fleet=fleet)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "hard-codes c.JupyterHub.db_url" in done.stderr
    assert "os.environ" in done.stderr
    for text in (done.stdout, done.stderr):
        for secret in _secrets(lab, target):
            assert secret not in text
    _assert_on_sqlite(lab, pid)  # the same process: never stopped
    assert _tables(target) == ["somebody_elses"]


@_ONCE
@pytest.mark.parametrize(("target", "fault"), [("postgres", "move-copy:after"),
                                               ("mysql", "move-verify:raise")],
                         indirect=["target"])
def test_a_fault_in_the_window_rolls_back_to_the_untouched_sqlite_file(
        lab: MoveLab, target: ServerDatabase, fault: str) -> None:
    before = database_for(lab.sandbox.db_url).digest()
    done = lab.move(target.url(), fault=fault)
    assert done.returncode == 1, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("rolled-back", fault.split(":")[0])
    # The SQLite file was not written between the stop and the rollback's start.
    assert result["source_sha256"] and result["source_sha256"] == result["source_sha256_after"]
    assert _tables(target) == []  # as found
    _assert_on_sqlite(lab)
    # (spawners: a hub adds a user's row when it first lists the user, as the move does)
    lost = differences(before, database_for(lab.sandbox.db_url).digest(), tables=KEPT_TABLES,
                       ignore_columns=VOLATILE_COLUMNS)
    assert lost == [], lost
    for secret in _secrets(lab, target):
        assert secret not in done.stdout + done.stderr


@_EVERY_RELEASE
@pytest.mark.parametrize("target", ["postgres", "mysql"], indirect=True)
def test_move_keeps_users_groups_service_and_tokens(lab: MoveLab,
                                                    target: ServerDatabase) -> None:
    _moved(lab, target)
    lab.back_on_sqlite()


def _moved(lab: MoveLab, target: ServerDatabase) -> dict:
    with lab.api() as api:
        users = sorted(u["name"] for u in api.users())
        groups = {g["name"]: sorted(g["users"]) for g in api.groups()}
    done = lab.move(target.url())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "moved"
    assert result["from_version"] == result["to_version"] == lab.version
    assert result["db_url_variable"] == VARIABLE
    # No secret in the output, nor in the flow run's logs and artifacts on the server.
    _, state, records = prefect_records(result["flow_run_id"])
    assert state == "Completed"
    for secret in _secrets(lab, target):
        assert secret not in done.stdout + done.stderr + "\n".join(records)
    # The SQLite file was never written: as it was when the hub stopped, and still now.
    assert result["source_sha256"] == result["source_sha256_after"] == sha256_file(
        lab.sqlite_file)

    # The copy holds the rows of the SQLite file (= the backup), same alembic revision.
    moved = database_for(target.url())
    sqlite = database_for(lab.sandbox.db_url)
    assert moved.revision() == sqlite.revision()
    lost = differences(sqlite.digest(), moved.digest(),
                       ignore_columns={*VOLATILE_COLUMNS, *result["lossy_columns"]})
    assert lost == [], lost
    if target.engine == "postgres":
        assert result["lossy_columns"] == []
    assert moved.digest()["services"].rows == 1

    # The hub answers from the new database: same people, old tokens work, and what it
    # writes now lands there (the sequences were reset: a new row gets a new id).
    with HubAPI(lab.sandbox.api_url, lab.sandbox.token) as api:
        assert api.version() == lab.version
        assert sorted(u["name"] for u in api.users()) == users
        assert {g["name"]: sorted(g["users"]) for g in api.groups()} == groups
        for user, token in lab.seeded.tokens.items():
            assert api.whoami(token)["name"] == user
        api.request("POST", "/users/erin", {})
        made = api.request("POST", "/users/erin/tokens", {"note": "after the move"})
        assert api.whoami(made["token"])["name"] == "erin"
    assert "erin" in {r["name"] for r in moved.rows()["users"].records()}
    assert "erin" not in {r["name"] for r in sqlite.rows()["users"].records()}
    return result


@_ONCE  # 6.1.1 is the newest release: nothing to upgrade it to
@pytest.mark.parametrize("target", ["postgres"], indirect=True)
def test_a_moved_hub_upgrades(lab: MoveLab, target: ServerDatabase) -> None:
    _moved(lab, target)
    # With the fleet file's old db_url, an upgrade would back up the old database: refused.
    done = lab.hubshift("upgrade", "--json")
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    assert f"takes its database from ${VARIABLE}" in json.loads(done.stdout)["error"]
    # The fleet file's db_url follows the move, as the README says.
    entry = lab.entry | {"db_url": target.url(), "target_version": NEW_VERSION}
    fleet = write_fleet(lab.root / "fleet-moved.yaml", lab.storage, [entry])
    install_ready(lab.runtime.hub.model_copy(update={"db_url": SecretStr(target.url())}),
                  NEW_VERSION)
    done = lab.hubshift("upgrade", "--json", fleet=fleet)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert json.loads(done.stdout)["status"] == "upgraded"
    with lab.api() as api:
        assert api.version() == NEW_VERSION
        for user, token in lab.seeded.tokens.items():
            assert api.whoami(token)["name"] == user
    assert database_for(target.url()).revision() != database_for(lab.sandbox.db_url).revision()


@pytest.fixture(scope="module")
def systemd_lab(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
                prefect_api: str, systemd_manager: SystemdManager) -> Iterator[MoveLab]:
    root = tmp_path_factory.mktemp("move-systemd")
    with open_lab(root, "move-unit", jupyterhub_venv(OLD_VERSION, DRIVERS),
                  endpoint_url=s3_server.endpoint_url, prefect_api=prefect_api,
                  manager=systemd_manager, ready=False, db_url_env=VARIABLE) as opened:
        yield MoveLab(**vars(opened), version=OLD_VERSION,
                      sqlite_file=opened.sandbox.workdir / "jupyterhub.sqlite")


def test_a_systemd_hub_moves_through_a_drop_in_and_back(systemd_lab: MoveLab,
                                                        target: ServerDatabase) -> None:
    lab = systemd_lab
    _moved(lab, target)
    # The password is in a private EnvironmentFile, not in the unit's Environment=.
    shown = lab.runtime._show("Environment", "DropInPaths", step="test")  # type: ignore[attr-defined]
    assert target.password not in str(shown["Environment"])
    [conf] = [p for p in " ".join(shown["DropInPaths"]).split() if p.endswith("hubshift-env.conf")]
    env_file = Path(conf).with_name("hubshift-env")
    assert env_file.stat().st_mode & 0o777 == 0o600
    lab.back_on_sqlite()
    assert not Path(conf).exists() and not env_file.exists()
