"""What a backup holds, written last so that a backup without a manifest is not a backup.

The manifest carries the sha256 of every file and the row digest of the database at the
moment the hub stopped: a restore checks the first, a verification compares the second.
It never holds a secret: URLs are not written, only the engine name.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, Field

from hubshift.errors import ConfigError
from hubshift.integrity.digest import TableDigest

MANIFEST_NAME = "manifest.json"
FORMAT = 1


class FileEntry(BaseModel):
    name: str = Field(description="File name inside the backup folder")
    size: int = Field(description="Bytes")
    sha256: str


class SavedConfig(BaseModel):
    """One of the hub's `config_files`, and where the backup holds it."""

    path: str = Field(description="Where it lives on the hub's host")
    name: str = Field(description="Its file among `files`: a copy, or a tar of the folder")
    kind: Literal["file", "folder"]


class Manifest(BaseModel):
    format: int = FORMAT
    hub: str
    backup_id: str
    created_at: dt.datetime
    hubshift_version: str
    engine: str = Field(description="sqlite, postgres or mysql")
    from_version: str = Field(description="JupyterHub version that wrote the database")
    from_install: str = Field(description="Where that version was installed (rollback target)")
    to_version: str | None = Field(None, description="Version the upgrade was heading for")
    alembic_revision: str | None
    database_file: str = Field(description="Name of the database dump among `files`")
    files: list[FileEntry]
    config_files: list[SavedConfig] = Field(
        default_factory=list, description="The hub's config_files, each one of `files`")
    digest: dict[str, TableDigest]
    label: str | None = Field(
        None, description="What the backup is for, when not an upgrade's: e.g. the safety "
                          "copy a manual rollback takes of what it replaces")

    def file(self, name: str) -> FileEntry:
        for entry in self.files:
            if entry.name == name:
                return entry
        raise KeyError(name)


#: What `new_backup_id` makes; nothing else names a backup (an id is a folder in the store
#: and on disk, so this also keeps `..` and `/` out of those paths).
BACKUP_ID = re.compile(r"\d{8}T\d{6}Z")


def check_backup_id(value: str, *, where: str = "--backup") -> str:
    """`value` if it is a backup id or `latest`; else ConfigError naming `where`."""
    if value != "latest" and not BACKUP_ID.fullmatch(value):
        raise ConfigError(f"{where}: {value!r} is not a backup id like 20261121T031500Z "
                          "(nor latest); `hubshift backups` lists them")
    return value


def new_backup_id(now: dt.datetime | None = None) -> str:
    """Sortable, readable, unique per hub per second: 20261121T031500Z."""
    moment = (now or dt.datetime.now(dt.timezone.utc)).astimezone(dt.timezone.utc)
    return moment.strftime("%Y%m%dT%H%M%SZ")
