"""The rehearsal on PostgreSQL and MariaDB (issue 14): a 5.5.4 hub whose operator added the
`display_name` column to `spawners` (6.1.1's last migration adds it again) is refused by
`hubshift upgrade --to 6.1.1` in the rehearsal on a copy of its database: exit 2, naming the
revision and the duplicate column, the hub keeping its pid, version, install and rows, and
no scratch database left on the server. Without the column, the same hub rehearses. A
PostgreSQL user that may not create databases gets a warning naming the grant, and no
rehearsal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hubshift.backends.databases import database_for
from hubshift.backends.hubapi import wait_healthy
from hubshift.integrity.digest import VOLATILE_COLUMNS, differences
from hubshift.system import paths
from hubshift_lab.s3server import S3Server
from tests.support.databases import (
    ADMIN_URLS,
    SERVER_ENGINES,
    require_service,
    server_database,
)
from tests.support.fleet import write_fleet
from tests.support.hubs import HEADS, NEW_VERSION, PREVIOUS_VERSION, jupyterhub_venv
from tests.support.lab import Lab, open_lab, refused_in_rehearsal

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=SERVER_ENGINES)
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        s3_server: S3Server, prefect_api: str) -> Iterator[Lab]:
    engine = request.param
    require_service(engine)
    hub = f"rehearsed-on-{engine}"
    with server_database(engine) as database:
        venv = jupyterhub_venv(PREVIOUS_VERSION, database_for(database.url()).driver_packages)
        with open_lab(tmp_path_factory.mktemp(hub), hub, venv,
                      endpoint_url=s3_server.endpoint_url, prefect_api=prefect_api,
                      db_url=database.url(), from_version=PREVIOUS_VERSION) as lab:
            write_fleet(lab.fleet, lab.storage, [{**lab.entry, "rehearse": True}],
                        [lab.inbox.url])
            yield lab


def _scratch_databases(lab: Lab) -> list[str]:
    """Every database on the server named like a rehearsal's copy of this hub's."""
    engine = create_engine(ADMIN_URLS[database_for(lab.sandbox.db_url).engine],
                           poolclass=NullPool)
    sql = ("SELECT datname FROM pg_database" if engine.dialect.name == "postgresql"
           else "SELECT schema_name FROM information_schema.schemata")
    with engine.connect() as conn:
        names = [str(n) for n in conn.execute(text(sql)).scalars()]
    engine.dispose()
    return [n for n in names if "__hubshift_rehearse_" in n]


def _alter(lab: Lab, sql: str) -> None:
    """Change the live database's schema as its operator would, with the hub's own user,
    the hub stopped meanwhile: a running hub's open transaction would hold the ALTER back
    until its next commit (minutes: MySQL waits on the table's metadata lock)."""
    lab.runtime.stop()
    try:
        engine = create_engine(database_for(lab.sandbox.db_url).server.sqlalchemy_url(),
                               poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text(sql))
        engine.dispose()
    finally:
        lab.runtime.start()
        with lab.api() as api:
            wait_healthy(api, 90, version=PREVIOUS_VERSION)


def test_a_user_who_may_not_create_the_copy_is_told_the_grant_and_not_rehearsed(
        lab: Lab) -> None:
    if lab.db().engine != "postgres":
        pytest.skip("the test databases' MariaDB users hold the grant on <db>__hubshift_%")
    user = database_for(lab.sandbox.db_url).server.user
    done = lab.hubshift("rehearse", "--to", NEW_VERSION, "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rehearsal = json.loads(done.stdout)["rehearsal"]
    assert rehearsal["status"] == "skipped"
    assert f"ALTER ROLE {user} CREATEDB" in rehearsal["skipped"]
    assert any(f"ALTER ROLE {user} CREATEDB" in w for w in rehearsal["warnings"])
    assert _scratch_databases(lab) == []
    # What the rest of this module needs: the grant the warning names.
    engine = create_engine(ADMIN_URLS["postgres"], poolclass=NullPool,
                           isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"ALTER ROLE {user} CREATEDB"))
    engine.dispose()


def test_a_column_the_operator_added_is_refused_in_the_rehearsal_with_the_hub_untouched(
        lab: Lab) -> None:
    _alter(lab, "ALTER TABLE spawners ADD COLUMN display_name VARCHAR(255)")
    try:
        pid = lab.runtime.status().pid
        install = lab.sandbox.venv_link.resolve()
        before = lab.db().digest()
        done = lab.hubshift("upgrade", "--to", NEW_VERSION, "--json")
        result = refused_in_rehearsal(done, NEW_VERSION)
        error = result["error"]
        # MariaDB: "Duplicate column name 'display_name'"; PostgreSQL: DuplicateColumn.
        assert re.search(r"duplicate ?column", error, re.IGNORECASE), error[-2000:]
        assert "display_name" in error and "The live hub was not touched" in error
        password = database_for(lab.sandbox.db_url).server.password or ""
        assert password and password not in done.stdout + done.stderr
        assert "stop" not in [s["name"] for s in result["steps"]]
        assert lab.runtime.status().pid == pid
        assert lab.sandbox.venv_link.resolve() == install
        with lab.api() as api:
            assert api.version() == PREVIOUS_VERSION
        assert lab.db().revision() == HEADS[PREVIOUS_VERSION]
        assert differences(before, lab.db().digest(), ignore_columns=VOLATILE_COLUMNS) == []
        assert _scratch_databases(lab) == []
        assert list((paths.home() / "rehearse" / lab.hub).iterdir()) == []
    finally:
        _alter(lab, "ALTER TABLE spawners DROP COLUMN display_name")


def test_without_the_column_the_hub_rehearses_and_its_copy_is_dropped(lab: Lab) -> None:
    pid = lab.runtime.status().pid
    done = lab.hubshift("rehearse", "--to", NEW_VERSION, "--json")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rehearsal = json.loads(done.stdout)["rehearsal"]
    assert rehearsal["status"] == "rehearsed" and rehearsal["engine"] == lab.db().engine
    assert rehearsal["migrate_seconds"] > 0 and rehearsal["start_seconds"] > 0
    assert lab.runtime.status().pid == pid
    assert lab.db().revision() == HEADS[PREVIOUS_VERSION]
    assert _scratch_databases(lab) == []
