"""Revision and row digest of a server database, read with SQLAlchemy like SQLite's.

Rows are fetched with plain `SELECT *` and no type processing, so each driver hands over its
native values; `hubshift.integrity.digest` then gives them the form SQLite stores (booleans as 0/1,
datetimes as SQLAlchemy's SQLite text), which makes one digest comparable across engines.
Connections are never pooled: a restore must not find a session of ours holding a lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from hubshift.backends.databases.base import Database
from hubshift.backends.databases.rows import Rows, read_rows
from hubshift.backends.databases.urls import ServerURL, parse_server_url
from hubshift.errors import DatabaseError, HubshiftError, ScratchRefused
from hubshift.integrity.digest import ALEMBIC_TABLE, Digest, table_digest
from hubshift.system.redact import redact

NAMES = {"postgres": "PostgreSQL", "mysql": "MySQL/MariaDB"}
#: Suffix of the database a backup is loaded into to be read (`ServerBackend.scratch`).
SCRATCH_SUFFIX = "__hubshift_cmp"
#: Infix of a rehearsal's copies, `<db>__hubshift_rehearse_<token>`: derived from the hub's
#: database like the other scratch databases, so one grant on `<db>__hubshift_%` covers all.
REHEARSAL_INFIX = "__hubshift_rehearse_"


def driver_message(err: BaseException, server: ServerURL) -> str:
    """The useful line of a driver error, with no password in it (drivers never print one,
    but a DSN in a message would)."""
    orig = getattr(err, "orig", None) or err
    text = " ".join(str(orig).split())
    return redact(text, [server.password or ""])[:500]


@contextlib.contextmanager
def connect(server: ServerURL) -> Iterator[Connection]:
    """A connection to `server`'s database; DatabaseError saying where (never the password)."""
    engine = create_engine(server.sqlalchemy_url(), poolclass=NullPool,
                           connect_args=server.connect_args())
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as err:
            raise DatabaseError(
                f"cannot connect to {NAMES[server.engine]} database {server.database!r} at "
                f"{server.where}: {driver_message(err, server)}"
            ) from None  # the chained driver error may carry connection parameters
        try:
            yield conn
        except SQLAlchemyError as err:
            raise DatabaseError(
                f"cannot read {NAMES[server.engine]} database {server.database!r} at "
                f"{server.where}: {driver_message(err, server)}"
            ) from None
        finally:
            conn.close()
    finally:
        engine.dispose()


def can_connect(server: ServerURL) -> bool:
    """Whether `server`'s database exists and accepts our credentials. Never raises."""
    try:
        with connect(server) as conn:
            conn.exec_driver_sql("SELECT 1")
        return True
    except DatabaseError:
        return False


def tables(conn: Connection) -> list[str]:
    """The tables of the connection's default schema, sorted."""
    return sorted(inspect(conn).get_table_names())


def read_revision(conn: Connection) -> str | None:
    """The alembic revision, or None when the database has no alembic table or no row."""
    if ALEMBIC_TABLE not in tables(conn):
        return None
    row = conn.exec_driver_sql(f"SELECT version_num FROM {_quote(conn, ALEMBIC_TABLE)}").first()
    return str(row[0]) if row else None


def read_digest(conn: Connection) -> Digest:
    """Digest of every table but alembic's, from the driver's raw values (see module doc)."""
    result: Digest = {}
    inspector = inspect(conn)
    for table in tables(conn):
        if table == ALEMBIC_TABLE:
            continue
        key = inspector.get_pk_constraint(table).get("constrained_columns") or []
        rows = conn.exec_driver_sql(f"SELECT * FROM {_quote(conn, table)}")
        result[table] = table_digest(list(rows.keys()), rows, key)
    return result


def _quote(conn: Connection, name: str) -> str:
    return conn.dialect.identifier_preparer.quote_identifier(name)


