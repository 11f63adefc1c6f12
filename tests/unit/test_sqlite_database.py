"""The SQLite backend: consistent copies, revisions, digests, and all-or-nothing restores."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hubshift.backends.databases import database_for
from hubshift.backends.databases.sqlite import SQLiteDatabase, file_digest
from hubshift.errors import ConfigError, DatabaseError
from hubshift.integrity.checksum import sha256_file


def _make(path: Path, users: list[str], revision: str | None = "0eee8c825d24") -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT, admin BOOLEAN)")
        conn.executemany("INSERT INTO users (name, admin) VALUES (?, ?)",
                         [(u, u == "admin") for u in users])
        if revision:
            conn.execute("CREATE TABLE alembic_version (version_num VARCHAR(32))")
            conn.execute("INSERT INTO alembic_version VALUES (?)", (revision,))
    return path


def test_the_url_scheme_picks_the_backend(tmp_path: Path) -> None:
    db = database_for(f"sqlite:///{tmp_path}/jupyterhub.sqlite")
    assert isinstance(db, SQLiteDatabase) and db.path == tmp_path / "jupyterhub.sqlite"
    assert db.can_downgrade is False
    with pytest.raises(ConfigError, match="'oracle' is not supported"):
        database_for("oracle://scott:tiger@db/hub")


def test_dump_is_a_consistent_copy_with_the_same_digest(tmp_path: Path) -> None:
    db = SQLiteDatabase(f"sqlite:///{_make(tmp_path / 'hub.sqlite', ['admin', 'alice'])}")
    copy = db.dump(tmp_path / "backup" / "jupyterhub.sqlite")
    assert not copy.with_name(copy.name + ".tmp").exists()
    assert file_digest(copy) == (db.revision(), db.digest())
    assert db.revision() == "0eee8c825d24"
    assert db.digest()["users"].rows == 2
    assert "alembic_version" not in db.digest()


def test_dump_works_while_another_connection_holds_a_write_lock(tmp_path: Path) -> None:
    path = _make(tmp_path / "hub.sqlite", ["alice"])
    writer = sqlite3.connect(path)
    writer.execute("BEGIN")
    writer.execute("INSERT INTO users (name, admin) VALUES ('uncommitted', 0)")
    try:
        copy = SQLiteDatabase(f"sqlite:///{path}").dump(tmp_path / "copy.sqlite")
    finally:
        writer.rollback()
        writer.close()
    assert file_digest(copy)[1]["users"].rows == 1  # the committed state, nothing half-done


def test_restore_replaces_the_database_with_the_dump(tmp_path: Path) -> None:
    db = SQLiteDatabase(f"sqlite:///{_make(tmp_path / 'hub.sqlite', ['admin', 'alice'])}")
    saved = db.dump(tmp_path / "saved.sqlite")
    before = db.digest()
    with sqlite3.connect(db.path) as conn:
        conn.execute("DELETE FROM users")
        conn.execute("UPDATE alembic_version SET version_num = '4621fec11365'")
    db.restore(saved)
    db.restore(saved)  # safe twice
    assert db.digest() == before and db.revision() == "0eee8c825d24"


def test_restore_refuses_a_damaged_dump_and_leaves_the_database(tmp_path: Path) -> None:
    db = SQLiteDatabase(f"sqlite:///{_make(tmp_path / 'hub.sqlite', ['alice'])}")
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\x17" * 4096)
    original = sha256_file(db.path)
    with pytest.raises(DatabaseError):
        db.restore(damaged)
    assert sha256_file(db.path) == original


def test_a_missing_file_is_reported_not_created(tmp_path: Path) -> None:
    db = SQLiteDatabase(f"sqlite:///{tmp_path / 'absent.sqlite'}")
    assert not db.exists()
    with pytest.raises(DatabaseError, match="does not exist"):
        db.revision()
    assert not (tmp_path / "absent.sqlite").exists()


def test_a_database_without_alembic_has_no_revision(tmp_path: Path) -> None:
    db = SQLiteDatabase(f"sqlite:///{_make(tmp_path / 'hub.sqlite', ['a'], revision=None)}")
    assert db.revision() is None


def test_restore_leaves_no_wal_of_the_old_file_beside_the_restored_one(tmp_path: Path) -> None:
    live = _make(tmp_path / "hub.sqlite", ["admin", "alice"])
    dump = SQLiteDatabase(f"sqlite:///{live}").dump(tmp_path / "backup" / "jupyterhub.sqlite")
    # The old file in WAL mode with a commit only its WAL holds (the writer still open, so
    # nothing is checkpointed): replayed into the restored file, it would add 'mallory'.
    writer = sqlite3.connect(live)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("PRAGMA wal_autocheckpoint=0")
    writer.execute("INSERT INTO users (name, admin) VALUES ('mallory', 0)")
    writer.commit()
    assert live.with_name("hub.sqlite-wal").stat().st_size > 0
    try:
        SQLiteDatabase(f"sqlite:///{live}").restore(dump)
    finally:
        writer.close()
    assert not live.with_name("hub.sqlite-wal").exists()
    assert not live.with_name("hub.sqlite-shm").exists()
    with sqlite3.connect(live) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM users ORDER BY id")]
    assert names == ["admin", "alice"]
