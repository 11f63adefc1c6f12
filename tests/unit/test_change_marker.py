"""SQLite's change marker: the header's change counter and the file's identity, and no
token at all where SQLite does not keep the counter (WAL) or a write is in flight."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from hubshift.backends.databases.sqlite import SQLiteDatabase


def _database(path: Path, journal: str = "DELETE") -> SQLiteDatabase:
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA journal_mode={journal}")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users (name) VALUES ('alice')")
    conn.commit()
    conn.close()
    return SQLiteDatabase(f"sqlite:///{path}")


def _write(path: Path, statement: str) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(statement)
    conn.close()


def test_every_commit_moves_the_marker_and_reading_does_not(tmp_path: Path) -> None:
    db = _database(tmp_path / "jupyterhub.sqlite")
    first = db.change_marker()
    assert first is not None
    db.digest()
    db.dump(tmp_path / "copy.sqlite")
    assert db.change_marker() == first
    # An update of one value in place: same size, same pages; the counter still moves.
    _write(db.path, "UPDATE users SET name = 'alicf' WHERE id = 1")
    second = db.change_marker()
    assert second not in (None, first)


def test_a_file_put_in_its_place_is_another_database(tmp_path: Path) -> None:
    db = _database(tmp_path / "jupyterhub.sqlite")
    first = db.change_marker()
    shutil.copy2(db.path, tmp_path / "other.sqlite")
    (tmp_path / "other.sqlite").replace(db.path)  # same bytes, same counter, same mtime
    assert db.change_marker() != first


def test_no_marker_in_wal_mode_nor_beside_a_journal(tmp_path: Path) -> None:
    wal = _database(tmp_path / "wal.sqlite", journal="WAL")
    assert wal.change_marker() is None
    db = _database(tmp_path / "jupyterhub.sqlite")
    journal = tmp_path / "jupyterhub.sqlite-journal"
    journal.write_bytes(b"\0" * 512)  # a transaction in flight, or one to roll back
    assert db.change_marker() is None
    journal.unlink()
    assert db.change_marker() is not None
    assert SQLiteDatabase(f"sqlite:///{tmp_path / 'missing.sqlite'}").change_marker() is None