class ServerBackend(Database):
    """What PostgreSQL and MySQL share: a server reached through SQLAlchemy for reading.

    Dumps and restores stay with each engine's own client tools.
    """

    #: One query giving the database's size in bytes, for the disk-space check.
    size_sql: ClassVar[str]
    #: The longest database name the engine accepts.
    max_name: ClassVar[int]
    #: One query giving the server's change marker (see `Database.change_marker`), or a
    #: NULL when it cannot tell; "" when the engine has none.
    marker_sql: ClassVar[str] = ""
    #: Why a scratch database could not be created, for the operator (engine-specific).
    scratch_hint: ClassVar[str]

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.server: ServerURL = parse_server_url(url)

    def exists(self) -> bool:
        return can_connect(self.server)

    def revision(self) -> str | None:
        with connect(self.server) as conn:
            return read_revision(conn)

    def digest(self) -> Digest:
        with connect(self.server) as conn:
            return read_digest(conn)

    def change_marker(self) -> str | None:
        """The server's log position (`marker_sql`): every commit anywhere on the server
        moves it, so a busy server costs a fresh copy, and a quiet one none."""
        if not self.marker_sql:
            return None
        try:
            with connect(self.server) as conn:
                value = conn.execute(text(self.marker_sql)).scalar()
        except (HubshiftError, SQLAlchemyError):
            return None
        return None if value is None else str(value)

    def size_bytes(self) -> int:
        try:
            with connect(self.server) as conn:
                return int(conn.execute(text(self.size_sql)).scalar() or 0)
        except HubshiftError:
            return 0

    def rows(self) -> Rows:
        with connect(self.server) as conn:
            return read_rows(conn)

    def sibling(self, database: str) -> ServerBackend:
        """The same backend on another database of the same server, same credentials."""
        url = self.server.with_database(database).sqlalchemy_url()
        return type(self)(url.render_as_string(hide_password=False))

    def scratch_name(self) -> str:
        """`<db>__hubshift_cmp`: derived from the hub's database, so that a grant on
        `<db>__hubshift_%` (which MySQL restores need anyway) covers it."""
        return self.server.database[: self.max_name - len(SCRATCH_SUFFIX)] + SCRATCH_SUFFIX

    @contextlib.contextmanager
    def scratch(self, dump: Path) -> Iterator[Database]:
        """A database `<db>__hubshift_cmp` on the hub's server, loaded with `dump` by the
        engine's own client tool (credentials through a private file, never argv), dropped
        at the end. The server must let the hub's user create it (PostgreSQL: CREATEDB)."""
        name = self.scratch_name()
        self._create_scratch(name, "read the backup", self.scratch_hint)
        try:
            copy = self.sibling(name)
            copy.load_dump(dump)
            yield copy
        except BaseException:
            # The caller's error matters more than a failed cleanup.
            with contextlib.suppress(DatabaseError, SQLAlchemyError), self._ddl() as conn:
                conn.exec_driver_sql(self._drop_sql(conn, name))
            raise
        with self._ddl() as conn:
            conn.exec_driver_sql(self._drop_sql(conn, name))

    def _create_scratch(self, name: str, purpose: str, hint: str) -> None:
        """Create the empty database `name` (a leftover of that name is dropped first);
        ScratchRefused when the server will not."""
        with self._ddl() as conn:
            try:
                # A leftover of a killed run goes first (a user without the grant may not
                # even drop a database that is not there: MySQL says so, as for the create).
                conn.exec_driver_sql(self._drop_sql(conn, name))
                self._create_database(conn, name)
            except SQLAlchemyError as err:
                raise ScratchRefused(
                    f"cannot create the scratch database {name!r} at {self.server.where} to "
                    f"{purpose}: {driver_message(err, self.server)}", hint=hint) from None

    # -- the rehearsal's copy ------------------------------------------------------------------

    def copy_name(self, token: str) -> str:
        stem = self.server.database[: self.max_name - len(REHEARSAL_INFIX) - len(token)]
        return f"{stem}{REHEARSAL_INFIX}{token}"

    def scratch_copy(self, dump: Path, name: str, folder: Path) -> Database:
        self._create_scratch(name, "rehearse the upgrade on",
                             self.copy_grant.format(user=self.server.user or "?",
                                                    database=self.server.database))
        try:
            copy = self.sibling(name)
            copy.load_dump(dump)
        except BaseException:
            with contextlib.suppress(DatabaseError, SQLAlchemyError):
                self.drop_copy(name)
            raise
        return copy

    def drop_copy(self, name: str) -> None:
        with self._ddl() as conn:
            conn.exec_driver_sql(self._drop_copy_sql(conn, name))

    def _drop_copy_sql(self, conn: Connection, name: str) -> str:
        """DROP of a copy that a leftover rehearsal hub may still be connected to."""
        return self._drop_sql(conn, name)

    def execute(self, statements: list[str]) -> None:
        with connect(self.server) as conn, conn.begin():
            for statement in statements:
                conn.exec_driver_sql(statement)

    def copies(self) -> list[str]:
        prefix = self.copy_name("")
        with connect(self.server) as conn:
            names = [str(n) for n in conn.exec_driver_sql(self.databases_sql).scalars()]
        return sorted(n for n in names if n.startswith(prefix))

    #: Lists the server's databases.
    databases_sql: ClassVar[str]

    @contextlib.contextmanager
    def _ddl(self) -> Iterator[Connection]:
        """A connection in autocommit: CREATE/DROP DATABASE cannot run in a transaction."""
        with connect(self.server) as conn:
            yield conn.execution_options(isolation_level="AUTOCOMMIT")

    @staticmethod
    def _drop_sql(conn: Connection, name: str) -> str:
        return f"DROP DATABASE IF EXISTS {_quote(conn, name)}"

    def _create_database(self, conn: Connection, name: str) -> None:
        """Create the empty database `name` (raises SQLAlchemyError when refused)."""
        conn.exec_driver_sql(f"CREATE DATABASE {_quote(conn, name)}")

    def load_dump(self, dump: Path) -> None:
        """Load `dump` into this (empty, scratch) database. Raises DatabaseError."""
        self.restore(dump)
