"""What restoring a backup over a hub's live database would throw away: per table, the rows
the live database has and the backup lacks (users, tokens, groups made since the backup).

The backup is loaded into a scratch database (`Database.scratch`) and both are read through
the same backend, so rows are matched by primary key with the engine's own values. A table
without a primary key is matched on the columns both sides have. Only rows the backup lacks
are counted: rows the restore changes back are not (a login alone changes a row).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from hubshift.backends.databases import database_for
from hubshift.backends.databases.rows import Rows, TableRows
from hubshift.backup.manifest import Manifest
from hubshift.config import HubConfig
from hubshift.errors import HubshiftError
from hubshift.integrity.digest import canonical

#: Tables whose discarded rows are named, not only counted: who, and what authenticates.
NAMED_TABLES = ("users", "api_tokens", "groups")
#: Up to this many rows of a table are named; beyond, the count says it.
MAX_NAMED = 10


class TableDiscard(BaseModel):
    table: str
    rows: int = Field(description="Rows of the live database the backup lacks")
    names: list[str] = Field(default_factory=list,
                             description=f"Who or what they are (up to {MAX_NAMED})")


class DiscardReport(BaseModel):
    """What a restore of `backup_id` discards; `error` says why it could not be computed."""

    hub: str
    backup_id: str
    tables: list[TableDiscard] = Field(default_factory=list)
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(t.rows for t in self.tables)

    def counts(self) -> dict[str, int]:
        return {t.table: t.rows for t in self.tables}

    def lines(self) -> list[str]:
        """The report for people, one line per table, named tables first."""
        head = f"restoring backup {self.backup_id} over hub {self.hub}'s live database"
        if self.error is not None:
            return [f"{head}: what it discards could not be computed ({self.error})"]
        if not self.tables:
            return [f"{head} discards no row: the live database has none the backup lacks"]
        lines = [f"{head} discards {self.total} row(s) written since the backup:"]
        for entry in self.tables:
            line = f"  {entry.table}: {entry.rows}"
            if entry.names:
                more = entry.rows - len(entry.names)
                line += ": " + ", ".join(entry.names) + (f", and {more} more" if more else "")
            lines.append(line)
        return lines


def what_restore_discards(hub: HubConfig, manifest: Manifest, folder: Path) -> DiscardReport:
    """Compare the hub's live database with backup `manifest` (fetched into `folder`).

    Reads only, while the hub runs. A database that cannot be compared (a server that will not
    create the scratch database) gives a report whose `error` says why, never an exception:
    the safety backup keeps every row either way.
    """
    live_db = database_for(hub.db_url.get_secret_value(), hub=hub.name)
    try:
        live = live_db.rows()
        with live_db.scratch(folder / manifest.database_file) as saved:
            backup = saved.rows()
    except HubshiftError as err:
        return DiscardReport(hub=hub.name, backup_id=manifest.backup_id, error=str(err.message)
                             + (f" (hint: {err.hint})" if err.hint else ""))
    return DiscardReport(hub=hub.name, backup_id=manifest.backup_id,
                         tables=compare(live, backup))


def compare(live: Rows, backup: Rows) -> list[TableDiscard]:
    """Per table of `live`, the rows `backup` lacks (tables with none are left out)."""
    found = []
    for table, rows in sorted(live.items(), key=lambda item: _order(item[0])):
        lacking = _lacking(rows, backup.get(table))
        if not lacking:
            continue
        namer = _NAMERS.get(table)
        names = [namer(row, live) for row in lacking[:MAX_NAMED]] if namer else []
        found.append(TableDiscard(table=table, rows=len(lacking), names=names))
    return found


def _order(table: str) -> tuple[int, str]:
    return (NAMED_TABLES.index(table) if table in NAMED_TABLES else len(NAMED_TABLES), table)


def _lacking(live: TableRows, saved: TableRows | None) -> list[dict[str, Any]]:
    """The rows of `live` with no row of the same key in `saved` (all, if it has no table)."""
    records = live.records()
    if saved is None:
        return records
    columns = [c for c in (live.key or live.columns) if c in saved.columns]
    if not columns or (live.key and len(columns) < len(live.key)):
        return records  # the key changed shape: no row can be matched
    keys = {_key(record, columns) for record in saved.records()}
    return [record for record in records if _key(record, columns) not in keys]


def _key(record: Mapping[str, Any], columns: list[str]) -> tuple[str, ...]:
    # Canonical text: hashable whatever the driver returns (memoryview for bytea, ...).
    return tuple(canonical(record[c]) for c in columns)


def _user_name(live: Rows, user_id: Any) -> str | None:
    users = live.get("users")
    for record in users.records() if users else []:
        if record.get("id") == user_id:
            return str(record.get("name"))
    return None


def _token(row: Mapping[str, Any], live: Rows) -> str:
    """`token 12 of alice ("for CI")`: its id, owner and note, never any part of its value."""
    owner = _user_name(live, row.get("user_id")) if row.get("user_id") is not None else None
    text = f"token {row.get('id')}"
    if owner:
        text += f" of {owner}"
    elif row.get("service_id") is not None:
        text += f" of service {row.get('service_id')}"
    return text + (f" ({row['note']!r})" if row.get("note") else "")


_NAMERS: dict[str, Callable[[Mapping[str, Any], Rows], str]] = {
    "users": lambda row, _: str(row.get("name")),
    "groups": lambda row, _: str(row.get("name")),
    "api_tokens": _token,
}
