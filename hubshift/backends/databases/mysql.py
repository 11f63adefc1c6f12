"""MySQL and MariaDB: a gzipped `mariadb-dump` out; a scratch database and one RENAME back in.

MySQL commits DDL implicitly, so a dump loaded straight into the hub's database can stop
half-way (`transactional_ddl = False`). The restore therefore loads the dump into a scratch
database `<db>__hubshift_new` first, which proves the whole dump loads, and then swaps every
table in one `RENAME TABLE` statement, which MySQL and MariaDB apply all or nothing. The hub's
user needs CREATE and DROP on `<db>__hubshift_%` for that; without them the dump, already
checked complete, is loaded in place, which is not all or nothing (the one documented limit).
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from hubshift.backends.databases.clienttools import (
    find_tool,
    private_dir,
    require_tool,
    run_tool,
    write_private,
)
from hubshift.backends.databases.sqlalchemy_common import (
    ServerBackend,
    connect,
)
from hubshift.errors import DatabaseError
from hubshift.system.execute import child_env, run

PACKAGE = "mariadb-client (or mysql-client)"
DUMP_TOOLS = ("mariadb-dump", "mysqldump")
CLIENT_TOOLS = ("mariadb", "mysql")
#: The last line mariadb-dump/mysqldump write: a dump without it was cut short.
DUMP_TRAILER = b"-- Dump completed"
#: MySQL errors meaning "you may not": access denied to a database, or a privilege missing.
_DENIED = {1044, 1045, 1142, 1227}
_CHUNK = 1 << 20
_MAX_NAME = 64


def _option_value(value: str) -> str:
    """A value for a MySQL option file: quoted, so spaces and `#` stay part of it, and with
    the escapes the option-file reader undoes (quotes inside must be escaped, or a `#` after
    one would start a comment)."""
    escapes = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\r": "\\r",
               "\t": "\\t"}
    return '"' + "".join(escapes.get(c, c) for c in value) + '"'


def _q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def scratch_names(database: str) -> tuple[str, str]:
    """The scratch databases of a restore: the dump is loaded into the first, the old tables
    parked in the second. Derived from `database`, so a GRANT on `<db>__hubshift_%` covers them."""
    stem = database[: _MAX_NAME - len("__hubshift_new")]
    return f"{stem}__hubshift_new", f"{stem}__hubshift_old"


class MySQLDatabase(ServerBackend):
    schemes = ("mysql", "mariadb")
    engine = "mysql"
    can_downgrade = True
    transactional_ddl = False
    dump_name = "mysql.sql.gz"
    size_sql = (
        "SELECT COALESCE(SUM(data_length + index_length), 0) "
        "FROM information_schema.tables WHERE table_schema = DATABASE()"
    )
    max_name = _MAX_NAME
    databases_sql = "SELECT schema_name FROM information_schema.schemata"
    # InnoDB's log sequence number (MariaDB's status variable; MySQL 8 has none: no token),
    # and only when every table of the database is InnoDB's: other engines write no redo log.
    marker_sql = (
        "SELECT variable_value FROM information_schema.global_status "
        "WHERE variable_name = 'INNODB_LSN_CURRENT' AND NOT EXISTS (SELECT 1 FROM "
        "information_schema.tables WHERE table_schema = DATABASE() "
        "AND table_type = 'BASE TABLE' AND engine <> 'InnoDB')"
    )
    copy_grant = ("grant the hub's user its scratch databases, as restores need too: "
                  "GRANT ALL ON `{database}__hubshift_%`.* TO '{user}'")
    scratch_hint = ("grant the hub's user CREATE and DROP on `<db>__hubshift_%`.*, as "
                    "restores need too")
    # `mysql+pymysql://`; a plain `mysql://` needs mysqlclient, which the hub's own venv
    # already holds (the installer carries its top-level packages over).
    driver_packages: ClassVar[tuple[str, ...]] = ("pymysql",)

    def preflight_problems(self) -> list[str]:
        problems = []
        for names in (DUMP_TOOLS, CLIENT_TOOLS):
            if find_tool(names) is None:
                problems.append(f"{' or '.join(names)} not found on PATH: install {PACKAGE}")
        client = find_tool(CLIENT_TOOLS)
        if client and "--abort-source-on-error" not in run([client, "--help"], timeout=30).output:
            # Oracle's mysql client lacks it: a restore could not stop at its first error.
            problems.append(f"{client} has no --abort-source-on-error: install mariadb-client")
        try:
            with connect(self.server) as conn:
                conn.exec_driver_sql("SELECT 1")
        except DatabaseError as err:
            problems.append(err.message)
        return problems

    # -- client tools ----------------------------------------------------------------------

    def _defaults_file(self, workdir: Path) -> Path:
        """A `--defaults-extra-file` with where and who; the only place the password goes."""
        lines = ["[client]"]
        if self.server.host:
            lines += [f"host={_option_value(self.server.host)}", "protocol=TCP"]
        elif "unix_socket" in self.server.query:
            lines.append(f"socket={_option_value(self.server.query['unix_socket'])}")
        lines.append(f"port={self.server.port}")
        if self.server.user:
            lines.append(f"user={_option_value(self.server.user)}")
        if self.server.password is not None:
            lines.append(f"password={_option_value(self.server.password)}")
        lines += ["default-character-set=utf8mb4", ""]
        return write_private(workdir / "client.cnf", "\n".join(lines))

    @property
    def _secrets(self) -> list[str]:
        return [self.server.password] if self.server.password else []

    def _load(self, defaults: Path, script: Path, database: str, *, what: str) -> None:
        """Run `script` against `database` with the client; stops at the first error."""
        client = require_tool(CLIENT_TOOLS, PACKAGE)
        # --defaults-extra-file must come first; `source` keeps the dump out of our memory,
        # and without --abort-source-on-error it would go on after an error and exit 0.
        result = run_tool([client, f"--defaults-extra-file={defaults}", "--batch",
                           "--abort-source-on-error", "--one-database",
                           "--execute", f"source {script}", database],
                          env=child_env(), secrets=self._secrets, what=what)
        errors = [line for line in result.output.splitlines() if line.startswith("ERROR ")]
        if errors:
            raise DatabaseError(f"{client.name} could not {what}: {errors[0]}")

    # -- backup and restore ----------------------------------------------------------------

    def dump(self, dest: Path) -> Path:
        tool = require_tool(DUMP_TOOLS, PACKAGE)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.unlink(missing_ok=True)
        try:
            with private_dir() as workdir:
                plain = workdir / "dump.sql"
                run_tool([tool, f"--defaults-extra-file={self._defaults_file(workdir)}",
                          "--single-transaction", "--routines", "--triggers", "--hex-blob",
                          "--no-tablespaces", f"--result-file={plain}", self.server.database],
                         env=child_env(), secrets=self._secrets,
                         what=f"dump database {self.server.database!r} at {self.server.where}")
                if not _ends_with_trailer(plain):
                    raise DatabaseError(f"{tool.name} wrote an incomplete dump of "
                                        f"{self.server.database!r}")
                # Compressed chunk by chunk: a dump never has to fit in memory.
                with open(plain, "rb") as src, gzip.open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
        return dest

    def restore(self, dump: Path) -> None:
        with private_dir() as workdir:
            script = workdir / "restore.sql"
            _gunzip_checked(dump, script)
            defaults = self._defaults_file(workdir)
            with connect(self.server) as conn:
                scratch = _create_scratch(conn, self.server.database)
            if scratch is None:
                self._restore_in_place(defaults, script)
                return
            new, old = scratch
            try:
                self._load(defaults, script, new,
                           what=f"load the dump into the scratch database {new!r} "
                                f"(database {self.server.database!r} unchanged)")
                with connect(self.server) as conn:
                    _swap(conn, self.server.database, new, old)
            except DatabaseError:
                # The restore's own error matters more than a failed cleanup.
                with contextlib.suppress(DatabaseError), connect(self.server) as conn:
                    _drop_databases(conn, [new, old])
                raise
            with connect(self.server) as conn:
                _drop_databases(conn, [new, old])

    def _create_database(self, conn: Connection, name: str) -> None:
        conn.exec_driver_sql(f"CREATE DATABASE {_q(name)}" + _charset(conn, self.server.database))

    def load_dump(self, dump: Path) -> None:
        """Load `dump` straight into this scratch database (nothing to swap: it is new)."""
        with private_dir() as workdir:
            script = workdir / "restore.sql"
            _gunzip_checked(dump, script)
            self._load(self._defaults_file(workdir), script, self.server.database,
                       what=f"load {dump.name} into the scratch database "
                            f"{self.server.database!r}")

    def _restore_in_place(self, defaults: Path, script: Path) -> None:
        """The fallback without scratch databases: drop every table, load the dump."""
        with connect(self.server) as conn:
            names = _tables(conn, self.server.database)
            if names:
                conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS=0")
                conn.exec_driver_sql("DROP TABLE IF EXISTS " + ", ".join(map(_q, names)))
        self._load(defaults, script, self.server.database,
                   what=f"load the dump into {self.server.database!r} (in place: the database "
                        "may be partly restored; run the restore again)")


def _ends_with_trailer(path: Path) -> bool:
    with open(path, "rb") as file:
        file.seek(max(0, path.stat().st_size - 200))
        return DUMP_TRAILER in file.read()


def _gunzip_checked(dump: Path, dest: Path) -> None:
    """Decompress `dump` (gzip checks its CRC) and check the dump tool's trailer is there."""
    try:
        with gzip.open(dump, "rb") as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)
    except (OSError, EOFError) as err:
        raise DatabaseError(f"{dump.name} is not a complete gzip file ({err}); "
                            "not restoring") from err
    if not _ends_with_trailer(dest):
        raise DatabaseError(f"{dump.name} holds an incomplete dump; not restoring")


