"""Choosing stepping stones (`--via`): pure logic, the package index given as a function."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hubshift.config import HubConfig
from hubshift.errors import PreflightError
from hubshift.plan.hops import choose_hops, parse_via

#: The newest final release of each major version, as the index answers (no 0.x asked).
NEWEST = {1: "1.5.1", 2: "2.3.1", 3: "3.1.1", 4: "4.1.6", 5: "5.5.4", 6: "6.1.1"}


def _index(majors) -> dict[int, str]:
    return {m: NEWEST[m] for m in majors if m in NEWEST}


def test_direct_is_the_default() -> None:
    assert choose_hops("2.3.1", "5.5.4", None, _index) == ["5.5.4"]
    assert choose_hops("2.3.1", "5.5.4", "direct", _index) == ["5.5.4"]


def test_auto_takes_the_newest_final_release_of_each_major_in_between() -> None:
    assert choose_hops("2.3.1", "5.5.4", "auto", _index) == ["3.1.1", "4.1.6", "5.5.4"]
    assert choose_hops("1.5.1", "5.0.0", "auto", _index) == ["2.3.1", "3.1.1", "4.1.6", "5.0.0"]
    assert choose_hops("4.1.6", "5.5.4", "auto", _index) == ["5.5.4"]
    assert choose_hops("2.3.1", "6.1.1", "auto", _index) == ["3.1.1", "4.1.6", "5.5.4",
                                                               "6.1.1"]


def test_auto_skips_a_major_version_without_a_final_release() -> None:
    sparse = {3: "3.1.1", 5: "5.5.4"}
    assert choose_hops("2.3.1", "6.1.1", "auto",
                       lambda majors: {m: sparse[m] for m in majors if m in sparse}) == [
        "3.1.1", "5.5.4", "6.1.1"]


def test_auto_does_not_ask_the_index_when_it_does_not_need_to() -> None:
    def unreachable(majors) -> dict[int, str]:
        raise AssertionError("asked")

    assert choose_hops("1.5.1", "5.5.4", "direct", unreachable) == ["5.5.4"]


def test_explicit_hops_must_climb_from_the_installed_version_to_the_target() -> None:
    assert choose_hops("2.3.1", "5.5.4", "3.1.1, 4.1.6", _index) == ["3.1.1", "4.1.6", "5.5.4"]
    with pytest.raises(PreflightError, match="4.1.6 does not come after 4.1.6"):
        choose_hops("2.3.1", "5.5.4", "4.1.6,4.1.6", _index)
    with pytest.raises(PreflightError, match="5.5.4 does not come after 6.0.0"):
        choose_hops("2.3.1", "5.5.4", "6.0.0", _index)
    with pytest.raises(PreflightError, match="3.1.1 does not come after 4.1.6"):
        choose_hops("4.1.6", "5.5.4", "3.1.1", _index)


@pytest.mark.parametrize("via", ["latest", "3.x", "3.1.1;4.1.6", "auto,3.1.1"])
def test_a_via_that_is_not_versions_is_refused_naming_it(via: str) -> None:
    with pytest.raises(PreflightError, match="is not a release version") as caught:
        parse_via(via, hub="physics")
    assert caught.value.exit_code == 2 and caught.value.hub == "physics"


def test_the_fleet_file_via_follows_the_same_rule() -> None:
    base = {"name": "physics", "config_file": "/srv/p/jupyterhub_config.py",
            "db_url": "sqlite:////srv/p/jupyterhub.sqlite", "api_url": "http://h/hub/api",
            "api_token": "t", "install": {"venv": "/srv/p/venv"},
            "runtime": {"workdir": "/srv/p"}}
    assert HubConfig.model_validate({**base, "via": "3.1.1,4.1.6"}).via == "3.1.1,4.1.6"
    with pytest.raises(ValidationError, match="via: '3.x' is not a release version"):
        HubConfig.model_validate({**base, "via": "3.x"})
