"""The `Database` contract, run against every engine: SQLite, PostgreSQL and MariaDB.

Each test gets a fresh database holding a small JupyterHub-shaped schema written through
SQLAlchemy, as JupyterHub writes it (so SQLite stores its booleans and datetimes as JupyterHub's
SQLite files do). Server databases belong to a user with a password full of characters that
need escaping, so every place a password could leak is exercised.
"""

from __future__ import annotations

import datetime as dt
import gzip
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    Unicode,
    create_engine,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from hubshift.backends.databases import Database, database_for
from hubshift.backends.databases import clienttools as clienttools_module
from hubshift.backends.databases.mysql import MySQLDatabase
from hubshift.backends.databases.postgres import PostgresDatabase
from hubshift.backends.databases.urls import normalise, parse_server_url
from hubshift.errors import DatabaseError
from hubshift.integrity.digest import differences
from hubshift.system.execute import Result
from hubshift_lab.sandbox import free_port
from tests.support.databases import (
    ADMIN_URLS,
    ServerDatabase,
    create_server_database,
    drop_server_database,
    fresh_database,  # noqa: F401 - a fixture
    require_service,
    wrong_credentials,
)

pytestmark = pytest.mark.integration

ENGINES = ["sqlite", "postgres", "mysql"]
REVISION = "0eee8c825d24"

metadata = MetaData()
users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Unicode(255), unique=True),
    Column("admin", Boolean(create_constraint=False), default=False),
    Column("created", DateTime),
    Column("state", Text),  # JupyterHub's JSONDict: JSON as text
    Column("encrypted_auth_state", LargeBinary),
)
groups = Table(
    "groups", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Unicode(255), unique=True),
)
user_group_map = Table(
    "user_group_map", metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
)
alembic_version = Table("alembic_version", metadata,
                        Column("version_num", Unicode(32), primary_key=True))

# MySQL's DATETIME keeps whole seconds (JupyterHub creates it without fractions), so the
# rows that must digest alike on every engine have none.
USERS = [
    {"id": 1, "name": "admin", "admin": True, "created": dt.datetime(2026, 1, 1, 12, 0, 1),
     "state": '{"a": 1}', "encrypted_auth_state": None},
    {"id": 2, "name": "alice", "admin": False, "created": dt.datetime(2026, 1, 2, 8, 30),
     "state": None, "encrypted_auth_state": b"\x00\x01\xfe"},
    {"id": 3, "name": "zoë", "admin": False, "created": None, "state": "{}",
     "encrypted_auth_state": None},
]
GROUPS = [{"id": 1, "name": "physics"}]
MEMBERS = [{"user_id": 1, "group_id": 1}, {"user_id": 2, "group_id": 1}]


def _engine(url: str):  # noqa: ANN202
    sa_url = url if url.startswith("sqlite") else normalise(url)
    return create_engine(sa_url, poolclass=NullPool)


def populate(url: str, *, revision: str | None = REVISION) -> None:
    """Create the schema and the rows of this module in the database at `url`."""
    engine = _engine(url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(users.insert(), USERS)
        conn.execute(groups.insert(), GROUPS)
        conn.execute(user_group_map.insert(), MEMBERS)
        if revision:
            conn.execute(alembic_version.insert(), [{"version_num": revision}])
    engine.dispose()


def execute(url: str, *statements: Any) -> None:
    engine = _engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement) if isinstance(statement, str) else statement)
    engine.dispose()


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    if request.param != "sqlite":
        require_service(request.param)
    return request.param


@pytest.fixture
def hub_db(engine: str, fresh_database) -> Iterator[Database]:  # noqa: F811
    """The populated database of a hub, as `database_for` gives it."""
    url = fresh_database(engine)
    populate(url)
    yield database_for(url)


def _with(url: str, **parts: str) -> str:
    """`url` with another database or password, in the same spelling."""
    return make_url(url).set(**parts).render_as_string(hide_password=False)


def _password(db: Database) -> str | None:
    return parse_server_url(db.url).password if db.engine != "sqlite" else None


# -- the contract -----------------------------------------------------------------------------


