"""The settings that decide what users feel of an upgrade, read from a hub's config."""

from __future__ import annotations

import pytest

from hubshift.plan.settings import HubSettings


def _settings(**changes: object) -> HubSettings:
    base = {"version": "5.5.4", "cleanup_servers": True,
            "proxy_class": "jupyterhub.proxy.ConfigurableHTTPProxy", "proxy_should_start": True,
            "spawner_class": "jupyterhub.spawner.LocalProcessSpawner", "hub_ip": "127.0.0.1",
            "hub_port": 8081}
    return HubSettings.model_validate({**base, **changes})


@pytest.mark.parametrize(("should_start", "cleanup", "keeps"), [
    (True, True, False),     # the default: the hub stops its proxy and its users' servers
    (True, False, False),    # servers run on, but the proxy that routes to them goes down
    (False, True, False),    # the proxy stays up, but the hub stops the servers
    (False, False, True),    # both: users keep working
])
def test_servers_are_kept_only_with_an_outside_proxy_and_no_cleanup(
        should_start: bool, cleanup: bool, keeps: bool) -> None:
    settings = _settings(proxy_should_start=should_start, cleanup_servers=cleanup)
    assert settings.keeps_servers is keeps


@pytest.mark.parametrize(("changes", "url"), [
    ({}, "http://127.0.0.1:8081/hub/api"),
    ({"hub_ip": "0.0.0.0"}, "http://127.0.0.1:8081/hub/api"),
    ({"hub_ip": ""}, "http://127.0.0.1:8081/hub/api"),
    ({"hub_bind_url": "http://10.0.0.5:9000/"}, "http://10.0.0.5:9000/hub/api"),
])
def test_the_hubs_own_api_url_comes_from_hub_ip_port_or_bind_url(
        changes: dict[str, str], url: str) -> None:
    assert _settings(**changes).own_api_url() == url
