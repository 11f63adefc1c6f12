"""SHA-256 of files and bytes, the one checksum every manifest and restore agrees on.

Files are read in fixed chunks so that hashing a multi-gigabyte database dump costs
the same little memory as hashing a config file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

#: Read size when hashing a file: large enough to be fast, small enough to stay bounded.
CHUNK_SIZE = 1024 * 1024


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of the file at `path`, read in 1 MiB chunks.

    Raises OSError (e.g. FileNotFoundError) if the file cannot be read.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of `data`; equal to `sha256_file` of a file holding exactly `data`."""
    return hashlib.sha256(data).hexdigest()