def test_the_url_picks_the_backend(engine: str, hub_db: Database) -> None:
    expected = {"sqlite": "sqlite", "postgres": "postgres", "mysql": "mysql"}[engine]
    assert hub_db.engine == expected
    assert hub_db.exists()
    assert hub_db.preflight_problems() == []
    assert hub_db.revision() == REVISION
    assert hub_db.size_bytes() > 0  # what the disk-space check plans for


def test_dump_restores_into_a_fresh_empty_database_with_the_same_digest(
    hub_db: Database, engine: str, fresh_database, tmp_path: Path  # noqa: F811
) -> None:
    dump = hub_db.dump(tmp_path / "backup" / hub_db.dump_name)
    assert dump.name == hub_db.dump_name and dump.stat().st_size > 0
    assert not dump.with_name(dump.name + ".tmp").exists()
    if engine == "mysql":
        with gzip.open(dump) as file:  # compressed, and a complete mariadb-dump
            assert b"-- Dump completed" in file.read()
    elif engine == "postgres":
        assert dump.read_bytes()[:5] == b"PGDMP"  # pg_dump's custom format

    target = database_for(fresh_database(engine))
    if engine != "sqlite":
        assert target.exists() and target.digest() == {}
    target.restore(dump)
    assert target.revision() == hub_db.revision() == REVISION
    assert target.digest() == hub_db.digest()
    target.restore(dump)  # safe to call twice
    assert target.digest() == hub_db.digest()


def test_the_same_rows_digest_alike_on_every_engine(hub_db: Database, tmp_path: Path) -> None:
    reference = tmp_path / "reference.sqlite"
    populate(f"sqlite:///{reference}")
    assert hub_db.digest() == database_for(f"sqlite:///{reference}").digest()


