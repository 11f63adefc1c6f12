"""The backup store in a folder: a local disk or an NFS mount (``file:///srv/backups``).

Many hubs (TLJH on one VM) have no S3. A folder gives the same promises as the S3 store:
an object appears whole or not at all (written to a temporary name in the same folder,
fsynced, then renamed or linked, then the folder fsynced), it is private (files 0600,
folders 0700), and every OSError becomes a StorageError naming the path. The in-progress
record's conditional writes hold across hosts sharing the folder: `create_bytes` relies on
`link(2)` failing when the name exists, `replace_bytes` on a POSIX lock (`lockf`, which NFS
servers honour) taken on a side file next to the object.

The root folder itself is never created by a write, only by `ensure_bucket`: a share that is
not mounted must fail loudly, not fill the disk under its mount point.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from hubshift.backends.store_base import ObjectInfo, ObjectMissing, Store
from hubshift.errors import StorageError
from hubshift.integrity.checksum import CHUNK_SIZE
from hubshift.system import paths

if TYPE_CHECKING:
    from hubshift.backends.storage import StorageConfig

#: Names the store keeps for itself beside objects; never listed, never valid in a key.
PART_PREFIX = ".hubshift-part-"
LOCK_PREFIX = ".hubshift-lock-"
_INTERNAL = (PART_PREFIX, LOCK_PREFIX)

HINT_NO_FOLDER = ("create the folder (or mount the share) or fix storage.url; "
                  "`hubshift demo` creates its own")
HINT_DENIED = "the user running hubshift must be able to write the folder"

#: POSIX locks belong to a process, not a thread, and closing any descriptor of a file drops
#: them all: one process-wide lock around every use of a side file keeps threads apart.
_LOCAL = threading.Lock()


def folder_of(url: str) -> Path:
    """The folder a ``file:///absolute/path`` URL names (percent-escapes decoded)."""
    return Path(os.path.normpath(unquote(urlsplit(url).path)))


