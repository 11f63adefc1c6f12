"""A `tljh:` hub entry: what a TLJH layout implies, keys beside it winning, and a prefix
that is no TLJH install refused with what it lacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hubshift.backends.runtimes import RUNTIMES
from hubshift.config import load_fleet
from hubshift.errors import ConfigError
from hubshift.tljh import layout_problems


def _tljh_layout(prefix: Path) -> Path:
    """What TLJH's installer leaves on disk: a hub env with the tljh package, state, config."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", prefix / "hub"], check=True)
    site = next((prefix / "hub").glob("lib/python*/site-packages"))
    (site / "tljh").mkdir()
    (site / "tljh" / "jupyterhub_config.py").write_text("c = get_config()  # noqa\n")
    (prefix / "state").mkdir()
    (prefix / "config" / "jupyterhub_config.d").mkdir(parents=True)
    (prefix / "config" / "config.yaml").write_text("users: {admin: [admin]}\n")
    return site / "tljh" / "jupyterhub_config.py"


def _fleet(tmp_path: Path, hub: dict) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": "s3://backups/hubshift"},
                                    "hubs": [{"name": "tljh", "api_token": "t0ken", **hub}]}))
    return path


def test_tljh_fills_install_database_config_and_api_from_the_layout(tmp_path: Path) -> None:
    prefix = tmp_path / "opt-tljh"
    config_file = _tljh_layout(prefix)
    hub = load_fleet(_fleet(tmp_path, {
        "tljh": {"prefix": str(prefix)},
        "runtime": {"kind": "process", "workdir": str(prefix / "state")},
    })).hub("tljh")

    assert (hub.install.kind, hub.install.venv) == ("inplace", prefix / "hub")
    assert hub.db_url.get_secret_value() == f"sqlite:///{prefix}/state/jupyterhub.sqlite"
    assert hub.config_file == config_file
    assert hub.config_files == [prefix / "config"]
    assert hub.api_url == "http://127.0.0.1:15001/hub/api"
    assert hub.tljh is not None and hub.tljh.prefix == prefix


def test_keys_given_beside_tljh_win_and_a_relative_prefix_is_read_from_the_fleet_file(
    tmp_path: Path
) -> None:
    _tljh_layout(tmp_path / "tljh")
    hub = load_fleet(_fleet(tmp_path, {
        "tljh": {"prefix": "tljh"},
        "db_url": "postgresql://hub@db.example.org/jupyterhub",
        "config_files": ["site.yaml"],
        "install": {"kind": "inplace", "venv": "/srv/other-env",
                    "extra_packages": ["oauthenticator>=17"]},
        "runtime": {"kind": "process", "workdir": "/srv"},
    })).hub("tljh")

    assert hub.tljh is not None and hub.tljh.prefix == tmp_path / "tljh"
    assert hub.db_url.get_secret_value() == "postgresql://hub@db.example.org/jupyterhub"
    assert hub.config_files == [tmp_path / "site.yaml"]
    assert hub.install.venv == Path("/srv/other-env")
    assert hub.install.extra_packages == ["oauthenticator>=17"]
    assert hub.config_file.name == "jupyterhub_config.py"  # still found in the layout


@pytest.mark.skipif("systemd" not in RUNTIMES,
                    reason="the systemd runtime is not merged yet: `kind: systemd` does not "
                    "validate, so TLJH's default runtime cannot be checked")
def test_tljh_runs_the_hub_as_its_systemd_unit_by_default(tmp_path: Path) -> None:
    prefix = tmp_path / "opt-tljh"
    _tljh_layout(prefix)
    hub = load_fleet(_fleet(tmp_path, {"tljh": {"prefix": str(prefix)}})).hub("tljh")
    assert hub.runtime.kind == "systemd"
    assert hub.runtime.unit == "jupyterhub.service"


def test_a_prefix_that_is_no_tljh_install_is_refused_naming_what_is_missing(
    tmp_path: Path
) -> None:
    prefix = tmp_path / "not-tljh"
    (prefix / "hub").mkdir(parents=True)
    with pytest.raises(ConfigError) as refused:
        load_fleet(_fleet(tmp_path, {"tljh": {"prefix": str(prefix)},
                                     "runtime": {"kind": "process", "workdir": "/srv"}}))
    message = str(refused.value)
    assert refused.value.exit_code == 2
    assert "hub 'tljh'" in message and f"tljh.prefix {prefix} is not a TLJH install" in message
    assert f"no hub env {prefix / 'hub'}" in message
    assert f"no state folder {prefix / 'state'}" in message


def test_an_env_without_the_tljh_package_or_state_is_named_by_the_layout_check(
    tmp_path: Path
) -> None:
    prefix = tmp_path / "tljh"
    _tljh_layout(prefix)
    assert layout_problems(prefix) == []
    next(prefix.glob("hub/lib/python*/site-packages/tljh/jupyterhub_config.py")).unlink()
    (prefix / "state").rmdir()
    assert layout_problems(prefix) == [
        f"no tljh package in {prefix / 'hub'} (no "
        "lib/python*/site-packages/tljh/jupyterhub_config.py)",
        f"no state folder {prefix / 'state'}",
    ]
