"""Database backends by URL scheme; adding an engine never edits a flow."""

from __future__ import annotations

from hubshift.backends.databases.base import Database
from hubshift.backends.databases.mysql import MySQLDatabase
from hubshift.backends.databases.postgres import PostgresDatabase
from hubshift.backends.databases.sqlite import SQLiteDatabase
from hubshift.errors import ConfigError

BACKENDS: tuple[type[Database], ...] = (SQLiteDatabase, PostgresDatabase, MySQLDatabase)


def database_for(url: str, *, hub: str | None = None) -> Database:
    """The backend for a database URL, chosen by its scheme (`postgresql+psycopg2` -> postgres)."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    for backend in BACKENDS:
        if scheme in backend.schemes:
            try:
                return backend(url)
            except ConfigError as err:
                err.hub = err.hub or hub
                raise
    supported = ", ".join(s for b in BACKENDS for s in b.schemes)
    raise ConfigError(
        f"database scheme {scheme!r} is not supported yet (supported: {supported})",
        hub=hub,
    )


__all__ = ["Database", "database_for"]
