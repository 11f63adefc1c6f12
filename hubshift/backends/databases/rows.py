"""Every row of every table, with each table's primary key: what a comparison of two
databases by key needs (which rows of one the other lacks).

Read through SQLAlchemy, so one reader serves every engine; the values are the driver's own
and are only ever compared with values of the same engine (a scratch copy on the same server).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from hubshift.integrity.digest import ALEMBIC_TABLE


@dataclass(frozen=True)
class TableRows:
    """One table's rows; `key` names its primary key columns (empty: it has none)."""

    columns: tuple[str, ...]
    key: tuple[str, ...]
    rows: list[tuple[Any, ...]] = field(default_factory=list, repr=False)

    def records(self) -> list[dict[str, Any]]:
        """The rows as column -> value mappings."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


Rows = dict[str, TableRows]


def read_rows(conn: Connection) -> Rows:
    """Every table of the connection's default schema but alembic's, all its rows."""
    inspector = inspect(conn)
    found: Rows = {}
    quote = conn.dialect.identifier_preparer.quote_identifier
    for table in sorted(inspector.get_table_names()):
        if table == ALEMBIC_TABLE:
            continue
        key = tuple(inspector.get_pk_constraint(table).get("constrained_columns") or ())
        result = conn.exec_driver_sql(f"SELECT * FROM {quote(table)}")
        found[table] = TableRows(columns=tuple(result.keys()), key=key,
                                 rows=[tuple(row) for row in result])
    return found
