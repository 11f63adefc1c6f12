"""The backup store: objects on any S3-compatible server (AWS S3, MinIO, Ceph, moto).

Backups are only as good as the store they land in, so this module is strict at its edge:
every botocore/boto3 error becomes a StorageError that names the bucket and key, says what
the operator can do about it, and never quotes a credential. Keys are always relative to the
configured prefix (``s3://bucket/<prefix>/<key>``), so callers never see or build full keys.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ParamValidationError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from pydantic import Field, SecretStr, ValidationInfo, field_validator

from hubshift.backends.filestore import FileStore
from hubshift.backends.store_base import ObjectInfo, ObjectMissing, Store
from hubshift.errors import StorageError
from hubshift.integrity.checksum import CHUNK_SIZE
from hubshift.model import StrictModel
from hubshift.system.redact import redact, safe_url

#: Seconds to open a connection: an endpoint that is down should fail a preflight fast.
CONNECT_TIMEOUT = 5.0
#: Seconds to wait for a response; generous, as a part upload waits on the server's disk.
READ_TIMEOUT = 60.0
#: Attempts per request (1 + retries) with botocore's "standard" backoff (< 1 s, 2 s, ...).
MAX_ATTEMPTS = 3

#: Above this size uploads and downloads go in parts, several at once, memory bounded by
#: roughly chunk size x concurrency whatever the size of the file.
MULTIPART_THRESHOLD = 8 * 1024 * 1024
MULTIPART_CHUNKSIZE = 8 * 1024 * 1024
MAX_CONCURRENCY = 4

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
#: A conditional write lost: the object is there (412), or another conditional write of the
#: same key was in flight (409, AWS asks to retry; here the other writer simply won).
_CONDITION_FAILED = {"PreconditionFailed", "412", "ConditionalRequestConflict", "409"}
_DENIED = {
    "403", "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "InvalidClientTokenId",
}

#: What S3 and the S3-compatible servers accept as a bucket name (loosely: some allow '_').
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]")

HINT_NO_BUCKET = "create the bucket or fix storage.url"
HINT_UNREACHABLE = "is the S3 endpoint up? check storage.endpoint_url and the network"
HINT_DENIED = (
    "check storage.access_key_id/secret_access_key (or the AWS credential chain) "
    "and the bucket's policy"
)
HINT_NO_CREDENTIALS = (
    "set storage.access_key_id and storage.secret_access_key, or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or another source of the AWS credential chain"
)


class StorageConfig(StrictModel):
    """The fleet file's `storage:` section."""

    url: str = Field(description="Where backups go: s3://bucket/prefix, or file:///folder "
                     "(a local disk or an NFS mount)")
    endpoint_url: str | None = Field(
        None, description="S3-compatible endpoint (MinIO, Ceph, moto); empty for AWS S3"
    )
    region: str | None = Field(None, description="S3 region name")
    access_key_id: SecretStr | None = Field(
        None, description="S3 access key; empty to use the standard AWS credential chain"
    )
    secret_access_key: SecretStr | None = Field(None, description="S3 secret key")
    credentials_block: str | None = Field(
        None, description="A Prefect AwsCredentials block (prefect-aws) holding the keys "
        "(and region, endpoint), instead of access_key_id/secret_access_key")

    @field_validator("url")
    @classmethod
    def _store_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "s3" and parts.netloc:
            if not _BUCKET.fullmatch(parts.netloc):
                raise ValueError(f"{parts.netloc!r} is not a bucket name (3-63 letters, "
                                 "digits, '.', '-' or '_')")
            return value
        path = unquote(parts.path)
        if (parts.scheme == "file" and parts.netloc in ("", "localhost")
                and os.path.isabs(path) and os.path.normpath(path) != "/"):
            return value
        raise ValueError(f"must look like s3://bucket/prefix or file:///absolute/folder, "
                         f"got {value!r}")

    @field_validator("endpoint_url", "region", "access_key_id", "secret_access_key",
                     "credentials_block")
    @classmethod
    def _s3_only(cls, value: Any, info: ValidationInfo) -> Any:
        url = info.data.get("url")
        if value is not None and isinstance(url, str) and urlsplit(url).scheme == "file":
            raise ValueError("is for s3:// stores only: a file:// store takes none")
        return value

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        """An http(s) URL with a host, or empty for AWS S3; shown without its password."""
        if not value:
            return None
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise ValueError(f"{safe_url(value)} is not a URL with a valid port") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"must be an http(s) URL like http://127.0.0.1:9000, got "
                             f"{safe_url(value) if parts.password else repr(value)}")
        return value

    @property
    def scheme(self) -> str:
        """`s3` or `file`: which backend `store_for` makes."""
        return urlsplit(self.url).scheme

    @property
    def bucket(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def prefix(self) -> str:
        return urlsplit(self.url).path.strip("/")


class BackupStore:
    """Objects under ``s3://<bucket>/<prefix>/`` on one S3-compatible server.

    One instance may be shared by threads (boto3 clients are thread-safe).
    """

    def __init__(self, config: StorageConfig) -> None:
        self.config = config
        self.bucket = config.bucket
        self.prefix = config.prefix
        # Values that must never appear in a message, whatever botocore puts in its own.
        self._secrets = [
            s.get_secret_value()
            for s in (config.access_key_id, config.secret_access_key)
            if s is not None
        ]
        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_CHUNKSIZE,
            max_concurrency=MAX_CONCURRENCY,
        )
        with self._translating("connect to", None):
            self._client = self._make_client(config)
        self._conditional: bool | None = None

    @staticmethod
    def _make_client(config: StorageConfig) -> Any:
        # No explicit keys -> None, and boto3 falls back to env, profile, instance role...
        session = boto3.session.Session(
            aws_access_key_id=_reveal(config.access_key_id),
            aws_secret_access_key=_reveal(config.secret_access_key),
            region_name=config.region,
        )
        options: dict[str, Any] = {
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "retries": {"max_attempts": MAX_ATTEMPTS, "mode": "standard"},
        }
        region = session.region_name
        if config.endpoint_url:
            # MinIO, Ceph and moto serve buckets under the path, not as DNS subdomains.
            options["s3"] = {"addressing_style": "path"}
            region = region or "us-east-1"
            # boto3 >= 1.36 sends CRC checksums by default, which many S3-compatible servers
            # reject; integrity is checked end to end by our own sha256 manifest instead.
            if "request_checksum_calculation" in Config.OPTION_DEFAULTS:
                options["request_checksum_calculation"] = "when_required"
                options["response_checksum_validation"] = "when_required"
        return session.client(
            "s3",
            endpoint_url=config.endpoint_url or None,
            region_name=region,
            config=Config(**options),
        )

    # -- keys ---------------------------------------------------------------------------

    def _full(self, key: str) -> str:
        """The bucket key for relative `key`; an empty or absolute key is a caller's bug."""
        if not key or key.startswith("/"):
            raise ValueError(f"storage keys are relative and non-empty, got {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    @property
    def _base(self) -> str:
        """What every full key starts with: the prefix and its slash."""
        return f"{self.prefix}/" if self.prefix else ""

    def _where(self, key: str | None) -> str:
        path = self._full(key) if key else self.prefix
        return f"s3://{self.bucket}/{path}" if path else f"s3://{self.bucket}"

    # -- the interface --------------------------------------------------------------------

    def describe(self) -> str:
        """Where the store is, for humans: ``s3://bucket/prefix at <endpoint>``.

        Never contains credentials (a password in the endpoint URL is masked). Never raises.
        """
        where = self._where(None)
        if self.config.endpoint_url:
            return f"{where} at {safe_url(self.config.endpoint_url)}"
        region = f", region {self.config.region}" if self.config.region else ""
        return f"{where} (AWS S3{region})"

    def put_file(self, key: str, path: Path,
                 progress: Callable[[int], None] | None = None) -> None:
        """Upload the file at `path` to `key`, replacing any object there; `progress` is
        called with each count of bytes sent (from the transfer's threads).

        Big files go up as a multipart upload (parts sent in parallel, memory bounded), and
        the object only appears once every part has arrived: a failed upload leaves no
        partial object. Safe to call twice. Raises StorageError if the store fails and
        FileNotFoundError if `path` does not exist.
        """
        if not Path(path).is_file():
            raise FileNotFoundError(f"cannot upload {path}: no such file")
        with self._translating("upload to", key):
            self._client.upload_file(
                str(path), self.bucket, self._full(key), Config=self._transfer,
                Callback=progress,
            )

    def put_bytes(self, key: str, data: bytes) -> None:
        """Store `data` at `key` in a single request, replacing any object there.

        Meant for small objects (manifests, probes). Safe to call twice. Raises StorageError.
        """
        with self._translating("write", key):
            self._client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)

    def create_bytes(self, key: str, data: bytes) -> bool:
        """Store `data` at `key` only if no object is there (``If-None-Match: *``).

        True if written, False if an object was there (or another writer was creating it at
        the same moment). Atomic on servers that honour conditional writes (AWS S3, MinIO,
        moto); a server that ignores them overwrites: see `honours_conditional_writes`.
        Raises StorageError if the store fails.
        """
        try:
            with self._translating("create", key):
                self._client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data,
                                        IfNoneMatch="*")
        except StorageError as err:
            if _code(err.__cause__) in _CONDITION_FAILED:
                return False
            raise
        return True

    def read_tagged(self, key: str) -> tuple[bytes, str]:
        """The content of `key` and its ETag, the tag `replace_bytes` compares.

        Raises ObjectMissing if there is no object, StorageError if the store fails.
        """
        with self._translating("read", key):
            response = self._client.get_object(Bucket=self.bucket, Key=self._full(key))
            return response["Body"].read(), str(response["ETag"])

    def replace_bytes(self, key: str, data: bytes, tag: str) -> bool:
        """Replace the object at `key` only if its ETag still is `tag` (``If-Match``).

        True if replaced; False if the object changed or went since `tag` was read. Raises
        StorageError if the store fails.
        """
        try:
            with self._translating("replace", key):
                self._client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data,
                                        IfMatch=tag)
        except StorageError as err:
            if isinstance(err, ObjectMissing) or _code(err.__cause__) in _CONDITION_FAILED:
                return False
            raise
        return True

    def honours_conditional_writes(self) -> bool:
        """Whether the server refuses a second `create_bytes` of the same key.

        Asked once per store with a probe object (written twice, then deleted): rclone's
        `serve s3`, for one, ignores the condition and overwrites. Raises StorageError.
        """
        if self._conditional is None:
            key = f".hubshift-probe-{uuid.uuid4().hex}"
            try:
                self.create_bytes(key, b"first")
                self._conditional = not self.create_bytes(key, b"second")
            finally:
                with suppress(StorageError):
                    self.delete(key)
        return self._conditional

    def get_file(self, key: str, dest: Path) -> Path:
        """Download `key` to `dest` and return `dest`.

        The data goes to ``<dest>.part`` first and is fsynced and renamed only when complete,
        so `dest` is either the whole object or untouched, and no ``.part`` file is left on
        failure. Creates `dest`'s parent directories. Safe to call twice. Raises StorageError
        naming the key if there is no such object or the store fails.
        """
        dest = Path(dest)
        part = dest.with_name(dest.name + ".part")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._translating("download", key):
                self._client.download_file(
                    self.bucket, self._full(key), str(part), Config=self._transfer
                )
            # A restore may follow at once: the bytes must be on disk before the rename.
            with open(part, "rb+") as handle:
                os.fsync(handle.fileno())
            os.replace(part, dest)
        finally:
            part.unlink(missing_ok=True)
        return dest

    def get_bytes(self, key: str) -> bytes:
        """The whole content of `key`, read into memory (for small objects such as manifests).

        Raises StorageError naming the key if there is no such object or the store fails.
        """
        with self._translating("read", key):
            response = self._client.get_object(Bucket=self.bucket, Key=self._full(key))
            return response["Body"].read()

    def checksum(self, key: str) -> tuple[int, str]:
        """Size and hex sha256 of the object at `key`, hashed as its bytes stream in.

        Reads the object in 1 MiB chunks and writes nothing, so checking a fresh backup
        costs one download and no disk. Raises StorageError naming the key if there is no
        such object or the store fails, mid-stream included.
        """
        digest = hashlib.sha256()
        size = 0
        with self._translating("read", key):
            response = self._client.get_object(Bucket=self.bucket, Key=self._full(key))
            body = response["Body"]
            try:
                while chunk := body.read(CHUNK_SIZE):
                    digest.update(chunk)
                    size += len(chunk)
            finally:
                body.close()
        return size, digest.hexdigest()

    def exists(self, key: str) -> bool:
        """Whether an object is stored at exactly `key`.

        Returns False for a missing object; raises StorageError if the bucket itself is
        missing or the store cannot be asked (a missing bucket is not "no backup").
        """
        try:
            with self._translating("look up", key):
                self._client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ObjectMissing:
            return False
        return True

    def list(self, prefix: str = "") -> list[ObjectInfo]:
        """Every object whose relative key starts with `prefix` (a plain string prefix).

        Reads all pages (S3 returns at most 1000 keys per request); sorted by key.
        Returns [] when nothing matches. Raises StorageError (e.g. the bucket is missing).
        """
        found: list[ObjectInfo] = []
        base = self._base
        with self._translating("list", prefix or None):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=base + prefix
            )
            for page in pages:
                for item in page.get("Contents", []):
                    found.append(
                        ObjectInfo(
                            key=item["Key"][len(base):],
                            size=int(item["Size"]),
                            last_modified=item["LastModified"],
                        )
                    )
        return sorted(found, key=lambda info: info.key)

    def list_folders(self, prefix: str = "") -> list[str]:
        """Names of the immediate "subfolders" of the folder `prefix` (e.g. one per backup).

        ``list_folders("physics")`` with objects ``physics/b1/x`` and ``physics/b2/y``
        returns ``["b1", "b2"]``: bare names, no slashes, sorted; objects directly inside
        the folder are not folders. Raises StorageError.
        """
        folder = self._base + (prefix.strip("/") + "/" if prefix.strip("/") else "")
        names: list[str] = []
        with self._translating("list", prefix or None):
            pages = self._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=folder, Delimiter="/"
            )
            for page in pages:
                for common in page.get("CommonPrefixes", []):
                    names.append(common["Prefix"][len(folder):].rstrip("/"))
        return sorted(names)

    def delete(self, key: str) -> None:
        """Remove the object at `key`.

        Deleting a missing object succeeds (S3 semantics), so this is safe to call twice.
        Raises StorageError if the store fails.
        """
        with self._translating("delete", key):
            self._client.delete_object(Bucket=self.bucket, Key=self._full(key))

    def check_writable(self) -> None:
        """Prove the store accepts backups: write a small probe, read it back, delete it.

        Leaves no probe behind when it can delete it. Raises StorageError saying which of
        the three steps failed, so a preflight refuses before any downtime.
        """
        key = f".hubshift-probe-{uuid.uuid4().hex}"
        payload = f"hubshift write check {key}\n".encode()
        try:
            self.put_bytes(key, payload)
            if self.get_bytes(key) != payload:
                raise StorageError(
                    f"{self._where(key)} came back different from what was written",
                    hint="the S3 server or a proxy in front of it alters objects",
                )
        except StorageError:
            # Clean up if we can, but the first failure is the one worth reporting.
            with suppress(StorageError):
                self.delete(key)
            raise
        self.delete(key)

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (the demo and tests start empty).

        Safe to call twice, and safe against a concurrent creator. Raises StorageError if
        the bucket cannot be created (no permission, name taken by another account).
        """
        if self._bucket_exists():
            return
        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        region = self._client.meta.region_name
        # us-east-1 is the one region that refuses an explicit location constraint.
        if region and region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            with self._translating("create bucket", None):
                self._client.create_bucket(**kwargs)
        except StorageError as err:
            if _code(err.__cause__) != "BucketAlreadyOwnedByYou":
                raise

    # -- errors ---------------------------------------------------------------------------

    def _bucket_exists(self) -> bool:
        """True if the bucket exists; False if not; StorageError if we cannot tell."""
        try:
            with self._translating("look up bucket", None):
                self._client.head_bucket(Bucket=self.bucket)
        except StorageError as err:
            if _code(err.__cause__) in _NOT_FOUND | _NO_BUCKET:
                return False
            raise
        return True

    @contextmanager
    def _translating(self, action: str, key: str | None) -> Iterator[None]:
        """Turn any boto error inside the block into a StorageError about `key`."""
        try:
            yield
        except (BotoCoreError, ClientError, Boto3Error) as err:
            # A HEAD answers a bare 404 for a missing bucket too: ask which one is missing.
            no_bucket = False
            if key is not None and _code(err) in _NOT_FOUND:
                with suppress(StorageError):
                    no_bucket = not self._bucket_exists()
            raise self._error(action, key, err, no_bucket) from err

    def _error(
        self, action: str, key: str | None, err: BaseException, no_bucket: bool = False
    ) -> StorageError:
        cause = _root(err)
        where = self._where(key)
        endpoint = safe_url(self.config.endpoint_url) if self.config.endpoint_url else "AWS S3"
        code = _code(cause)
        hint: str | None = None
        if code in _NO_BUCKET or no_bucket:
            detail, hint = f"bucket {self.bucket!r} does not exist", HINT_NO_BUCKET
        elif code in _NOT_FOUND and key is not None:
            message = f"cannot {action} {where} ({endpoint}): no object with key {key!r}"
            return ObjectMissing(redact(message, self._secrets))
        elif code in _NOT_FOUND:
            detail, hint = f"bucket {self.bucket!r} not found", HINT_NO_BUCKET
        elif code in _DENIED:
            detail, hint = f"access denied ({code})", HINT_DENIED
        elif isinstance(cause, ClientError):
            message = cause.response.get("Error", {}).get("Message", "")
            detail = f"{code}: {message}" if message else str(code)
        elif isinstance(cause, (EndpointConnectionError, ConnectTimeoutError,
                                ConnectionClosedError)):
            detail, hint = f"cannot connect to {endpoint}", HINT_UNREACHABLE
        elif isinstance(cause, ReadTimeoutError):
            detail = f"{endpoint} did not answer within {READ_TIMEOUT:.0f} s"
            hint = HINT_UNREACHABLE
        elif isinstance(cause, (NoCredentialsError, PartialCredentialsError)):
            detail, hint = "no usable S3 credentials", HINT_NO_CREDENTIALS
        elif isinstance(cause, ParamValidationError):
            detail, hint = str(cause), "check storage.url (bucket names: a-z, 0-9, -, .)"
        else:
            detail = f"{type(cause).__name__}: {cause}"
        message = f"cannot {action} {where} ({endpoint}): {detail}"
        return StorageError(redact(message, self._secrets), hint=hint)


def _reveal(secret: Any) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def _root(err: BaseException) -> BaseException:
    """The botocore error behind boto3's wrappers (S3UploadFailedError keeps it as context)."""
    seen = err
    while isinstance(seen, Boto3Error):
        inner = seen.__cause__ or seen.__context__
        if inner is None:
            break
        seen = inner
    return seen


def _code(err: BaseException | None) -> str:
    """The S3 error code of a ClientError ('NoSuchKey', '404', ...), else ''."""
    err = _root(err) if err is not None else None
    if isinstance(err, ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return ""


# The S3 store implements the whole interface (registered, not inherited, so that its
# class stays as it is written above).
Store.register(BackupStore)

#: Store backends by the scheme of `storage.url`: adding one never edits a caller.
STORES: dict[str, Callable[[StorageConfig], Store]] = {
    "s3": BackupStore,
    "file": FileStore.from_config,
}


@functools.lru_cache(maxsize=16)
def store_for(config: StorageConfig) -> Store:
    """The store of `config`, made once per process: a boto3 client takes tens of
    milliseconds to build, and some calls happen while a hub is down. Stores are
    thread-safe, so one serves every hub of a fleet run."""
    return STORES[config.scheme](config)
