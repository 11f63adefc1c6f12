"""Database URLs as users write them in `jupyterhub_config.py`, made usable by hubshift.

A hub's URL names the driver *JupyterHub* loads (`postgresql://` means psycopg 3 under
SQLAlchemy 2.1, `mysql://` means mysqlclient); hubshift itself always connects with psycopg2
or PyMySQL, which it depends on, so the driver part is replaced and everything else kept.
The parsed parts feed the client tools, which get the password only through a private file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from hubshift.errors import ConfigError

#: URL scheme (before any `+driver`) -> engine name used by the backends.
ENGINES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "pgsql": "postgres",
    "mysql": "mysql",
    "mariadb": "mysql",
}
#: The SQLAlchemy driver hubshift connects with, per engine.
OUR_DRIVERS = {"postgres": "postgresql+psycopg2", "mysql": "mysql+pymysql"}
DEFAULT_PORTS = {"postgres": 5432, "mysql": 3306}
#: Seconds to wait for a server before calling it unreachable (preflight must be quick).
CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class ServerURL:
    """A PostgreSQL or MySQL/MariaDB database, its parts decoded. The password stays out of repr."""

    engine: str
    host: str | None
    port: int
    user: str | None
    database: str
    password: str | None = field(default=None, repr=False)
    #: URL query options (`sslmode`, `host` for a socket dir, `unix_socket`, ...).
    query: dict[str, str] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """`host:port as user 'x'`, for messages: names the place, never the secret."""
        host = self.host or self.query.get("host") or self.query.get("unix_socket") or "socket"
        user = f" as user {self.user!r}" if self.user else ""
        return f"{host}:{self.port}{user}"

    def sqlalchemy_url(self) -> URL:
        """The URL hubshift's own connections use (psycopg2 / PyMySQL), password included."""
        return URL.create(
            OUR_DRIVERS[self.engine],
            username=self.user,
            password=self.password,
            host=self.host,
            port=self.port,
            database=self.database,
            query=self.query,
        )

    def connect_args(self) -> dict[str, Any]:
        """Driver options: a connect timeout, so that a dead server fails preflight fast."""
        if self.engine == "postgres":
            return {"connect_timeout": CONNECT_TIMEOUT}
        return {"connect_timeout": CONNECT_TIMEOUT, "charset": "utf8mb4"}

    def with_database(self, name: str) -> ServerURL:
        """The same server and credentials, another database (scratch or test databases)."""
        return ServerURL(self.engine, self.host, self.port, self.user, name, self.password,
                         dict(self.query))


def engine_of(url: str) -> str | None:
    """`postgres`, `mysql`, or None when the scheme names neither."""
    scheme = url.split("://", 1)[0].split("+", 1)[0].lower()
    return ENGINES.get(scheme)


def parse_server_url(url: str) -> ServerURL:
    """Parse a PostgreSQL/MySQL URL in any spelling JupyterHub users write.

    Raises ConfigError (without the URL, which may hold a password) when it is not one or
    names no database.
    """
    engine = engine_of(url)
    if engine is None:
        raise ConfigError(f"not a PostgreSQL or MySQL URL: {url.split('://', 1)[0]}://...")
    try:
        # make_url only parses: it does not load a dialect, so `postgres://` is fine here.
        parsed = make_url(url)
    except ArgumentError as err:
        raise ConfigError(f"cannot parse the {engine} database URL (password hidden)") from err
    if not parsed.database:
        raise ConfigError(f"the {engine} database URL names no database: add /<dbname>")
    query = {k: v if isinstance(v, str) else v[-1] for k, v in parsed.query.items()}
    return ServerURL(
        engine=engine,
        host=parsed.host or None,
        port=parsed.port or DEFAULT_PORTS[engine],
        user=parsed.username or None,
        database=parsed.database,
        password=parsed.password if parsed.password else None,
        query=query,
    )


def normalise(url: str) -> str:
    """`url` rewritten for hubshift's own connections (`postgresql+psycopg2://`, ...).

    The result holds the password: render it only to SQLAlchemy, never to a person.
    """
    return parse_server_url(url).sqlalchemy_url().render_as_string(hide_password=False)