def test_restore_puts_back_rows_revision_and_drops_tables_the_dump_does_not_know(
    hub_db: Database, tmp_path: Path
) -> None:
    before = hub_db.digest()
    dump = hub_db.dump(tmp_path / hub_db.dump_name)
    # What a migrated, started JupyterHub 5 leaves: new rows, a new revision, a new table
    # whose foreign key points at `users`.
    extra = MetaData()
    Table("shares", extra, Column("id", Integer, primary_key=True),
          Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE")))
    extra.reflect(_engine(hub_db.url), only=["users"])
    extra.create_all(_engine(hub_db.url))
    execute(hub_db.url, users.insert().values(id=4, name="mallory"),
            "UPDATE alembic_version SET version_num = '4621fec11365'",
            "INSERT INTO shares (id, user_id) VALUES (1, 4)")
    assert hub_db.revision() == "4621fec11365" and "shares" in hub_db.digest()

    hub_db.restore(dump)
    assert hub_db.revision() == REVISION
    assert hub_db.digest() == before


def test_a_damaged_dump_is_refused_and_the_database_left_as_it_was(
    hub_db: Database, tmp_path: Path
) -> None:
    dump = hub_db.dump(tmp_path / hub_db.dump_name)
    execute(hub_db.url, users.insert().values(id=9, name="after-the-backup"))
    current = hub_db.digest()
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) // 2])  # cut short, as by a failed download
    with pytest.raises(DatabaseError):
        hub_db.restore(dump)
    assert hub_db.digest() == current
    assert hub_db.revision() == REVISION


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_postgres_restore_failing_half_way_changes_nothing(
    hub_db: Database, tmp_path: Path
) -> None:
    # The dump grants a role that is gone by restore time: the GRANT, which comes after
    # every table and row, fails, and the whole transaction with it.
    role = f"{parse_server_url(hub_db.url).user}_reader"
    admin = create_engine(ADMIN_URLS["postgres"], poolclass=NullPool,
                          isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE ROLE {role}"))
    try:
        execute(hub_db.url, f"GRANT SELECT ON users TO {role}")
        dump = hub_db.dump(tmp_path / hub_db.dump_name)
        execute(hub_db.url, f"REVOKE SELECT ON users FROM {role}",
                users.insert().values(id=9, name="after-the-backup"))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP ROLE IF EXISTS {role}"))
        admin.dispose()
    current = hub_db.digest()
    with pytest.raises(DatabaseError, match="nothing was changed") as caught:
        hub_db.restore(dump)
    assert f'role "{role}" does not exist' in str(caught.value)
    assert hub_db.digest() == current


@pytest.mark.parametrize("engine", ["mysql"], indirect=True)
def test_mysql_restore_failing_half_way_changes_nothing(
    hub_db: Database, tmp_path: Path
) -> None:
    dump = hub_db.dump(tmp_path / hub_db.dump_name)
    execute(hub_db.url, users.insert().values(id=9, name="after-the-backup"))
    current = hub_db.digest()
    # A complete-looking dump that fails after its first tables were loaded.
    sql = gzip.decompress(dump.read_bytes())
    cut = sql.index(b"CREATE TABLE `users`")
    broken = sql[:cut] + b"INSERT INTO no_such_table VALUES (1);\n" + sql[cut:]
    dump.write_bytes(gzip.compress(broken))
    with pytest.raises(DatabaseError, match="unchanged"):
        hub_db.restore(dump)
    assert hub_db.digest() == current
    assert isinstance(hub_db, MySQLDatabase)
    assert _scratch_databases(hub_db) == []


def _scratch_databases(db: MySQLDatabase) -> list[str]:
    admin = create_engine(ADMIN_URLS["mysql"], poolclass=NullPool)
    with admin.connect() as conn:
        names = conn.execute(text("SELECT schema_name FROM information_schema.schemata "
                                  "WHERE schema_name LIKE :p"),
                             {"p": db.server.database + "\\_\\_hubshift%"}).scalars().all()
    admin.dispose()
    return list(names)


def test_exists_is_false_for_a_missing_database(hub_db: Database, tmp_path: Path) -> None:
    if hub_db.engine == "sqlite":
        missing = database_for(f"sqlite:///{tmp_path / 'nothing-here.sqlite'}")
    else:
        missing = database_for(_with(hub_db.url, database="no_such_db_here"))
    assert missing.exists() is False
    problems = missing.preflight_problems()
    assert problems
    password = _password(hub_db)
    if password:
        assert not any(password in p for p in problems)
        assert "no_such_db_here" in problems[0]


@pytest.mark.parametrize("engine", ["postgres", "mysql"], indirect=True)  # SQLite: no password
def test_no_password_in_argv_errors_or_leftover_files(
    hub_db: Database, fresh_database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    password = _password(hub_db)
    assert password, "the server test databases are made with a password"
    parsed = parse_server_url(hub_db.url)
    server_db = ServerDatabase(hub_db.engine, parsed.database, parsed.user or "", password,
                               parsed.host or "", parsed.port)
    calls: list[tuple[tuple[str, ...], dict[str, str]]] = []
    real_run = clienttools_module.run

    def recording_run(argv, **kwargs) -> Result:  # noqa: ANN001
        calls.append((tuple(str(a) for a in argv), dict(kwargs.get("env") or {})))
        # Credential files exist while the command runs, readable by us only.
        for arg in (*argv, *(kwargs.get("env") or {}).values()):
            path = Path(str(arg).split("=", 1)[-1])
            if path.name in ("pgpass", "client.cnf") and path.exists():
                assert stat.S_IMODE(path.stat().st_mode) == 0o600
                assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        return real_run(argv, **kwargs)

    monkeypatch.setattr(clienttools_module, "run", recording_run)
    monkeypatch.setenv("PGPASSWORD", "not-the-password")  # must not win over the URL's
    dump = hub_db.dump(tmp_path / hub_db.dump_name)
    target = database_for(fresh_database(hub_db.engine))
    target.restore(dump)
    assert target.digest() == hub_db.digest()

    assert calls
    used_files = []
    for argv, env in calls:
        assert not any(password in a for a in argv), argv
        if hub_db.engine == "postgres":
            assert "PGPASSWORD" not in env
        used_files += [Path(v) for k, v in env.items() if k == "PGPASSFILE"]
        used_files += [Path(a.split("=", 1)[1]) for a in argv
                       if a.startswith("--defaults-extra-file=")]
    assert used_files and not any(p.exists() for p in used_files)

    # Wrong credentials: refused with where and who, never with either password.
    wrong_secret = "Wrong-Secret-4711"
    wrong = database_for(wrong_credentials(server_db, wrong_secret))
    assert isinstance(wrong, (PostgresDatabase, MySQLDatabase))
    problems = wrong.preflight_problems()
    assert problems and f"{wrong.server.host}:{wrong.server.port}" in problems[-1]
    assert wrong.server.user and f"user {wrong.server.user!r}" in problems[-1]
    with pytest.raises(DatabaseError) as caught:
        wrong.digest()
    with pytest.raises(DatabaseError) as dumped:
        wrong.dump(tmp_path / "wrong" / wrong.dump_name)
    for text_ in (*problems, str(caught.value), str(dumped.value), repr(wrong.server)):
        assert password not in text_ and wrong_secret not in text_, text_


@pytest.mark.parametrize("engine", ["postgres", "mysql"], indirect=True)
def test_preflight_names_missing_tools_and_the_package(
    hub_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    problems = hub_db.preflight_problems()
    package = "postgresql-client" if hub_db.engine == "postgres" else "mariadb-client"
    assert any("not found on PATH" in p and package in p for p in problems), problems
    with pytest.raises(DatabaseError, match="not found on PATH"):
        hub_db.dump(tmp_path / hub_db.dump_name)


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_preflight_refuses_a_pg_dump_older_than_the_server(
    hub_db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert isinstance(hub_db, PostgresDatabase)
    bin_dir = tmp_path / "old-bin"
    bin_dir.mkdir()
    for tool in ("pg_dump", "pg_restore", "psql"):
        fake = bin_dir / tool
        fake.write_text(f"#!/bin/sh\necho '{tool} (PostgreSQL) 9.6.24'\n")
        fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    problems = hub_db.preflight_problems()
    server = hub_db.server_major()
    assert any("version 9, older than the PostgreSQL" in p and f"{server}" in p
               for p in problems), problems


def test_server_fixtures_are_dropped_afterwards() -> None:
    require_service("postgres")
    db = create_server_database("postgres")
    drop_server_database(db)
    assert database_for(db.url()).exists() is False
    drop_server_database(db)  # safe twice


@pytest.mark.parametrize("engine", ["mysql"], indirect=True)
def test_mysql_restore_without_scratch_privileges_falls_back_to_in_place(
    hub_db: Database, tmp_path: Path
) -> None:
    before = hub_db.digest()
    dump = hub_db.dump(tmp_path / hub_db.dump_name)
    execute(hub_db.url, users.insert().values(id=9, name="after-the-backup"))
    server = parse_server_url(hub_db.url)
    pattern = server.database.replace("_", "\\_") + "%"
    admin = create_engine(ADMIN_URLS["mysql"], poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        # Only the hub's own database: no scratch databases may be created.
        conn.execute(text(f"REVOKE ALL PRIVILEGES ON `{pattern}`.* FROM '{server.user}'@'%'"))
        conn.execute(text(f"GRANT ALL PRIVILEGES ON `{server.database}`.* "
                          f"TO '{server.user}'@'%'"))
    admin.dispose()
    hub_db.restore(dump)
    assert hub_db.digest() == before and hub_db.revision() == REVISION


@pytest.mark.parametrize("required", ["1", ""])
def test_a_missing_server_skips_or_fails_when_services_are_required(
    required: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support import databases, services

    dead = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/postgres"
    monkeypatch.setitem(databases.ADMIN_URLS, "postgres", dead)
    monkeypatch.setenv(services.REQUIRE_ENV, required)
    expected = pytest.fail.Exception if required else pytest.skip.Exception
    with pytest.raises(expected, match="postgres server at 127.0.0.1"):
        require_service("postgres")


def test_values_moved_between_rows_are_a_difference_on_every_engine(hub_db: Database) -> None:
    before = hub_db.digest()
    # The admin flag moves from admin to alice: the same values, in other rows.
    execute(hub_db.url, "UPDATE users SET admin = (id = 2)")
    after = hub_db.digest()
    assert before["users"].columns == after["users"].columns  # alone, blind to the move
    assert differences(before, after) == ["table users: values of column admin moved "
                                          "between rows"]


def test_a_committed_write_moves_the_change_marker_on_every_engine(hub_db: Database) -> None:
    # The window reuses the backup taken before the stop only while this token stands still:
    # a write it missed would be a row lost by a rollback.
    before = hub_db.change_marker()
    assert before is not None, f"{hub_db.engine} gives no change marker"
    hub_db.digest()  # reading is not writing (a quiet SQLite file keeps its token)
    if hub_db.engine == "sqlite":
        assert hub_db.change_marker() == before
    execute(hub_db.url, "UPDATE users SET admin = (id = 2)")
    assert hub_db.change_marker() != before
