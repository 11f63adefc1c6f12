"""The fleet file's `storage.url` (s3:// or file://) and `retention:`: what they accept, and
one clear error naming the key otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hubshift.backends.filestore import FileStore
from hubshift.backends.storage import BackupStore, store_for
from hubshift.config import load_fleet
from hubshift.errors import ConfigError

HUB = {
    "name": "physics",
    "config_file": "/srv/physics/jupyterhub_config.py",
    "db_url": "sqlite:////srv/physics/jupyterhub.sqlite",
    "api_url": "http://127.0.0.1:8000/hub/api",
    "api_token": "t0ken",
    "install": {"kind": "venv", "venv": "/srv/physics/venv"},
    "runtime": {"kind": "process", "workdir": "/srv/physics"},
}


def _load(tmp_path: Path, storage: dict, hub: dict | None = None, **extra):
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"storage": storage, "hubs": [hub or HUB], **extra}))
    return load_fleet(path, env={})


def test_a_file_url_makes_a_folder_store(tmp_path: Path) -> None:
    fleet = _load(tmp_path, {"url": f"file://{tmp_path}/backups"})
    store = store_for(fleet.storage)
    assert isinstance(store, FileStore) and store.root == tmp_path / "backups"
    assert store.describe() == f"file://{tmp_path}/backups"
    s3 = _load(tmp_path, {"url": "s3://backups/p", "endpoint_url": "http://127.0.0.1:9"}).storage
    assert isinstance(store_for(s3), BackupStore)


@pytest.mark.parametrize("url", ["file://relative/path", "file://host/srv/backups", "file:///",
                                 "file:relative", "/srv/backups", "ftp://x/y", "s3://"])
def test_a_bad_storage_url_is_one_error_naming_storage_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {"url": url})
    text = str(info.value)
    assert text.count("key ") == 1 and "key storage.url:" in text, text
    assert "file:///absolute/folder" in text and "fleet.yaml" in text
    assert info.value.exit_code == 2


@pytest.mark.parametrize("key", ["endpoint_url", "region", "access_key_id",
                                 "secret_access_key"])
def test_s3_settings_beside_a_file_url_name_their_key(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"key storage\.{key}: .*s3:// stores only"):
        _load(tmp_path, {"url": "file:///srv/backups", key: "x"})


def test_retention_of_the_fleet_and_of_one_hub(tmp_path: Path) -> None:
    chem = {**HUB, "name": "chem", "retention": {"keep_last": 2}}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": "file:///srv/b"}, "hubs": [HUB, chem],
                                    "retention": {"keep_last": 5, "keep_days": 30}}))
    fleet = load_fleet(path, env={})
    assert fleet.retention_of(fleet.hub("physics")).keep_days == 30
    assert (fleet.retention_of(fleet.hub("chem")).keep_last,
            fleet.retention_of(fleet.hub("chem")).keep_days) == (2, None)


@pytest.mark.parametrize(("retention", "error"), [
    ({"keep_last": 0}, "key retention.keep_last: Input should be greater than or equal to 1"),
    ({"keep_days": -1}, "key retention.keep_days: Input should be greater than or equal to 0"),
    ({"keep_last": "many"}, "key retention.keep_last: Input should be a valid integer"),
    ({}, "key retention: give keep_last, keep_days or both"),
    ({"keep": 3}, "key retention.keep: unknown key"),
])
def test_bad_retention_names_the_key(tmp_path: Path, retention: dict, error: str) -> None:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, {"url": "file:///srv/b"}, retention=retention)
    assert error in str(info.value)


def test_prune_without_retention_is_bad_input_naming_the_key(tmp_path: Path) -> None:
    fleet = _load(tmp_path, {"url": "file:///srv/b"})
    with pytest.raises(ConfigError, match="key retention: required by hubshift prune") as info:
        fleet.retention_of(fleet.hub("physics"))
    assert info.value.exit_code == 2
