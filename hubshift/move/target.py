"""The target database, checked before the window and put back as found by a rollback.

Reached with hubshift's own drivers (psycopg2, PyMySQL) like every server database; every
message says where (host, port, user), never the password.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import MetaData
from sqlalchemy.exc import SQLAlchemyError

from hubshift.backends.databases.sqlalchemy_common import connect, driver_message, tables
from hubshift.backends.databases.urls import ServerURL, engine_of, parse_server_url
from hubshift.errors import ConfigError, DatabaseError, PreflightError

#: A table created and dropped to prove the user may create tables.
PROBE_TABLE = "hubshift_move_probe"


@dataclass(frozen=True)
class TargetState:
    """What the target held when it was checked."""

    server: ServerURL
    tables: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not self.tables


def target_server(url: str, *, hub: str | None = None) -> ServerURL:
    """The target as a server URL; ConfigError (exit 2) for anything but PostgreSQL or
    MySQL/MariaDB (a move to SQLite is not supported: nothing would gain from it)."""
    if engine_of(url) is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        raise ConfigError(f"--to-url: {scheme}:// is not a PostgreSQL or MySQL/MariaDB URL "
                          "(postgresql://, mysql+pymysql://, ...)", hub=hub)
    try:
        return parse_server_url(url)
    except ConfigError as err:
        raise ConfigError(f"--to-url: {err.message}", hub=hub) from None


def check_target(server: ServerURL, *, replace: bool, hub: str | None = None) -> TargetState:
    """The target reachable, empty (or `replace`), and its user allowed to create tables.

    Raises PreflightError (exit 2) saying which; only the probe table is ever created (and
    dropped at once).
    """
    try:
        with connect(server) as conn:
            found = tuple(tables(conn))
    except DatabaseError as err:
        raise PreflightError(f"the target database is unreachable: {err.message}", hub=hub,
                             step="move-check") from None
    if found and not replace:
        shown = ", ".join(found[:8]) + (", ..." if len(found) > 8 else "")
        raise PreflightError(
            f"the target database {server.database!r} at {server.where} is not empty "
            f"({len(found)} tables: {shown})", hub=hub, step="move-check",
            hint="move into an empty database, or pass --replace to drop what it holds")
    try:
        with connect(server) as conn, conn.begin():
            quote = conn.dialect.identifier_preparer.quote_identifier
            conn.exec_driver_sql(f"CREATE TABLE {quote(PROBE_TABLE)} (id INTEGER PRIMARY KEY)")
            conn.exec_driver_sql(f"DROP TABLE {quote(PROBE_TABLE)}")
    except (DatabaseError, SQLAlchemyError) as err:
        said = err.message if isinstance(err, DatabaseError) else driver_message(err, server)
        raise PreflightError(
            f"the user may not create tables in the target database {server.database!r} at "
            f"{server.where}: {said}", hub=hub, step="move-check",
            hint="grant it CREATE on the database (PostgreSQL: on its schema public)") from None
    return TargetState(server, found)


def drop_tables(server: ServerURL) -> list[str]:
    """Drop every table of the target's default schema, dependants first; return their
    names. Safe to call twice. Raises DatabaseError."""
    with connect(server) as conn, conn.begin():
        meta = MetaData()
        meta.reflect(conn)
        names = [t.name for t in reversed(meta.sorted_tables)]
        meta.drop_all(conn)
    return names
