"""What every backup store offers: the small interface the backup, the in-progress record
and prune are written against, whatever holds the objects (an S3 bucket, a folder).

Keys are relative to the store's root (``<hub>/<backup id>/<file>``), ``/``-separated, never
empty nor absolute: a caller never sees where the store really keeps them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from hubshift.errors import StorageError


class ObjectMissing(StorageError):
    """The store is there but holds no object at the key (unlike a missing bucket/folder)."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object, as a listing sees it."""

    key: str  # relative to the store's root
    size: int
    last_modified: datetime  # timezone-aware


class Store(ABC):
    """One backup store. Implementations are safe to share between threads."""

    @abstractmethod
    def describe(self) -> str:
        """Where the store is, for people (``s3://bucket/prefix at <endpoint>``,
        ``file:///srv/backups``). Never holds a credential. Never raises."""

    @abstractmethod
    def put_file(self, key: str, path: Path,
                 progress: Callable[[int], None] | None = None) -> None:
        """Store the file at `path` under `key`, replacing any object there; `progress` is
        called with counts of bytes sent. The object appears whole or not at all. Safe to
        call twice. Raises StorageError, FileNotFoundError if `path` does not exist."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` at `key`, replacing any object there (small objects: manifests,
        records, probes). Whole or not at all. Safe to call twice. Raises StorageError."""

    @abstractmethod
    def get_file(self, key: str, dest: Path) -> Path:
        """Copy `key` to `dest` (parents created) and return `dest`: whole and fsynced, or
        `dest` untouched and no partial file left. Safe to call twice. Raises
        ObjectMissing when there is no such object, StorageError when the store fails."""

    @abstractmethod
    def get_bytes(self, key: str) -> bytes:
        """The whole content of `key`. Raises ObjectMissing, StorageError."""

    @abstractmethod
    def checksum(self, key: str) -> tuple[int, str]:
        """Size and hex sha256 of the stored bytes of `key`, streamed, nothing written.
        Raises ObjectMissing, StorageError."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether an object is stored at exactly `key`. False for a missing object;
        StorageError when the store itself is missing or cannot be asked."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose key starts with `prefix` (a plain string prefix), sorted by
        key; [] when none does. Raises StorageError (e.g. the store is missing)."""

    @abstractmethod
    def list_folders(self, prefix: str = "") -> list[str]:
        """Bare names of the immediate "subfolders" of the folder `prefix` that hold at least
        one object (``physics`` -> ``["b1", "b2"]``), sorted. Raises StorageError."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object at `key`; a missing object is no error, so safe to call twice.
        Raises StorageError when the store fails."""

    @abstractmethod
    def check_writable(self) -> None:
        """Write a probe, read it back, delete it; raises StorageError saying which of the
        three failed (a preflight refuses before any downtime). Safe to call twice."""

    @abstractmethod
    def ensure_bucket(self) -> None:
        """Create the bucket or folder when it does not exist yet (the demo and tests).
        Safe to call twice and against a concurrent creator. Raises StorageError."""

    # -- conditional writes: what the in-progress record, a lock across hosts, needs ----------

    @abstractmethod
    def create_bytes(self, key: str, data: bytes) -> bool:
        """Store `data` at `key` only if no object is there: True if this call wrote it,
        False if one exists already. Atomic across processes and hosts sharing the store
        (exactly one of two racing creators gets True). Raises StorageError."""

    @abstractmethod
    def read_tagged(self, key: str) -> tuple[bytes, str]:
        """The content of `key` and a tag that changes whenever its bytes change (S3: the
        ETag, an MD5 of them), for `replace_bytes`. Raises ObjectMissing, StorageError."""

    @abstractmethod
    def replace_bytes(self, key: str, data: bytes, tag: str) -> bool:
        """Replace `key` with `data` only if its current tag is `tag`: True if replaced,
        False if the object changed or went away since it was read. Atomic against a
        concurrent replace_bytes. Raises StorageError."""

    @abstractmethod
    def honours_conditional_writes(self) -> bool:
        """Whether `create_bytes` and `replace_bytes` really are atomic on this store (an S3
        server may ignore the conditions); preflight warns otherwise. Raises StorageError
        when it cannot tell."""
