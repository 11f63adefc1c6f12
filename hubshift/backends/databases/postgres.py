"""PostgreSQL: pg_dump's custom format out, one psql transaction back in.

The dump is `pg_dump --format=custom` (compressed, checked with `pg_restore --list` before it
counts). A restore turns it into SQL with `pg_restore --clean --if-exists` and runs that with
psql in ONE transaction, after dropping every table of the dump's schemas: tables the dump does
not know (JupyterHub 5 creates `shares`, `share_codes` at its first start) would otherwise keep
foreign keys to `users` and make the dump's own DROP fail. Either all of it commits or none.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import ClassVar

from sqlalchemy.engine import Connection

from hubshift.backends.databases.clienttools import (
    find_tool,
    private_dir,
    require_tool,
    run_tool,
    tool_major,
    write_private,
)
from hubshift.backends.databases.sqlalchemy_common import (
    ServerBackend,
    connect,
)
from hubshift.errors import DatabaseError
from hubshift.system.execute import child_env

PACKAGE = "postgresql-client"
#: URL query options that libpq also reads from the environment.
_LIBPQ_ENV = {
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "options": "PGOPTIONS",
    "application_name": "PGAPPNAME",
}
# A TABLE entry of `pg_restore --list`: "215; 1259 16390 TABLE public users owner".
_TOC_TABLE = re.compile(r"^\d+; \d+ \d+ TABLE (\S+) ")

# Drops every table of the named schemas, in the restore's transaction (see module doc).
_PRELUDE = """\
DO $hubshift$
DECLARE r record;
BEGIN
  FOR r IN SELECT schemaname, tablename FROM pg_catalog.pg_tables
           WHERE schemaname = ANY (ARRAY[{schemas}]::text[]) LOOP
    EXECUTE format('DROP TABLE IF EXISTS %I.%I CASCADE', r.schemaname, r.tablename);
  END LOOP;
