"""Fresh PostgreSQL and MariaDB databases for tests, each owned by a user with a password.

The servers are the ones DESIGN names (127.0.0.1:5432 as postgres, 127.0.0.1:3306 as root;
override with $HUBSHIFT_TEST_POSTGRES_ADMIN / $HUBSHIFT_TEST_MYSQL_ADMIN). Every database gets
its own login `hubshift_test_<hex>` with a random password, so the tests really exercise the
hiding of a password; both are dropped afterwards. A missing server skips a test, or fails it
when HUBSHIFT_REQUIRE_SERVICES=1 (CI), so the tests cannot silently stop running.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import pymysql
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.services import require

ADMIN_URLS = {
    "postgres": os.environ.get("HUBSHIFT_TEST_POSTGRES_ADMIN",
                               "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"),
    "mysql": os.environ.get("HUBSHIFT_TEST_MYSQL_ADMIN",
                            "mysql+pymysql://root@127.0.0.1:3306/mysql"),
}
#: How the hubs' config files spell each engine: what users write, not what hubshift uses.
#: Plain `postgresql://` is psycopg 3 under SQLAlchemy 2.1; `mysql://` would need mysqlclient.
HUB_SCHEMES = {"postgres": "postgresql", "mysql": "mysql+pymysql"}
SERVER_ENGINES = ("postgres", "mysql")


def _admin_engine(engine: str):  # noqa: ANN202 - a SQLAlchemy Engine
    return create_engine(ADMIN_URLS[engine], poolclass=NullPool,
                         connect_args={"connect_timeout": 5},
                         isolation_level="AUTOCOMMIT")


def _address(engine: str) -> tuple[str, int]:
    from sqlalchemy.engine import make_url

    url = make_url(ADMIN_URLS[engine])
    return url.host or "127.0.0.1", url.port or (5432 if engine == "postgres" else 3306)


def require_service(engine: str) -> None:
    """Skip the calling test when `engine`'s server is not there; fail instead in CI."""
    host, port = _address(engine)
    try:
        with socket.create_connection((host, port), timeout=3):
            pass
        with _admin_engine(engine).connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as err:  # whatever stops us, the message says which server and why
        require(False, f"{engine} server at {host}:{port} ({type(err).__name__}: {err})")


@dataclass(frozen=True)
class ServerDatabase:
    """One test database and its owner; `url` is spelled as a hub's config would spell it."""

    engine: str
    name: str
    user: str
    password: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 0

    def url(self, scheme: str | None = None, *, password: str | None = None,
            port: int | None = None, database: str | None = None) -> str:
        """The database URL (optionally with another scheme, password, port or database)."""
        secret = quote(self.password if password is None else password, safe="")
        return (f"{scheme or HUB_SCHEMES[self.engine]}://{self.user}:{secret}@{self.host}:"
                f"{port or self.port}/{database or self.name}")


def checks_passwords(db: ServerDatabase) -> bool:
    """Whether the server refuses `db.user` with a wrong password.

    The PostgreSQL of DESIGN's test setup trusts every local TCP connection (pg_hba `trust`),
    so a wrong password gets in there; tests then use a wrong *user* instead.
    """
    from hubshift.backends.databases.sqlalchemy_common import can_connect
    from hubshift.backends.databases.urls import parse_server_url

    return not can_connect(parse_server_url(db.url(password="not-" + db.password)))


def wrong_credentials(db: ServerDatabase, secret: str) -> str:
    """A URL of `db` the server refuses, holding `secret` as its password: a wrong password,
    or a user that does not exist where the server does not check passwords."""
    url = db.url(password=secret)
    if checks_passwords(db):
        return url
    return url.replace(f"://{db.user}:", f"://{db.user}_nobody:", 1)


def create_server_database(engine: str) -> ServerDatabase:
    """A new empty database owned by a new user with a random password (see drop_...)."""
    require_service(engine)
    tag = secrets.token_hex(6)
    name = user = f"hubshift_test_{tag}"
    # Characters a password may hold that need escaping in URLs and option files.
    password = f"pw:{secrets.token_hex(12)}@/#'\"\\"
    host, port = _address(engine)
    with _admin_engine(engine).connect() as conn:
        if engine == "postgres":
            literal = password.replace("'", "''")
            conn.execute(text(f"CREATE ROLE {user} LOGIN PASSWORD '{literal}'"))
            conn.execute(text(f"CREATE DATABASE {name} OWNER {user}"))
        else:
            literal = pymysql.converters.escape_string(password)
            conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{literal}'"))
            conn.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            # The database and its restore scratch databases (`<db>__hubshift_new`, ...).
            pattern = name.replace("_", "\\_") + "%"
            conn.execute(text(f"GRANT ALL PRIVILEGES ON `{pattern}`.* TO '{user}'@'%'"))
    return ServerDatabase(engine, name, user, password, host, port)


def drop_server_database(db: ServerDatabase) -> None:
    """Drop the database (and any scratch ones) and its user; safe to call twice."""
    with _admin_engine(db.engine).connect() as conn:
        if db.engine == "postgres":
            conn.execute(text(f"DROP DATABASE IF EXISTS {db.name} WITH (FORCE)"))
            conn.execute(text(f"DROP ROLE IF EXISTS {db.user}"))
        else:
            like = db.name.replace("_", "\\_") + "%"
            names = conn.execute(text("SELECT schema_name FROM information_schema.schemata "
                                      "WHERE schema_name LIKE :p"), {"p": like}).scalars()
            for name in list(names):
                conn.execute(text(f"DROP DATABASE IF EXISTS `{name}`"))
            conn.execute(text(f"DROP USER IF EXISTS '{db.user}'@'%'"))


@contextlib.contextmanager
def server_database(engine: str) -> Iterator[ServerDatabase]:
    """A fresh database for the duration of the block (module-scoped fixtures use this)."""
    db = create_server_database(engine)
    try:
        yield db
    finally:
        drop_server_database(db)


def sqlite_url(directory: Path, name: str = "jupyterhub.sqlite") -> str:
    return f"sqlite:///{directory.absolute() / name}"


MakeDatabase = Callable[[str], str]


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[MakeDatabase]:
    """A factory: `fresh_database(engine)` -> the URL of a new empty database.

    `engine` is sqlite, postgres or mysql; server databases are dropped at teardown.
    """
    made: list[ServerDatabase] = []
    counter = iter(range(1000))

    def make(engine: str) -> str:
        if engine == "sqlite":
            return sqlite_url(tmp_path, f"db{next(counter)}.sqlite")
        db = create_server_database(engine)
        made.append(db)
        return db.url()

    yield make
    for db in made:
        drop_server_database(db)
