"""HubAPI against real JupyterHub processes: 4.1.6, and the newest release (6.1.1), where the
API has changed since 4.x."""

from __future__ import annotations

import time

import pytest

from hubshift.backends.hubapi import HubAPI, HubAPIError, wait_healthy
from hubshift.errors import VerificationError
from hubshift_lab.sandbox import counts
from tests.support.hubs import NEW_VERSION, OLD_VERSION, RunningHub, StartHub

pytest_plugins = ["tests.support.hubs"]
pytestmark = pytest.mark.integration


def _wait_ready(api: HubAPI, user: str, server: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        model = api.request("GET", f"/users/{user}")
        if (model.get("servers") or {}).get(server, {}).get("ready"):
            return
        assert time.monotonic() < deadline, f"server {user}/{server!r} never became ready"
        time.sleep(0.1)


@pytest.mark.parametrize("version", [OLD_VERSION, NEW_VERSION])
def test_version_needs_no_token(running_hub: StartHub, version: str) -> None:
    hub = running_hub(version, seed_hub=False)
    with HubAPI(hub.sandbox.api_url) as anonymous:
        assert anonymous.version() == version
        assert anonymous.healthy()


def test_a_wrong_token_is_refused_without_being_quoted(running_hub: StartHub) -> None:
    hub = running_hub(seed_hub=False)
    wrong = "not-a-real-token-0123456789"
    with HubAPI(hub.sandbox.api_url, wrong) as api, pytest.raises(HubAPIError) as caught:
        api.users()
    assert caught.value.status == 403
    assert wrong not in str(caught.value)


@pytest.mark.parametrize("version", [OLD_VERSION, NEW_VERSION])
def test_users_are_paged(running_hub: StartHub, version: str) -> None:
    hub = running_hub(version)
    extra = [f"user{i:02d}" for i in range(20)]
    hub.api.request("POST", "/users", {"usernames": extra})
    # One page of 7 really is short: the client has to follow the pages to see everyone.
    assert len(hub.api.request("GET", "/users?limit=7")) == 7

    with HubAPI(hub.sandbox.api_url, hub.sandbox.token, page_size=7) as paged:
        names = [user["name"] for user in paged.users()]

    assert len(names) == len(set(names)) == 25
    assert set(names) == {"admin", "alice", "bob", "carol", "dave", *extra}


@pytest.mark.parametrize("version", [OLD_VERSION, NEW_VERSION])
def test_groups_are_paged(running_hub: StartHub, version: str) -> None:
    hub = running_hub(version)
    for i in range(5):
        hub.api.request("POST", f"/groups/extra{i}")
    with HubAPI(hub.sandbox.api_url, hub.sandbox.token, page_size=2) as paged:
        groups = {group["name"]: group["users"] for group in paged.groups()}

    assert len(groups) == 7
    assert sorted(groups["physics"]) == ["alice", "bob"]
    assert groups["chemistry"] == ["carol"]


def test_seeded_hub_counts(running_hub: StartHub) -> None:
    hub = running_hub()
    assert counts(hub.api) == {"users": 5, "groups": 2, "tokens": 2}


def test_token_made_before_still_authenticates(running_hub: StartHub) -> None:
    hub = running_hub()
    assert hub.seeded is not None
    assert hub.api.whoami(hub.seeded.tokens["alice"])["name"] == "alice"
    assert hub.api.whoami(hub.seeded.tokens["bob"])["name"] == "bob"


def test_whoami_refuses_a_revoked_token(running_hub: StartHub) -> None:
    hub = running_hub()
    assert hub.seeded is not None
    for token in hub.api.user_tokens("alice"):
        hub.api.request("DELETE", f"/users/alice/tokens/{token['id']}")

    with pytest.raises(HubAPIError) as caught:
        hub.api.whoami(hub.seeded.tokens["alice"])
    assert caught.value.status in (401, 403)
    assert hub.seeded.tokens["alice"] not in str(caught.value)


@pytest.mark.parametrize("version", [OLD_VERSION, NEW_VERSION])
def test_active_servers_lists_default_and_named_servers(
    running_hub: StartHub, version: str
) -> None:
    hub: RunningHub = running_hub(version)
    assert hub.api.active_servers() == []

    hub.api.request("POST", "/users/alice/server")
    hub.api.request("POST", "/users/bob/servers/lab")
    hub.api.request("POST", "/users/bob/server")
    for user, server in [("alice", ""), ("bob", "lab"), ("bob", "")]:
        _wait_ready(hub.api, user, server)

    assert hub.api.active_servers() == [("alice", ""), ("bob", ""), ("bob", "lab")]


def test_wait_healthy_names_the_version_it_saw(running_hub: StartHub) -> None:
    hub = running_hub(seed_hub=False)
    with pytest.raises(VerificationError, match=f"reports version {OLD_VERSION}"):
        wait_healthy(hub.api, 0.5, version="9.9.9")


def test_wait_healthy_returns_the_seconds_waited(running_hub: StartHub) -> None:
    hub = running_hub(seed_hub=False)
    waited = wait_healthy(hub.api, 5, version=OLD_VERSION)
    assert 0 <= waited < 5
