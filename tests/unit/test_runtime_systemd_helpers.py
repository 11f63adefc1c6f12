"""What the systemd runtime reads from systemd without asking it: the fleet entry, and the
formats of `systemctl show` and of unit and environment files (as systemd 252 prints them)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hubshift.backends.runtimes.systemd import (
    environment_file_entry,
    parse_environment_file,
    split_words,
    unit_setting,
)
from hubshift.config import load_fleet
from hubshift.errors import ConfigError

HUB = {
    "name": "physics",
    "config_file": "/srv/physics/jupyterhub_config.py",
    "db_url": "sqlite:////srv/physics/jupyterhub.sqlite",
    "api_url": "http://127.0.0.1:8000/hub/api",
    "api_token": "t0ken-value",
    "install": {"kind": "venv", "venv": "/srv/physics/venv"},
}


def _load(tmp_path: Path, runtime: dict):
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": "s3://backups/hubshift"},
                                    "hubs": [{**HUB, "runtime": runtime}]}))
    return load_fleet(path, env={}).hub("physics")


def test_a_unit_name_without_its_suffix_names_the_service(tmp_path: Path) -> None:
    hub = _load(tmp_path, {"kind": "systemd", "unit": "jupyterhub"})
    assert hub.runtime.unit == "jupyterhub.service"
    assert hub.runtime.user is False
    assert _load(tmp_path, {"kind": "systemd", "unit": "hub@physics.service",
                            "user": True}).runtime.unit == "hub@physics.service"


@pytest.mark.parametrize("unit", ["-jupyterhub.service", "jupyter hub", "jupyterhub.socket",
                                  "hub;rm -rf /", ""])
def test_a_unit_name_systemd_would_not_take_is_refused_naming_the_key(
        tmp_path: Path, unit: str) -> None:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, {"kind": "systemd", "unit": unit})
    assert "key hubs[0].runtime.unit: " in str(err.value)
    assert "service unit" in str(err.value)


def test_environment_words_are_unquoted_as_systemctl_show_quotes_them() -> None:
    shown = ('"A=a\\$b" "B=x\\"y" "C=back\\\\slash" "D=tab\\there" E= "F=sp ace\'q" G=p%ct '
             "DB=postgresql://u:pw@h/db H=caf\\xc3\\xa9")
    assert split_words(shown) == ["A=a$b", 'B=x"y', "C=back\\slash", "D=tab\there", "E=",
                                  "F=sp ace'q", "G=p%ct", "DB=postgresql://u:pw@h/db",
                                  "H=café"]
    assert split_words("") == []


def test_environment_file_entries_say_whether_the_file_may_be_missing() -> None:
    assert environment_file_entry("/etc/hub.env (ignore_errors=no)") == (
        Path("/etc/hub.env"), False)
    assert environment_file_entry("/etc/my hub.env (ignore_errors=yes)") == (
        Path("/etc/my hub.env"), True)


def test_an_environment_file_reads_like_systemd_reads_it() -> None:
    text = ('# comment\n; comment\nA=1\n  B = "x y"\nC=\'single $quoted\'\nD="esc \\"q\\""\n'
            "not a line\n1BAD=x\nE=\n")
    assert parse_environment_file(text) == {"A": "1", "B": "x y", "C": "single $quoted",
                                            "D": 'esc "q"', "E": ""}


def test_the_last_output_setting_of_the_service_sections_wins() -> None:
    fragment = ("[Unit]\nStandardOutput=append:/not/a/service/key\n[Service]\n"
                "ExecStart=/bin/true\nStandardOutput=append:/var/log/hub.log\n")
    assert unit_setting([fragment], "StandardOutput") == "append:/var/log/hub.log"
    drop_in = "[Service]\nStandardOutput=file:/srv/hub/out.log\n"
    assert unit_setting([fragment, drop_in], "StandardOutput") == "file:/srv/hub/out.log"
    assert unit_setting([fragment, "[Service]\nStandardOutput=\n"], "StandardOutput") is None
    assert unit_setting([fragment], "StandardError") is None
