"""A table-by-table fingerprint of a hub database: what "nothing lost" is checked against.

Rows are normalised to canonical JSON and sorted in Python, not in SQL, so the same rows give
the same digest on SQLite, PostgreSQL and MySQL whatever their collations. Each column also gets
a hash of its own, so that after a migration that only adds columns the old columns can still
be compared against the backup's manifest without the backup at hand; and one keyed by the
row's primary key, so that a value moved to another row (two tokens' owners swapped, a group's
members exchanged) is a difference too, which the column's sorted values alone cannot show.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

from pydantic import BaseModel, Field

#: The table alembic keeps its revision in: reported separately, never digested.
ALEMBIC_TABLE = "alembic_version"

#: How SQLAlchemy stores DateTime and Time in SQLite; other engines' values are digested so.
SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
SQLITE_TIME = "%H:%M:%S.%f"

#: Columns a healthy hub rewrites by itself (logins, API calls, proxy checks): not data loss.
#: `table.column` names one table's column; a bare name, that column in every table.
VOLATILE_COLUMNS = frozenset({
    "last_activity",
    "started",
    "pid",
    # JupyterHub sets the scopes of its roles from the release and the config at every
    # start (5.x adds scopes to the built-in `user` and `admin` roles): release-managed.
    "roles.scopes",
})

#: The tables whose rows an upgrade must keep: who the users are, what they belong to,
#: which roles and services exist, and which tokens authenticate.
KEPT_TABLES = (
    "users",
    "groups",
    "user_group_map",
    "roles",
    "user_role_map",
    "group_role_map",
    "service_role_map",
    "services",
    "api_tokens",
    "oauth_clients",
)


class TableDigest(BaseModel):
    rows: int = Field(description="Row count")
    sha256: str = Field(description="Hash of every row, all columns, in a stable order")
    columns: dict[str, str] = Field(description="Hash of each column's values, sorted")
    keyed: dict[str, str] | None = Field(
        None, description="Hash of each column's values, each paired with its row's primary "
        "key, sorted: a value moved to another row (two tokens' owners swapped) changes it. "
        "None for a table without a primary key, and in digests older than this field")


Digest = dict[str, TableDigest]


def _normal(value: Any) -> Any:
    """One JSON-able form per value, whatever driver produced it.

    The form is what sqlite3 returns for a column SQLAlchemy wrote, because SQLite digests
    are the ones already stored in manifests: sqlite3 only ever yields int, float, str, bytes
    and None, so the branches for other types change nothing for SQLite. Booleans become 0/1
    (PostgreSQL gives bool, MySQL's TINYINT(1) int) and date/time values the text SQLAlchemy
    stores in SQLite ("2026-01-01 12:00:00.000000").
    """
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "b64:" + base64.b64encode(bytes(value)).decode()
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.strftime(SQLITE_DATETIME)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.time):
        return value.replace(tzinfo=None).strftime(SQLITE_TIME)
    if isinstance(value, decimal.Decimal):
        return str(value.normalize())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: The canonical encoding of a value: JSON, keys sorted, no spaces, ASCII only, str() for
#: anything JSON has no form for. Built once: `json.dumps` with options builds a new encoder
#: per call, which cost more than everything else in a digest.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_encode_str = encode_basestring_ascii


def _canonical(value: Any) -> str:
    """The canonical JSON of `_normal(value)`: what
    `json.dumps(_normal(value), sort_keys=True, separators=(",", ":"), default=str)` gives.

    The digest runs while the hub is down, over every value of every row, so the types that
    almost every column holds (str, int, None) are spelled here directly, exactly as the
    json module spells them; anything else is normalised and goes through the same encoder.
    """
    kind = type(value)
    if kind is str:
        return _encode_str(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return _ENCODER.encode(_normal(value))


def canonical(value: Any) -> str:
    """One text per value, the same for equal values whatever the driver returned (for
    matching rows by key): the canonical JSON the digest hashes."""
    return _canonical(value)


def table_digest(columns: Sequence[str], rows: Iterable[Sequence[Any]],
                 key: Sequence[str] = ()) -> TableDigest:
    """Digest of one table given its column names, its rows in any order, and the columns
    of its primary key (none: no keyed hashes).

    A row hashes as the canonical JSON object of its columns (keys sorted), a column as the
    sorted canonical JSON of its values, and, keyed, as the sorted pairs of its row's key and
    its value. Each value is encoded once and serves all three: the row's object is filled
    into a template of the sorted keys, which gives the text `json.dumps` of the row as a
    dict with sorted keys would.
    """
    names = list(columns)
    order = sorted(range(len(names)), key=lambda i: names[i])
    template = "{" + ",".join(_encode_str(names[i]).replace("%", "%%") + ":%s"
                              for i in order) + "}"
    key_at = [names.index(k) for k in key if k in names] if key else []
    encoded_rows: list[str] = []
    encoded_values: list[tuple[str, ...]] = []
    row_keys: list[str] = []
    for row in rows:
        values = tuple([_canonical(v) for v in row])
        encoded_values.append(values)
        encoded_rows.append(template % tuple([values[i] for i in order]))
        if key_at:
            row_keys.append(",".join([values[i] for i in key_at]))
    per_column = list(zip(*encoded_values, strict=True)) if encoded_values else [()] * len(names)
    keyed = None
    if key_at:
        keyed = {names[i]: _hash_sorted([f"{k}\t{v}" for k, v in zip(row_keys, per_column[i],
                                                                      strict=True)])
                 for i in order}
    return TableDigest(
        rows=len(encoded_rows),
        sha256=_hash_sorted(encoded_rows),
        columns={names[i]: _hash_sorted(per_column[i]) for i in order},
        keyed=keyed,
    )


def _hash_sorted(items: Iterable[str]) -> str:
    """sha256 of the items, sorted, each followed by a newline."""
    ordered = sorted(items)
    text = "\n".join(ordered) + "\n" if ordered else ""
    return hashlib.sha256(text.encode()).hexdigest()


def differences(
    before: Mapping[str, TableDigest],
    after: Mapping[str, TableDigest],
    *,
    tables: Iterable[str] | None = None,
    ignore_columns: Iterable[str] = (),
    exact: bool = False,
    may_grow: Iterable[str] = (),
) -> list[str]:
    """What changed between two digests, as readable lines (empty: nothing lost).

    Compares `tables` (default: all tables of `before`). With `exact`, whole rows must match;
    otherwise row counts and every column `before` had (minus `ignore_columns`) must match,
    so columns a migration adds are not counted as changes. Tables in `may_grow` (rewritten
    by a migration, whose new release adds rows of its own at start) may gain rows, not lose
    them; with the same count they are compared like the others.
    """
    ignored = set(ignore_columns)
    growing = set(may_grow)
    lines: list[str] = []
    for table in tables if tables is not None else sorted(before):
        if table not in before:
            continue
        old, new = before[table], after.get(table)
        if new is None:
            lines.append(f"table {table} is missing")
            continue
        if table in growing and new.rows > old.rows:
            continue
        if old.rows != new.rows:
            lines.append(f"table {table}: {old.rows} rows before, {new.rows} after")
        if exact:
            if old.sha256 != new.sha256:
                lines.append(f"table {table}: row contents differ")
            continue
        # Keyed where both digests have it (a value moved between rows shows), else the
        # column's values alone (a digest from before keyed hashes existed).
        keyed = old.keyed is not None and new.keyed is not None
        hashes, now = (old.keyed, new.keyed) if keyed else (old.columns, new.columns)
        for column, value in (hashes or {}).items():
            if column in ignored or f"{table}.{column}" in ignored:
                continue
            if column not in new.columns:
                lines.append(f"table {table}: column {column} is missing")
            elif (now or {}).get(column) != value:
                moved = keyed and new.columns.get(column) == old.columns.get(column)
                lines.append(f"table {table}: values of column {column} "
                             + ("moved between rows" if moved else "differ"))
    return lines


def counts(digest: Mapping[str, TableDigest]) -> dict[str, int]:
    """Row count per table, for people: users 5, groups 2, api_tokens 3, ..."""
    return {table: d.rows for table, d in sorted(digest.items())}
