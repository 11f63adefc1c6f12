"""The fleet file: what it accepts, and errors that name the file, the hub and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hubshift.config import load_fleet
from hubshift.errors import ConfigError
from hubshift.system.redact import redact

HUB = {
    "name": "physics",
    "environment": "staging",
    "target_version": "5.5.4",
    "config_file": "physics/jupyterhub_config.py",
    "db_url": "sqlite:///physics/jupyterhub.sqlite",
    "api_url": "http://127.0.0.1:8000/hub/api/",
    "api_token": "${PHYSICS_TOKEN}",
    "install": {"kind": "venv", "venv": "/srv/physics/venv"},
    "runtime": {"kind": "process", "workdir": "physics"},
    "schedule": {"cron": "0 3 * * 0", "timezone": "Europe/Paris"},
}


def _write(tmp_path: Path, hubs: list[dict], **extra) -> Path:
    doc = {"storage": {"url": "s3://backups/hubshift", "endpoint_url": "http://127.0.0.1:9000"},
           "hubs": hubs, **extra}
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_valid_fleet_file_loads_with_paths_relative_to_the_file(tmp_path: Path) -> None:
    fleet = load_fleet(_write(tmp_path, [HUB]), env={"PHYSICS_TOKEN": "s3cr3t-token"})
    hub = fleet.hub("physics")
    assert hub.config_file == tmp_path / "physics" / "jupyterhub_config.py"
    assert hub.runtime.workdir == tmp_path / "physics"
    assert hub.db_url.get_secret_value() == f"sqlite:///{tmp_path}/physics/jupyterhub.sqlite"
    assert hub.install.venv == Path("/srv/physics/venv")
    assert hub.api_url == "http://127.0.0.1:8000/hub/api"
    assert fleet.storage.bucket == "backups" and fleet.storage.prefix == "hubshift"


def test_expanded_secrets_are_masked_everywhere(tmp_path: Path) -> None:
    fleet = load_fleet(_write(tmp_path, [HUB]), env={"PHYSICS_TOKEN": "s3cr3t-token"})
    hub = fleet.hub("physics")
    assert hub.api_token.get_secret_value() == "s3cr3t-token"
    assert "s3cr3t-token" not in repr(fleet)
    assert redact("Authorization: token s3cr3t-token") == "Authorization: token ***"


def test_a_missing_variable_names_the_key_and_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_fleet(_write(tmp_path, [HUB]), env={})
    assert "fleet.yaml" in str(err.value)
    assert "hubs[0].api_token" in str(err.value) and "${PHYSICS_TOKEN}" in str(err.value)
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"api_url": None}, "hub 'physics': key hubs[0].api_url"),
        ({"api_url": "ftp://hub"}, "key hubs[0].api_url: must be an http(s) URL"),
        ({"target_version": "newest"}, "is not a JupyterHub version number (nor latest"),
        ({"colour": "blue"}, "key hubs[0].colour: unknown key"),
        ({"install": {"kind": "venv"}}, "key hubs[0].install.venv: required key is missing"),
        ({"install": {"kind": "conda"}}, "key hubs[0].install"),
        ({"runtime": {"kind": "process", "workdir": "x", "stop_timeout": -1}},
         "key hubs[0].runtime.stop_timeout"),
        ({"name": "Physics Hub"}, "key hubs[0].name"),
    ],
)
def test_errors_name_the_file_the_hub_and_the_key(tmp_path: Path, change: dict,
                                                  expected: str) -> None:
    hub = {**HUB, **change}
    hub = {k: v for k, v in hub.items() if v is not None}
    with pytest.raises(ConfigError) as err:
        load_fleet(_write(tmp_path, [hub]), env={"PHYSICS_TOKEN": "t0ken"})
    assert str(err.value).startswith(f"{tmp_path / 'fleet.yaml'}: ")
    assert expected in str(err.value)


@pytest.mark.parametrize("target", ["6.1.1", "6.0.0b2", "6", "latest"])
def test_a_target_may_be_exact_a_major_version_or_latest(tmp_path: Path, target: str) -> None:
    fleet = load_fleet(_write(tmp_path, [{**HUB, "target_version": target}]),
                       env={"PHYSICS_TOKEN": "t0ken"})
    assert fleet.hubs[0].target_version == target  # resolved by each run, not here


def test_two_hubs_with_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="hub name 'physics' is used twice"):
        load_fleet(_write(tmp_path, [HUB, HUB]), env={"PHYSICS_TOKEN": "t0ken"})


def test_an_unknown_hub_lists_the_known_ones(tmp_path: Path) -> None:
    fleet = load_fleet(_write(tmp_path, [HUB]), env={"PHYSICS_TOKEN": "t0ken"})
    with pytest.raises(ConfigError, match=r"no hub named 'chem' \(the fleet has: physics\)"):
        fleet.hub("chem")


def test_storage_must_be_an_s3_url(tmp_path: Path) -> None:
    path = _write(tmp_path, [HUB])
    doc = yaml.safe_load(path.read_text())
    doc["storage"]["url"] = "/var/backups"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError, match="key storage.url: must look like s3://"):
        load_fleet(path, env={"PHYSICS_TOKEN": "t0ken"})


def test_a_database_password_is_registered_as_a_secret(tmp_path: Path) -> None:
    hub = {**HUB, "db_url": "postgresql://hub:pa55word-x@db/jupyterhub"}
    load_fleet(_write(tmp_path, [hub]), env={"PHYSICS_TOKEN": "t0ken"})
    assert "pa55word-x" not in redact("connect failed for pa55word-x")


def test_not_yaml_and_not_a_mapping_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_fleet(path)
    with pytest.raises(ConfigError, match="cannot read the fleet file"):
        load_fleet(tmp_path / "missing.yaml")


@pytest.mark.parametrize(("section", "kinds"), [
    ("install", "inplace, venv"),
    ("runtime", "command, process, systemd"),
])
def test_an_unknown_kind_lists_the_kinds_that_exist(tmp_path: Path, section: str,
                                                    kinds: str) -> None:
    hub = {**HUB, section: {**HUB[section], "kind": "conda"}}
    with pytest.raises(ConfigError) as error:
        load_fleet(_write(tmp_path, [hub]), env={"PHYSICS_TOKEN": "t"})
    assert (f"hub 'physics': key hubs[0].{section}.kind: unknown kind 'conda' "
            f"(kinds that exist: {kinds})") in str(error.value)


def test_each_backend_checks_its_own_keys(tmp_path: Path) -> None:
    hub = {**HUB, "runtime": {"kind": "systemd", "unit": "jupyterhub.service",
                              "workdir": "physics"}}
    with pytest.raises(ConfigError, match=r"key hubs\[0\]\.runtime\.workdir: unknown key"):
        load_fleet(_write(tmp_path, [hub]), env={"PHYSICS_TOKEN": "t"})


def test_a_key_given_twice_is_refused_naming_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "fleet.yaml"
    path.write_text("storage:\n  url: s3://bucket/prefix\nhubs:\n  - name: a\n    name: b\n")
    with pytest.raises(ConfigError) as err:
        load_fleet(path)
    assert str(err.value) == (f"{path}: not valid YAML at line 5, column 5: the key 'name' is "
                              "given twice (first at line 4)")
