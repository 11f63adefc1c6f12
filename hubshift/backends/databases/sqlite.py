"""SQLite, JupyterHub's default database: a single file that cannot be downgraded.

The copy uses SQLite's online backup API, which yields a consistent snapshot even if a
process still holds the file; the copy is integrity-checked before it counts as a backup.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from hubshift.backends.databases.base import Database
from hubshift.backends.databases.rows import Rows, read_rows
from hubshift.errors import DatabaseError
from hubshift.integrity.digest import ALEMBIC_TABLE, Digest, table_digest
from hubshift.system import paths

#: Pages per backup step: large steps make the copy of a hub-sized file a single pass.
BACKUP_PAGES = 4096


def sqlite_path(url: str) -> Path:
    """The file behind a `sqlite:///` URL (absolute with four slashes)."""
    parts = urlsplit(url)
    if not parts.scheme.startswith("sqlite"):
        raise DatabaseError(f"not a SQLite URL: {parts.scheme}://...")
    path = unquote(url.split("://", 1)[1])
    # sqlite:///relative -> "/relative" after the split: strip the one slash of the host part.
    return Path(path[1:] if path.startswith("/") else path)


class SQLiteDatabase(Database):
    schemes = ("sqlite",)
    engine = "sqlite"
    can_downgrade = False
    transactional_ddl = False
    dump_name = "jupyterhub.sqlite"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.path = sqlite_path(url)

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        # Read-only URI: hubshift never writes to a hub's database by accident.
        if not self.path.is_file():
            raise DatabaseError(f"SQLite database {self.path} does not exist")
        try:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as err:
            raise DatabaseError(f"cannot open {self.path}: {err}") from err
        try:
            yield conn
        except sqlite3.Error as err:
            raise DatabaseError(f"cannot read {self.path}: {err}") from err
        finally:
            conn.close()

    def size_bytes(self) -> int:
        try:
            return self.path.stat().st_size
        except OSError:
            return 0

    def change_marker(self) -> str | None:
        """The header's file change counter, which every commit increments in SQLite's
        rollback-journal modes (JupyterHub's default), with the file's identity, size and
        mtime. WAL mode does not keep the counter, and a journal or WAL beside the file means
        a write in flight or one to replay: no token then."""
        try:
            with open(self.path, "rb") as db:
                header = db.read(100)
            stat = os.stat(self.path)
        except OSError:
            return None
        if len(header) < 100 or 2 in header[18:20]:  # a new file, or WAL's versions
            return None
        if any(self.path.with_name(self.path.name + suffix).exists()
               for suffix in ("-journal", "-wal")):
            return None
        counter = int.from_bytes(header[24:28], "big")
        return f"{counter}:{stat.st_ino}:{stat.st_size}:{stat.st_mtime_ns}"

    def exists(self) -> bool:
        try:
            with self._read() as conn:
                conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")
            return True
        except DatabaseError:
            return False

    def revision(self) -> str | None:
        with self._read() as conn:
            if not _has_table(conn, ALEMBIC_TABLE):
                return None
            row = conn.execute(f"SELECT version_num FROM {ALEMBIC_TABLE}").fetchone()
            return row[0] if row else None

    def digest(self) -> Digest:
        with self._read() as conn:
            return sqlite_digest(conn)

    def dump(self, dest: Path) -> Path:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".tmp")
        tmp.unlink(missing_ok=True)
        with self._read() as src:
            target = sqlite3.connect(tmp)
            try:
                src.backup(target, pages=BACKUP_PAGES)
                target.execute("PRAGMA journal_mode=DELETE")
                check = target.execute("PRAGMA integrity_check").fetchone()[0]
            except sqlite3.Error as err:
                raise DatabaseError(f"cannot copy {self.path}: {err}") from err
            finally:
                target.close()
        if check != "ok":
            tmp.unlink(missing_ok=True)
            raise DatabaseError(f"the copy of {self.path} fails its integrity check: {check}")
        os.replace(tmp, dest)
        return dest


    def restore(self, dump: Path) -> None:
        try:
            check = sqlite3.connect(f"file:{dump}?mode=ro", uri=True)
            try:
                verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
            finally:
                check.close()
        except sqlite3.Error as err:
            raise DatabaseError(f"{dump} is not a usable SQLite database ({err}); "
                                "not restoring") from err
        if verdict != "ok":
            raise DatabaseError(f"{dump} fails its integrity check ({verdict}); not restoring")
        # Copy beside the target, then rename: the hub's file is either old or restored.
        tmp = self.path.with_name(self.path.name + ".hubshift-restore")
        shutil.copyfile(dump, tmp)
        paths.fsync(tmp)
        # The old file's journal, WAL and shared memory go before the rename: SQLite would
        # replay a WAL left beside the restored file into it.
        for suffix in ("-journal", "-wal", "-shm"):
            self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        paths.fsync(self.path.parent)
        os.replace(tmp, self.path)
        paths.fsync(self.path.parent)  # the rename itself survives a crash from here on

    def rows(self) -> Rows:
        if not self.path.is_file():
            raise DatabaseError(f"SQLite database {self.path} does not exist")
        # Read-only, as `_read`: a running hub keeps writing, we never do.
        uri = f"sqlite:///file:{quote(str(self.path.resolve()))}?mode=ro&uri=true"
        engine = create_engine(uri, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                return read_rows(conn)
        except SQLAlchemyError as err:
            cause = getattr(err, "orig", None) or err
            raise DatabaseError(f"cannot read {self.path}: {cause}") from err
        finally:
            engine.dispose()

    def scratch_copy(self, dump: Path, name: str, folder: Path) -> Database:
        """The backup API's copy is the rehearsal's database: renamed in its folder."""
        copy = folder / f"{name}.sqlite"
        os.replace(dump, copy)
        return SQLiteDatabase(f"sqlite:///{copy.absolute()}")

    def execute(self, statements: list[str]) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=30)
            try:
                with conn:  # one transaction, committed or rolled back
                    for statement in statements:
                        conn.execute(statement)
            finally:
                conn.close()
        except sqlite3.Error as err:
            raise DatabaseError(f"cannot write to the copy {self.path}: {err}") from err

    @contextlib.contextmanager
    def scratch(self, dump: Path) -> Iterator[Database]:
        """A copy of `dump` in a private temporary folder: the fetched backup, whose
        checksum the restore checks again, is never opened by anyone else."""
        with tempfile.TemporaryDirectory(prefix="hubshift-scratch-") as folder:
            copy = Path(folder) / dump.name
            try:
                shutil.copyfile(dump, copy)
            except OSError as err:
                raise DatabaseError(f"cannot copy {dump} to read it: {err}") from err
            yield SQLiteDatabase(f"sqlite:///{copy}")


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)
    ).fetchone()
    return row is not None


def sqlite_digest(conn: sqlite3.Connection) -> Digest:
    """Digest of every table of an open SQLite connection (also used on backup copies)."""
    tables = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
        if r[0] != ALEMBIC_TABLE
    ]
    result: Digest = {}
    for table in tables:
        # table_info's `pk` is the column's place in the primary key (0: not in it).
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        key = [row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5])]
        cursor = conn.execute(f'SELECT * FROM "{table}"')
        columns = [d[0] for d in cursor.description]
        result[table] = table_digest(columns, cursor, key)
    return result


def file_digest(path: Path) -> tuple[str | None, Digest]:
    """Revision and digest of a SQLite file, e.g. a downloaded backup."""
    db = SQLiteDatabase(f"sqlite:///{path.resolve()}")
    return db.revision(), db.digest()
