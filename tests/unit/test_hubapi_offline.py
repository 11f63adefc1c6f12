"""HubAPI's pure parts: URL derivation, paging logic (on a fake transport), error wording."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hubshift.backends.hubapi import (
    PAGINATION_MEDIA_TYPE,
    HubAPI,
    HubAPIError,
    HubUnreachableError,
    health_url,
    hub_base_url,
    wait_healthy,
)
from hubshift.errors import VerificationError
from hubshift_lab.sandbox import free_port

TOKEN = "unit-test-token-abcdef0123456789"


@pytest.mark.parametrize(
    ("api_url", "health"),
    [
        ("http://127.0.0.1:8000/hub/api", "http://127.0.0.1:8000/hub/health"),
        ("http://127.0.0.1:8000/hub/api/", "http://127.0.0.1:8000/hub/health"),
        ("https://hub.example.org/jupyter/hub/api", "https://hub.example.org/jupyter/hub/health"),
    ],
)
def test_health_url_is_derived_from_the_api_url(api_url: str, health: str) -> None:
    assert health_url(api_url) == health


def test_hub_base_url_drops_hub_api() -> None:
    assert hub_base_url("http://h:8000/prefix/hub/api") == "http://h:8000/prefix"


def _fake_hub(pages: list[Any], seen: list[httpx.Request]) -> httpx.MockTransport:
    """A hub answering GET /users with `pages` in turn."""

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[len(seen) - 1])

    return httpx.MockTransport(handler)


def _page(items: list[str], offset: int, next_offset: int | None) -> dict[str, Any]:
    following = {"offset": next_offset, "limit": 2, "url": "ignored"} if next_offset else None
    return {
        "items": [{"name": n} for n in items],
        "_pagination": {"offset": offset, "limit": 2, "total": 5, "next": following},
    }


def test_users_follows_next_offsets_with_the_pagination_media_type() -> None:
    seen: list[httpx.Request] = []
    pages = [_page(["a", "b"], 0, 2), _page(["c", "d"], 2, 4), _page(["e"], 4, None)]
    api = HubAPI("http://hub/hub/api", TOKEN, page_size=2, transport=_fake_hub(pages, seen))

    assert [u["name"] for u in api.users()] == ["a", "b", "c", "d", "e"]
    assert [r.url.params.get("offset") for r in seen] == [None, "2", "4"]
    assert all(r.url.params["limit"] == "2" for r in seen)
    assert all(r.headers["Accept"] == PAGINATION_MEDIA_TYPE for r in seen)
    assert all(r.headers["Authorization"] == f"token {TOKEN}" for r in seen)


def test_users_accepts_a_plain_list_from_an_old_hub() -> None:
    seen: list[httpx.Request] = []
    api = HubAPI("http://hub/hub/api", TOKEN, transport=_fake_hub([[{"name": "a"}]], seen))
    assert api.users() == [{"name": "a"}]


def test_paging_that_does_not_advance_is_an_error_not_a_loop() -> None:
    seen: list[httpx.Request] = []
    pages = [_page(["a"], 0, 2), _page(["b"], 2, 2)]
    api = HubAPI("http://hub/hub/api", TOKEN, transport=_fake_hub(pages, seen))
    with pytest.raises(HubAPIError, match="does not advance"):
        api.users()


def test_version_is_asked_without_the_token() -> None:
    seen: list[httpx.Request] = []
    api = HubAPI("http://hub/hub/api", TOKEN, transport=_fake_hub([{"version": "5.5.4"}], seen))
    assert api.version() == "5.5.4"
    assert "Authorization" not in seen[0].headers


def test_active_servers_keeps_ready_and_pending_servers() -> None:
    users = [
        {"name": "alice", "servers": {"": {"ready": True, "pending": None, "stopped": False}}},
        {"name": "bob", "servers": {
            "lab": {"ready": False, "pending": "spawn", "stopped": False},
            "old": {"ready": False, "pending": None, "stopped": True},
        }},
        # 4.x may list a user once per active server.
        {"name": "alice", "servers": {"": {"ready": True, "pending": None, "stopped": False}}},
    ]
    seen: list[httpx.Request] = []
    api = HubAPI("http://hub/hub/api", TOKEN, transport=_fake_hub([users], seen))
    assert api.active_servers() == [("alice", ""), ("bob", "lab")]
    assert seen[0].url.params["state"] == "active"


def test_ready_servers_names_each_ready_server_with_its_url() -> None:
    users = [
        {"name": "alice", "servers": {"": {"ready": True, "url": "/user/alice/"}}},
        {"name": "bob", "servers": {
            "lab": {"ready": True, "url": "/user/bob/lab/"},
            "new": {"ready": False, "pending": "spawn", "url": "/user/bob/new/"},
        }},
    ]
    seen: list[httpx.Request] = []
    api = HubAPI("http://hub/hub/api", TOKEN, transport=_fake_hub([users], seen))
    assert api.ready_servers() == {"alice": "/user/alice/", "bob/lab": "/user/bob/lab/"}
    assert seen[0].url.params["state"] == "ready"


def test_http_errors_carry_the_status_and_not_the_token() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, json={"status": 403, "message": f"bad {TOKEN}"})

    api = HubAPI("http://hub/hub/api", TOKEN, transport=httpx.MockTransport(handler))
    with pytest.raises(HubAPIError) as caught:
        api.request("GET", "/users")
    assert caught.value.status == 403
    assert "http://hub/hub/api/users" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_unreachable_hub_error_names_the_url_not_the_token() -> None:
    url = f"http://127.0.0.1:{free_port()}/hub/api"
    with HubAPI(url, TOKEN, timeout=2) as api, pytest.raises(HubUnreachableError) as caught:
        api.users()
    assert url in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.status is None


def test_healthy_is_false_when_nothing_listens() -> None:
    with HubAPI(f"http://127.0.0.1:{free_port()}/hub/api", timeout=2) as api:
        assert api.healthy() is False


def test_wait_healthy_times_out_with_a_verification_error() -> None:
    with HubAPI(f"http://127.0.0.1:{free_port()}/hub/api", timeout=1) as api, pytest.raises(
        VerificationError, match="not healthy"
    ):
        wait_healthy(api, 0.3, interval=0.05)
