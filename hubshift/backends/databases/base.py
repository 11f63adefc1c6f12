"""One backend per database engine, behind a small interface; capabilities are attributes.

The plan and the rollback read the capabilities (`can_downgrade`, `transactional_ddl`)
instead of asking which engine a hub uses.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from pathlib import Path
from typing import ClassVar

from hubshift.backends.databases.rows import Rows
from hubshift.integrity.digest import Digest


class Database(ABC):
    """The database of one hub."""

    #: URL schemes this backend serves (registry key).
    schemes: ClassVar[tuple[str, ...]]
    #: Short engine name written into manifests.
    engine: ClassVar[str]
    #: Whether `jupyterhub downgrade-db` can undo a migration on this engine.
    can_downgrade: ClassVar[bool] = True
    #: Whether a failed migration leaves the schema untouched.
    transactional_ddl: ClassVar[bool] = True
    #: File name of a dump inside a backup folder.
    dump_name: ClassVar[str]
    #: Packages a hub's JupyterHub venv needs to reach this engine (added to every new venv).
    driver_packages: ClassVar[tuple[str, ...]] = ()

    #: What the hub's database user needs for a rehearsal's copy, for the warning when the
    #: server refuses it ("" when nothing: SQLite copies into a file of hubshift's own).
    copy_grant: ClassVar[str] = ""

    def __init__(self, url: str) -> None:
        self.url = url

    # -- the rehearsal's copy: taken while the hub runs, never the live database ---------------

    def copy_name(self, token: str) -> str:
        """The name of the rehearsal copy `token` (a file name, or a database on the server)."""
        return f"rehearse-{token}"

    def online_copy(self, name: str, folder: Path) -> Database:
        """A consistent copy of this database, taken with the hub running (SQLite's backup
        API; pg_dump's snapshot; mariadb-dump --single-transaction), as a new database
        `name` (`copy_name`): a file in `folder`, or a database on the same server, which
        `drop_copy(name)` removes. Only reads this database. Raises ScratchRefused when the
        server will not create a database, DatabaseError otherwise; nothing is left then."""
        return self.scratch_copy(self.dump(folder / self.dump_name), name, folder)

    def scratch_copy(self, dump: Path, name: str, folder: Path) -> Database:
        """`dump` loaded into the new database `name` (see `online_copy`)."""
        raise NotImplementedError

    def drop_copy(self, name: str) -> None:  # noqa: B027 - nothing to drop for a file
        """Remove the copy `name`, also one whose hub still holds it. Safe to call twice."""

    def execute(self, statements: list[str]) -> None:
        """Run `statements` in one transaction. Only ever on a copy (`online_copy`): hubshift
        never writes to a hub's live database but by restoring it. Raises DatabaseError."""
        raise NotImplementedError

    def copies(self) -> list[str]:
        """Names of this database's rehearsal copies on its server, a killed run's leftovers
        included (empty for a file: those live in the rehearsal's folder). Reads only."""
        return []

    def preflight_problems(self) -> list[str]:
        """What would make a backup or restore fail, found before the window (empty: none).

        Engines with client tools check them here (present, new enough). Never raises.
        """
        return [] if self.exists() else ["the database cannot be opened"]

    def change_marker(self) -> str | None:
        """A cheap token that changes whenever a write to this database commits; None when
        the engine, or the database's mode, cannot tell.

        It may also change when nothing of this database was written (a write to another
        database of the same server): that costs the window a fresh copy, never a lost row.
        The window's backup reuses the copy taken before the stop only when the token read
        before that copy equals the one read after the stop. Never raises: a database that
        cannot be read has no token, and the fresh copy then says why.
        """
        return None

    def size_bytes(self) -> int:
        """About how large a dump will be, for the disk-space check (0: unknown). Never raises."""
        return 0

    @abstractmethod
    def exists(self) -> bool:
        """Whether the database exists and can be opened. Never raises for a missing one."""

    @abstractmethod
    def revision(self) -> str | None:
        """The alembic revision recorded in the database, or None if it has none."""

    @abstractmethod
    def digest(self) -> Digest:
        """Per-table row count and hash, in a stable order (see `hubshift.integrity.digest`)."""

    @abstractmethod
    def dump(self, dest: Path) -> Path:
        """Write a consistent copy of the database to `dest` and return it.

        Called with the hub stopped. Writes to a temporary name and renames on success.
        """

    @abstractmethod
    def restore(self, dump: Path) -> None:
        """Replace the database's contents with `dump` (made by `dump`), all or nothing.

        Called with the hub stopped, after the dump's checksum was verified. Safe to call
        twice. Raises DatabaseError and leaves the database as it was when it cannot.
        """

    @abstractmethod
    def rows(self) -> Rows:
        """Every row of every table but alembic's, with each table's primary key.

        Reads only; safe while the hub runs. Raises DatabaseError when it cannot read.
        """

    @abstractmethod
    def scratch(self, dump: Path) -> AbstractContextManager[Database]:
        """A throwaway database holding `dump` (made by `dump`), gone when the block ends.

        What a backup holds can then be read like the hub's own database (`rows`), e.g. to
        tell what a restore would discard. Never touches the hub's database. Raises
        DatabaseError when the copy cannot be made (a server may refuse to create a
        database); whatever was created is removed, also after an error.
        """
