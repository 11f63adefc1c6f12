"""What make_hub writes, without starting a hub."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from hubshift.config import HubConfig
from hubshift.errors import ConfigError
from hubshift_lab.sandbox import find_proxy, free_ports, make_hub


@pytest.fixture(autouse=True)
def _fake_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Any existing file will do: nothing here runs the proxy.
    monkeypatch.setenv("HUBSHIFT_PROXY", sys.executable)


def test_config_holds_no_secret_and_the_token_file_is_private(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, "physics", Path(sys.prefix))
    config = hub.config_file.read_text()

    assert hub.token not in config
    assert str(hub.token_file) in config
    assert stat.S_IMODE(hub.token_file.stat().st_mode) == 0o600
    assert hub.venv_link.is_symlink() and hub.venv_link.resolve() == Path(sys.prefix).resolve()
    compile(config, str(hub.config_file), "exec")


def test_a_db_url_password_goes_to_a_private_file(tmp_path: Path) -> None:
    url = "postgresql://hub:s3cret-pass@127.0.0.1:5432/hub"
    hub = make_hub(tmp_path, "pg", Path(sys.prefix), db_url=url)
    assert "s3cret-pass" not in hub.config_file.read_text()
    assert stat.S_IMODE((hub.workdir / "hubshift-db-url").stat().st_mode) == 0o600


def test_fleet_entry_is_a_valid_hub_config(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, "physics", Path(sys.prefix))
    config = HubConfig.model_validate(hub.fleet_entry("5.5.4"))

    assert config.target_version == "5.5.4"
    assert config.api_token.get_secret_value() == hub.token
    assert config.install.venv == hub.venv_link
    assert config.runtime.workdir == hub.workdir
    assert config.api_url == f"http://127.0.0.1:{hub.port}/hub/api"


def test_make_hub_refuses_an_existing_directory(tmp_path: Path) -> None:
    make_hub(tmp_path, "physics", Path(sys.prefix))
    with pytest.raises(ConfigError, match="already exists"):
        make_hub(tmp_path, "physics", Path(sys.prefix))


def test_free_ports_are_distinct() -> None:
    ports = free_ports(5)
    assert len(set(ports)) == 5


def test_find_proxy_names_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUBSHIFT_PROXY")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(sys, "prefix", "/nonexistent-prefix")
    with pytest.raises(ConfigError) as caught:
        find_proxy()
    assert "configurable-http-proxy" in str(caught.value)
    assert "npm install" in str(caught.value)
