"""A backup's local copy is private: its folders 0700 and its files 0600, whatever the umask
and whatever an older run left."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from hubshift.system import paths


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_staging_folders_are_private_from_runs_down(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HUBSHIFT_HOME", str(tmp_path))
    (tmp_path / "runs" / "physics").mkdir(parents=True)
    os.chmod(tmp_path / "runs", 0o755)  # as an older run left it
    old = os.umask(0o022)
    try:
        stage = paths.staging("physics", "20261201T000000Z")
    finally:
        os.umask(old)
    assert stage == tmp_path / "runs" / "physics" / "20261201T000000Z"
    for folder in (tmp_path / "runs", stage.parent, stage):
        assert _mode(folder) == 0o700, folder


def test_files_made_private_are_0600(tmp_path: Path) -> None:
    dump = tmp_path / "jupyterhub.sqlite"
    dump.write_bytes(b"rows")
    os.chmod(dump, 0o644)
    paths.make_private([dump])
    assert _mode(dump) == 0o600


def test_a_local_copy_is_discarded_unless_asked_to_keep_it(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    monkeypatch.setenv("HUBSHIFT_HOME", str(tmp_path))
    monkeypatch.setenv(paths.KEEP_STAGING_ENV, "1")
    kept = paths.staging("physics", "20261201T000000Z")
    (kept / "jupyterhub.sqlite").write_bytes(b"rows")
    paths.discard_staging("physics", "20261201T000000Z")
    assert (kept / "jupyterhub.sqlite").exists()

    monkeypatch.delenv(paths.KEEP_STAGING_ENV)
    paths.discard_staging("physics", "20261201T000000Z")
    assert not kept.exists() and kept.parent.exists()
    paths.discard_staging("physics", None)  # no backup taken: nothing to do, no error
