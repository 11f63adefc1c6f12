"""The copy: every row of the hub's database into the target's schema (made by the hub's
release), in foreign-key order, in ONE transaction on the target, then the counters.

Rows are read through SQLAlchemy with the source's reflected types (SQLite's text datetimes
become datetimes, its 0/1 booleans bools) and written with the target's, so each engine
stores them its own way. Only one loss is known and accepted: MySQL/MariaDB's DATETIME as
JupyterHub creates it keeps whole seconds (MySQL would round, MariaDB cut), so the copy cuts
the microseconds itself and says which columns lost some; JupyterHub on MySQL stores its own
timestamps so too. Everything else must give the backup's digest exactly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Column, MetaData, create_engine, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlalchemy.types import DateTime, Time

from hubshift.backends.databases.sqlalchemy_common import connect, driver_message, read_digest
from hubshift.backends.databases.urls import ServerURL, engine_of, normalise
from hubshift.errors import DatabaseError
from hubshift.integrity.digest import ALEMBIC_TABLE, Digest, differences, table_digest

#: Rows per INSERT batch: one round trip per batch, memory bounded for big tables.
BATCH = 1000


@dataclass
class Copied:
    """What a copy wrote and what it found when it read the target back."""

    #: The target's digest, read inside the copy's transaction.
    digest: Digest
    #: The digest of the rows as written (the source's, but for `lossy` columns).
    expected: Digest
    #: `table.column`s whose sub-second parts the target cannot keep (MySQL DATETIME).
    lossy: list[str] = field(default_factory=list)
    rows: int = 0

    def problems(self, backup: Digest) -> list[str]:
        """Why the target does not hold the backup's rows (empty: it does): the target
        must match what was written exactly, and that the backup but for `lossy`."""
        written = differences(self.expected, self.digest, exact=True)
        kept = differences(backup, self.expected, ignore_columns=self.lossy)
        missing = [f"table {t} is missing in the copy" for t in backup if t not in self.digest]
        return missing + written + [f"against the backup: {line}" for line in kept]


def reader_url(url: str) -> str:
    """A URL hubshift reads the source through: SQLite read-only (the file is never
    written, not even its journal), a server with hubshift's own driver."""
    if engine_of(url) is not None:
        return normalise(url)
    path = Path(url.split("://", 1)[1][1:]).resolve()
    return f"sqlite:///file:{quote(str(path))}?mode=ro&uri=true"


@contextmanager
def _source(url: str) -> Iterator[Connection]:
    engine = create_engine(reader_url(url), poolclass=NullPool)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def copy_rows(source_url: str, target: ServerURL, *, commit: bool) -> Copied:
    """Copy every row of `source_url` into `target`, whose schema the hub's release made
    (its tables empty), in one transaction; reset PostgreSQL's sequences; read the target's
    digest inside the transaction; then commit, or roll back when `commit` is False (a
    rehearsal: the schema stays, empty). Raises DatabaseError, the target then unchanged."""
    try:
        with _source(source_url) as src, connect(target) as dst:
            source, dest = MetaData(), MetaData()
            source.reflect(src)
            dest.reflect(dst)
            try:
                copied = _copy(src, dst, source, dest)
                copied.digest = read_digest(dst)
            except BaseException:
                dst.rollback()
                raise
            if commit:
                dst.commit()
            else:
                dst.rollback()
            return copied
    except SQLAlchemyError as err:
        raise DatabaseError(f"the copy into {target.database!r} at {target.where} failed: "
                            f"{driver_message(err, target)}") from None


def _copy(src: Connection, dst: Connection, source: MetaData, dest: MetaData) -> Copied:
    extra = sorted(set(source.tables) - set(dest.tables) - {ALEMBIC_TABLE})
    if extra:
        raise DatabaseError(f"the hub's database has tables its release did not create in the "
                            f"target: {', '.join(extra)}")
    copied = Copied(digest={}, expected={})
    for table in dest.sorted_tables:  # parents before the tables that refer to them
        if table.name == ALEMBIC_TABLE or table.name not in source.tables:
            continue
        origin = source.tables[table.name]
        unknown = [c.name for c in origin.columns if c.name not in table.columns]
        if unknown:
            raise DatabaseError(f"table {table.name}: columns {', '.join(unknown)} have no "
                                "place in the target's schema")
        names = [c.name for c in origin.columns]
        cut = [n for n in names if _whole_seconds(dst, table.columns[n])]
        written: list[tuple[Any, ...]] = []
        batch: list[dict[str, Any]] = []
        for row in src.execute(select(*origin.columns)):
            values = dict(zip(names, row, strict=True))
            for name in cut:
                values[name] = _cut(values[name], f"{table.name}.{name}", copied.lossy)
            batch.append(values)
            written.append(tuple(values[n] for n in names))
            if len(batch) >= BATCH:
                dst.execute(table.insert(), batch)
                batch = []
        if batch:
            dst.execute(table.insert(), batch)
        key = [c.name for c in table.primary_key.columns]
        copied.expected[table.name] = table_digest(names, written, key)
        copied.rows += len(written)
    if dst.dialect.name == "postgresql":
        _reset_sequences(dst, dest)
    # MySQL/MariaDB: InnoDB moves AUTO_INCREMENT past every id written, nothing to do (and
    # an ALTER TABLE would commit the transaction half-way).
    return copied


def _whole_seconds(dst: Connection, column: Column) -> bool:
    """Whether the target keeps only whole seconds in `column` (MySQL DATETIME/TIME
    without a fractional precision)."""
    return (dst.dialect.name in ("mysql", "mariadb")
            and isinstance(column.type, (DateTime, Time))
            and not getattr(column.type, "fsp", None))


def _cut(value: Any, where: str, lossy: list[str]) -> Any:
    if isinstance(value, (dt.datetime, dt.time)) and value.microsecond:
        if where not in lossy:
            lossy.append(where)
        return value.replace(microsecond=0)
    return value


def _reset_sequences(dst: Connection, dest: MetaData) -> None:
    """Each serial/identity column's sequence to just past its largest id, so that the
    hub's next row does not collide with a copied one."""
    quote_id = dst.dialect.identifier_preparer.quote
    for table in dest.sorted_tables:
        for column in table.primary_key.columns:
            sequence = dst.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                   {"t": quote_id(table.name), "c": column.name}).scalar()
            if sequence:
                dst.execute(text(
                    f"SELECT setval(:s, COALESCE((SELECT MAX({quote_id(column.name)}) "
                    f"FROM {quote_id(table.name)}), 0) + 1, false)"), {"s": sequence})


