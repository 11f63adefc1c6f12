"""config_files in a backup: a folder restored exactly (files added since removed, changed
ones back, nothing of a half restore), a file put back, a damaged copy refused first."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from hubshift.backup.manifest import FileEntry, Manifest
from hubshift.backup.restore import restore_config, restore_files
from hubshift.backup.take import save_config_files
from hubshift.config import HubConfig
from hubshift.errors import BackupError
from hubshift.integrity.checksum import sha256_file


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _site(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "config"
    (config / "jupyterhub_config.d").mkdir(parents=True)
    (config / "config.yaml").write_text("users: {admin: [alice]}\n")
    (config / "jupyterhub_config.d" / "limits.py").write_text("c.Spawner.mem_limit = '1G'\n")
    os.chmod(config / "config.yaml", 0o600)
    single = tmp_path / "site.yaml"
    single.write_text("banner: hello\n")
    return config, single


def test_a_folder_comes_back_exactly_and_a_file_as_it_was(tmp_path: Path) -> None:
    config, single = _site(tmp_path)
    before = _tree(config)
    stage = tmp_path / "stage"
    stage.mkdir()
    saved = save_config_files([config, single], stage)
    assert [(s.kind, s.name) for s in saved] == [
        ("folder", "config-0-config.tar"), ("file", "config-1-site.yaml")]

    # Changed after the backup: one file edited, one added, one removed, the file rewritten.
    (config / "config.yaml").write_text("users: {admin: [mallory]}\n")
    (config / "jupyterhub_config.d" / "added-later.py").write_text("raise SystemExit\n")
    (config / "jupyterhub_config.d" / "limits.py").unlink()
    single.write_text("banner: changed\n")

    for entry in saved:
        restore_config(entry, stage / entry.name)
        restore_config(entry, stage / entry.name)  # safe twice

    assert _tree(config) == before
    assert (config / "config.yaml").stat().st_mode & 0o777 == 0o600
    assert single.read_text() == "banner: hello\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config", "site.yaml", "stage"]


def test_a_restore_interrupted_after_setting_the_old_folder_aside_completes(
    tmp_path: Path
) -> None:
    config, _ = _site(tmp_path)
    before = _tree(config)
    stage = tmp_path / "stage"
    stage.mkdir()
    [saved] = save_config_files([config], stage)
    (config / "config.yaml").write_text("changed\n")
    # As a crash between the two renames leaves it: the folder aside, none in place.
    os.rename(config, tmp_path / ".config.hubshift-replaced")

    restore_config(saved, stage / saved.name)

    assert _tree(config) == before
    assert not (tmp_path / ".config.hubshift-replaced").exists()


def test_a_copy_that_differs_from_its_manifest_stops_the_restore_before_anything(
    tmp_path: Path
) -> None:
    config, _ = _site(tmp_path)
    stage = tmp_path / "stage"
    stage.mkdir()
    [saved] = save_config_files([config], stage)
    archive = stage / saved.name
    manifest = Manifest(
        hub="physics", backup_id="20261121T031500Z", created_at=dt.datetime.now(dt.timezone.utc),
        hubshift_version="0", engine="sqlite", from_version="4.1.6", from_install="x",
        alembic_revision=None, database_file="jupyterhub.sqlite", digest={},
        files=[FileEntry(name=saved.name, size=archive.stat().st_size,
                         sha256=sha256_file(archive))],
        config_files=[saved])
    with archive.open("ab") as damaged:
        damaged.write(b"\0")
    (config / "config.yaml").write_text("changed after the backup\n")
    hub = HubConfig.model_validate({
        "name": "physics", "config_file": str(tmp_path / "jupyterhub_config.py"),
        "db_url": f"sqlite:///{tmp_path / 'never-touched.sqlite'}",
        "api_url": "http://127.0.0.1:1/hub/api", "api_token": "t0ken",
        "install": {"kind": "venv", "venv": str(tmp_path / "venv")},
        "runtime": {"kind": "process", "workdir": str(tmp_path)}})

    with pytest.raises(BackupError, match="does not match the manifest"):
        restore_files(hub, manifest, stage)
    assert (config / "config.yaml").read_text() == "changed after the backup\n"
    assert not (tmp_path / "never-touched.sqlite").exists()