def _tables(conn: Connection, schema: str) -> list[str]:
    rows = conn.exec_driver_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
        "AND table_type = 'BASE TABLE' ORDER BY table_name", (schema,))
    return [str(r[0]) for r in rows]


def _create_scratch(conn: Connection, database: str) -> tuple[str, str] | None:
    """Create the empty load database (same character set); None when we may not."""
    new, old = scratch_names(database)
    create = f"CREATE DATABASE {_q(new)}" + _charset(conn, database)
    try:
        # Leftovers of an interrupted restore go first: a restore is safe to run twice.
        _drop_databases(conn, [new, old])
        conn.exec_driver_sql(create)
    except DatabaseError as err:
        if err.__cause__ is not None and _error_code(err.__cause__) in _DENIED:
            return None
        raise
    return new, old


def _charset(conn: Connection, database: str) -> str:
    """` CHARACTER SET ... COLLATE ...` of `database`, for a scratch database like it."""
    found = conn.exec_driver_sql(
        "SELECT default_character_set_name, default_collation_name "
        "FROM information_schema.schemata WHERE schema_name = %s", (database,)).first()
    return f" CHARACTER SET {found[0]} COLLATE {found[1]}" if found else ""


def _swap(conn: Connection, database: str, new: str, old: str) -> None:
    """Park the current tables in `old` and move the loaded ones in, in one statement."""
    current, loaded = _tables(conn, database), _tables(conn, new)
    if not loaded:
        raise DatabaseError(f"the dump created no table in {new!r}; not restoring")
    _execute(conn, f"CREATE DATABASE {_q(old)}", "create the scratch database")
    pairs = [f"{_q(database)}.{_q(t)} TO {_q(old)}.{_q(t)}" for t in current]
    pairs += [f"{_q(new)}.{_q(t)} TO {_q(database)}.{_q(t)}" for t in loaded]
    # One RENAME TABLE: either every table moves or none does.
    _execute(conn, "RENAME TABLE " + ", ".join(pairs),
             f"swap the restored tables into {database!r} (database unchanged)")


def _drop_databases(conn: Connection, names: Iterable[str]) -> None:
    for name in names:
        _execute(conn, f"DROP DATABASE IF EXISTS {_q(name)}", f"drop the scratch database {name!r}")


def _execute(conn: Connection, sql: str, what: str) -> None:
    try:
        conn.exec_driver_sql(sql)
    except SQLAlchemyError as err:
        raise DatabaseError(f"cannot {what}: {' '.join(str(err.orig).split())[:300]}") from err


def _error_code(err: BaseException) -> int | None:
    orig = getattr(err, "orig", err)
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None