END
$hubshift$;
"""


def _pgpass_field(value: str) -> str:
    # .pgpass escapes backslash and colon with a backslash.
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class PostgresDatabase(ServerBackend):
    schemes = ("postgresql", "postgres", "pgsql")
    engine = "postgres"
    can_downgrade = True
    transactional_ddl = True
    dump_name = "postgres.dump"
    size_sql = (
        "SELECT pg_database_size(current_database())"
    )
    max_name = 63
    # The server's snapshot (xmin:xmax:in-progress xids): a write transaction is given an id
    # at or past xmax, and its end moves xmax or leaves the in-progress list, so no write can
    # commit with the text unchanged. Server-wide (ids are), but unlike the WAL position it
    # stands still through checkpoints, hint bits and vacuum's pages.
    marker_sql = "SELECT pg_current_snapshot()::text"
    databases_sql = "SELECT datname FROM pg_database"
    copy_grant = "let the hub's database user create databases: ALTER ROLE {user} CREATEDB"
    scratch_hint = ("let the hub's database user create databases (ALTER ROLE <user> "
                    "CREATEDB), or read what the restore discards by hand")
    # psycopg2 for `postgresql+psycopg2://`; psycopg 3 for plain `postgresql://`, which
    # SQLAlchemy 2.1 (JupyterHub 5.x venvs) maps to psycopg, no longer to psycopg2.
    driver_packages: ClassVar[tuple[str, ...]] = ("psycopg2-binary", "psycopg[binary]")


    def _drop_copy_sql(self, conn: Connection, name: str) -> str:
        # FORCE (PostgreSQL 13+) ends the sessions of a killed run's rehearsal hub first.
        force = " WITH (FORCE)" if self.server_major() >= 13 else ""
        return self._drop_sql(conn, name) + force

    def server_major(self) -> int:
        """The server's major version (15 for 15.4). Raises DatabaseError when unreachable."""
        with connect(self.server) as conn:
            return int(conn.exec_driver_sql("SHOW server_version_num").scalar_one()) // 10000

    def preflight_problems(self) -> list[str]:
        problems = []
        tools = {name: find_tool([name]) for name in ("pg_dump", "pg_restore", "psql")}
        missing = [name for name, path in tools.items() if path is None]
        if missing:
            problems.append(f"{', '.join(missing)} not found on PATH: install {PACKAGE}")
        try:
            server = self.server_major()
        except DatabaseError as err:
            return [*problems, err.message]
        pg_dump = tools["pg_dump"]
        client = tool_major(pg_dump) if pg_dump else None
        if pg_dump and (client is None or client < server):
            # pg_dump refuses servers newer than itself, mid-window; say so now.
            problems.append(f"{pg_dump} is version {client}, older than the PostgreSQL "
                            f"{server} server: install {PACKAGE}-{server} or newer")
        return problems

    # -- client tools ----------------------------------------------------------------------

    def _env(self, workdir: Path) -> dict[str, str]:
        """libpq's environment for one command: where, who, and the password in a .pgpass."""
        extra = {"PGPORT": str(self.server.port), "PGDATABASE": self.server.database,
                 "PGCONNECT_TIMEOUT": "10"}
        host = self.server.host or self.server.query.get("host")
        if host:
            extra["PGHOST"] = host
        if self.server.user:
            extra["PGUSER"] = self.server.user
        for option, var in _LIBPQ_ENV.items():
            if option in self.server.query:
                extra[var] = self.server.query[option]
        env = child_env(extra=extra)
        if self.server.password is not None:
            # The URL's password wins: an operator's PGPASSWORD would win over a .pgpass.
            env.pop("PGPASSWORD", None)
            line = "*:*:*:*:" + _pgpass_field(self.server.password) + "\n"
            env["PGPASSFILE"] = str(write_private(workdir / "pgpass", line))
        return env

    @property
    def _secrets(self) -> list[str]:
        return [self.server.password] if self.server.password else []

    def _toc(self, archive: Path, env: dict[str, str]) -> str:
        """The archive's table of contents; DatabaseError when it is not a pg_dump archive."""
        pg_restore = require_tool(["pg_restore"], PACKAGE)
        return run_tool([pg_restore, "--list", archive], env=env, secrets=self._secrets,
                        what=f"read the archive {archive.name}").output

    # -- backup and restore ----------------------------------------------------------------

    def dump(self, dest: Path) -> Path:
        pg_dump = require_tool(["pg_dump"], PACKAGE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.unlink(missing_ok=True)
        try:
            with private_dir() as workdir:
                env = self._env(workdir)
                run_tool([pg_dump, "--format=custom", "--no-password", f"--file={tmp}"],
                         env=env, secrets=self._secrets,
                         what=f"dump database {self.server.database!r} at {self.server.where}")
                self._toc(tmp, env)  # an archive pg_restore cannot list is no backup
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def restore(self, dump: Path) -> None:
        pg_restore = require_tool(["pg_restore"], PACKAGE)
        psql = require_tool(["psql"], PACKAGE)
        with private_dir() as workdir:
            env = self._env(workdir)
            toc = self._toc(dump, env)
            schemas = sorted({m.group(1) for m in map(_TOC_TABLE.match, toc.splitlines()) if m})
            # Unpacking reads every byte: a damaged archive fails here, before any change.
            script = workdir / "restore.sql"
            run_tool([pg_restore, "--clean", "--if-exists", "--no-owner", f"--file={script}",
                      dump], env=env, secrets=self._secrets,
                     what=f"unpack the archive {dump.name}")
            listed = ", ".join(_literal(s) for s in schemas) or "current_schema()::text"
            prelude = write_private(workdir / "prelude.sql",
                                    _PRELUDE.format(schemas=listed))
            run_tool([psql, "--no-psqlrc", "--quiet", "--no-password", "--set=ON_ERROR_STOP=1",
                      "--single-transaction", f"--file={prelude}", f"--file={script}"],
                     env=env, secrets=self._secrets,
                     what=f"restore database {self.server.database!r} at "
                          f"{self.server.where} (nothing was changed)")
