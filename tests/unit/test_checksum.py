"""The checksum helpers agree with each other and with hashlib, whatever the chunking."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hubshift.integrity.checksum import CHUNK_SIZE, sha256_bytes, sha256_file


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE * 2 + 7])
def test_sha256_file_equals_sha256_bytes_across_chunk_boundaries(tmp_path: Path, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    assert sha256_file(path) == sha256_bytes(data) == hashlib.sha256(data).hexdigest()


def test_sha256_of_empty_input_is_the_known_value() -> None:
    assert sha256_bytes(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def test_sha256_file_raises_for_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        sha256_file(tmp_path / "absent")
