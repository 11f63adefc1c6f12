"""What a restore would discard, read at the database layer on every engine: the backup is
loaded into a scratch database (a temporary SQLite file; on PostgreSQL and MariaDB a database
beside the hub's, dropped afterwards) and compared by primary key with the live one."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hubshift.backends.databases import database_for
from hubshift.backends.databases.sqlalchemy_common import ServerBackend
from hubshift.backends.databases.urls import parse_server_url
from hubshift.backup.discards import DiscardReport, compare
from hubshift.errors import DatabaseError
from tests.integration.test_databases_contract import ENGINES, execute, populate
from tests.support.databases import (
    ADMIN_URLS,
    fresh_database,  # noqa: F401 - a fixture
    require_service,
)

pytestmark = pytest.mark.integration


def _admin(engine: str, statement: str) -> None:
    admin = create_engine(ADMIN_URLS[engine], poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


@pytest.mark.parametrize("engine", ENGINES)
def test_the_report_lists_rows_written_after_the_backup(engine: str, fresh_database,  # noqa: F811
                                                        tmp_path: Path) -> None:
    if engine != "sqlite":
        require_service(engine)
    url = fresh_database(engine)
    populate(url)
    if engine == "postgres":  # a scratch database needs CREATEDB (the hint says so)
        _admin(engine, f"ALTER ROLE {parse_server_url(url).user} CREATEDB")
    db = database_for(url)
    dump = db.dump(tmp_path / db.dump_name)
    execute(url, "INSERT INTO users (id, name, admin) VALUES (4, 'newbie', false)",
            "INSERT INTO groups (id, name) VALUES (2, 'chemistry')",
            "INSERT INTO user_group_map (user_id, group_id) VALUES (4, 2)",
            "UPDATE users SET name = 'alice2' WHERE id = 2")  # changed, not discarded

    with db.scratch(dump) as saved:
        report = DiscardReport(hub="physics", backup_id="B",
                               tables=compare(db.rows(), saved.rows()))
    assert report.counts() == {"users": 1, "groups": 1, "user_group_map": 1}
    assert report.lines()[1:] == ["  users: 1: newbie", "  groups: 1: chemistry",
                                  "  user_group_map: 1"]
    if isinstance(db, ServerBackend):  # the scratch database is gone
        assert not db.sibling(db.scratch_name()).exists()
    names = {r["name"] for r in db.rows()["users"].records()}
    assert {"newbie", "alice2"} <= names  # the hub's own database untouched


def test_a_postgres_user_that_may_not_create_databases_gets_a_hint_not_a_leak(
        fresh_database, tmp_path: Path) -> None:  # noqa: F811
    require_service("postgres")
    url = fresh_database("postgres")
    populate(url)
    db = database_for(url)
    dump = db.dump(tmp_path / db.dump_name)
    with pytest.raises(DatabaseError) as raised, db.scratch(dump):
        pass
    password = parse_server_url(url).password
    assert password and password not in str(raised.value)
    assert "CREATEDB" in str(raised.value) and "__hubshift_cmp" in str(raised.value)