class FileStore(Store):
    """Objects as files under one root folder; keys are paths relative to it."""

    def __init__(self, root: Path) -> None:
        if not root.is_absolute():
            raise ValueError(f"a file store's folder must be absolute, got {root}")
        self.root = root

    @classmethod
    def from_config(cls, config: StorageConfig) -> FileStore:
        return cls(folder_of(config.url))

    # -- paths ------------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        """The file of `key`; a key that could leave the root is a caller's bug."""
        parts = key.split("/")
        if not key or key.startswith("/") or any(
                p in ("", ".", "..") or p.startswith(_INTERNAL) for p in parts):
            raise ValueError(f"storage keys are relative, non-empty paths, got {key!r}")
        return self.root.joinpath(*parts)

    def _where(self, key: str | None) -> str:
        return f"file://{self._path(key) if key else self.root}"

    def _need_root(self) -> None:
        """StorageError when the root folder is not there (unmounted share, typo)."""
        if not self.root.is_dir():
            raise StorageError(f"{self.describe()}: the folder {self.root} does not exist",
                               hint=HINT_NO_FOLDER)

    @contextmanager
    def _translating(self, action: str, key: str | None) -> Iterator[None]:
        """Turn an OSError inside the block into a StorageError (ObjectMissing for a key
        whose file is not there while the root is)."""
        try:
            yield
        except FileNotFoundError as err:
            self._need_root()
            if key is None:
                raise StorageError(f"cannot {action} {self._where(None)}: {err}") from err
            raise ObjectMissing(f"cannot {action} {self._where(key)}: no object with key "
                                f"{key!r}") from err
        except OSError as err:
            hint = HINT_DENIED if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else (
                "free space on the backup disk" if err.errno == errno.ENOSPC else None)
            raise StorageError(f"cannot {action} {self._where(key)}: {err.strerror or err}",
                               hint=hint) from err

    def _make_folders(self, folder: Path) -> None:
        """Create `folder` and the levels between it and the root, each private (0700)."""
        self._need_root()
        current = self.root
        for part in folder.relative_to(self.root).parts:
            current = current / part
            try:
                current.mkdir(mode=0o700)
            except FileExistsError:
                continue
            os.chmod(current, 0o700)  # mkdir's mode is masked by the umask

    def _write_new(self, key: str, fill: Callable[[int], None],
                   publish: Callable[[Path, Path], bool]) -> bool:
        """Write a private temporary file beside `key`'s (`fill(fd)` writes it), fsync it,
        `publish(temp, target)` it, fsync the folder; the temporary file never outlives
        the call. Returns what `publish` returned."""
        target = self._path(key)
        for attempt in range(3):
            self._make_folders(target.parent)
            temp = target.parent / f"{PART_PREFIX}{uuid.uuid4().hex}"
            try:
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileNotFoundError:
                if attempt == 2:
                    raise
                continue  # a delete removed the (empty) folder just now: make it again
            try:
                try:
                    fill(fd)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                done = publish(temp, target)
                paths.fsync(target.parent)
                return done
            finally:
                temp.unlink(missing_ok=True)
        raise AssertionError("unreachable")

    # -- the interface ----------------------------------------------------------------------

    def describe(self) -> str:
        return f"file://{self.root}"

    def put_file(self, key: str, path: Path,
                 progress: Callable[[int], None] | None = None) -> None:
        if not Path(path).is_file():
            raise FileNotFoundError(f"cannot upload {path}: no such file")

        def fill(fd: int) -> None:
            with open(path, "rb") as source:
                while chunk := source.read(CHUNK_SIZE):
                    _write_all(fd, chunk)
                    if progress is not None:
                        progress(len(chunk))

        with self._translating("write", key):
            self._write_new(key, fill, _replace)

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._translating("write", key):
            self._write_new(key, lambda fd: _write_all(fd, data), _replace)

    def get_file(self, key: str, dest: Path) -> Path:
        dest = Path(dest)
        source_path = self._path(key)
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._translating("read", key), open(source_path, "rb") as source:
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    while chunk := source.read(CHUNK_SIZE):
                        _write_all(fd, chunk)
                    os.fsync(fd)  # a restore may follow at once
                finally:
                    os.close(fd)
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)
        return dest

    def get_bytes(self, key: str) -> bytes:
        with self._translating("read", key):
            return self._path(key).read_bytes()

    def checksum(self, key: str) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        with self._translating("read", key), open(self._path(key), "rb") as handle:
            while chunk := handle.read(CHUNK_SIZE):
                digest.update(chunk)
                size += len(chunk)
        return size, digest.hexdigest()

    def exists(self, key: str) -> bool:
        path = self._path(key)
        self._need_root()
        return path.is_file()

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        self._need_root()
        # Walk only the folder the prefix is certainly inside ("physics/b" -> physics/).
        start = self.root.joinpath(*prefix.split("/")[:-1]) if "/" in prefix else self.root
        found: list[ObjectInfo] = []
        with self._translating("list", None):
            for folder, dirs, files in os.walk(start):
                dirs[:] = [d for d in dirs if not d.startswith(_INTERNAL)]
                for name in files:
                    if name.startswith(_INTERNAL):
                        continue
                    path = Path(folder) / name
                    key = path.relative_to(self.root).as_posix()
                    if not key.startswith(prefix):
                        continue
                    with suppress(FileNotFoundError):  # deleted while we walked
                        stat = path.stat()
                        found.append(ObjectInfo(
                            key=key, size=stat.st_size,
                            last_modified=dt.datetime.fromtimestamp(stat.st_mtime,
                                                                    tz=dt.timezone.utc)))
        return sorted(found, key=lambda info: info.key)

    def list_folders(self, prefix: str = "") -> list[str]:
        self._need_root()
        inner = prefix.strip("/")
        folder = self.root.joinpath(*inner.split("/")) if inner else self.root
        if not folder.is_dir():
            return []
        with self._translating("list", inner or None):
            return sorted(entry.name for entry in os.scandir(folder)
                          if entry.is_dir(follow_symlinks=False)
                          and not entry.name.startswith(_INTERNAL)
                          and _holds_objects(Path(entry.path)))

    def delete(self, key: str) -> None:
        path = self._path(key)
        self._need_root()
        with self._translating("delete", key), self._locked(path, create=False):
            try:
                path.unlink()
            except FileNotFoundError:
                pass  # deleting nothing succeeds, as on S3
            else:
                paths.fsync(path.parent)
        # S3 has no folders: an emptied backup folder goes too (best effort; a writer that
        # races us makes it again).
        folder = path.parent
        while folder != self.root:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent

    def check_writable(self) -> None:
        key = f".hubshift-probe-{uuid.uuid4().hex}"
        payload = f"hubshift write check {key}\n".encode()
        try:
            self.put_bytes(key, payload)
            if self.get_bytes(key) != payload:
                raise StorageError(f"{self._where(key)} came back different from what was "
                                   "written", hint="the disk or the share alters files")
        except StorageError:
            with suppress(StorageError, OSError):
                self.delete(key)
            raise
        self.delete(key)

    def ensure_bucket(self) -> None:
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot create {self.describe()}: {err.strerror or err}",
                               hint=HINT_DENIED) from err

    # -- conditional writes -------------------------------------------------------------------

    def create_bytes(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        with self._translating("create", key):
            self._make_folders(path.parent)
            # The side file exists from the first write on, so a delete always takes the
            # lock a replace_bytes holds (see `_locked`).
            _touch(_lock_path(path))
            return self._write_new(key, lambda fd: _write_all(fd, data), _link)

    def read_tagged(self, key: str) -> tuple[bytes, str]:
        with self._translating("read", key), open(self._path(key), "rb") as handle:
            data = handle.read()
            return data, _tag(os.fstat(handle.fileno()), data)

    def replace_bytes(self, key: str, data: bytes, tag: str) -> bool:
        path = self._path(key)
        self._need_root()
        if not path.parent.is_dir():
            return False  # nothing there to replace
        with self._translating("replace", key), self._locked(path, create=True):
            try:
                with open(path, "rb") as handle:
                    current = _tag(os.fstat(handle.fileno()), handle.read())
            except FileNotFoundError:
                return False
            if current != tag:
                return False
            return self._write_new(key, lambda fd: _write_all(fd, data), _replace)

    def honours_conditional_writes(self) -> bool:
        return True

    @contextmanager
    def _locked(self, path: Path, *, create: bool) -> Iterator[None]:
        """Hold the lock of `path`'s side file, across processes and hosts (POSIX lock) and
        threads (`_LOCAL`). Without `create`, no side file means no conditional writer
        has ever used this key: nothing to hold."""
        with _LOCAL:
            flags = os.O_RDWR | (os.O_CREAT if create else 0)
            try:
                fd = os.open(_lock_path(path), flags, 0o600)
            except FileNotFoundError:
                if create:
                    raise
                yield
                return
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX)
                yield
            finally:
                os.close(fd)  # releases the lock


def _lock_path(path: Path) -> Path:
    return path.with_name(f"{LOCK_PREFIX}{path.name}")


def _tag(stat: os.stat_result, data: bytes) -> str:
    """Changes whenever the object is replaced: every write is a new file (new inode, new
    time), and the content is in it too, as an S3 ETag is."""
    return f"{stat.st_ino}-{stat.st_mtime_ns}-{hashlib.sha256(data).hexdigest()[:16]}"


def _replace(temp: Path, target: Path) -> bool:
    os.replace(temp, target)
    return True


def _link(temp: Path, target: Path) -> bool:
    """Give `temp` the name `target` unless the name exists (link fails then, atomically,
    on local disks and NFS alike)."""
    try:
        os.link(temp, target)
    except FileExistsError:
        # Over NFS a link whose reply was lost is retried and fails with EEXIST although it
        # worked: then the temporary file has two names.
        return os.stat(temp).st_nlink == 2
    return True


def _touch(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _holds_objects(folder: Path) -> bool:
    """Whether any object (not only the store's own side files) lies under `folder`."""
    for _, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(_INTERNAL)]
        if any(not name.startswith(_INTERNAL) for name in files):
            return True
    return False
