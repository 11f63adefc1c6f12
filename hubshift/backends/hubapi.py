"""A small synchronous client for the JupyterHub REST API, for the checks around an upgrade.

It asks only what the upgrade needs: the version a hub reports, whether it is healthy, and the
users, groups, tokens and servers that must survive. Collections are read with JupyterHub's
pagination (4.x and 5.x cap a page at 200 items) so a large hub is never silently truncated.
The token travels only in the ``Authorization`` header; errors name the URL, never the token.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from hubshift.errors import HubshiftError, VerificationError
from hubshift.system.redact import redact

#: The media type that makes JupyterHub (>= 2.0) answer with `{items, _pagination}`.
PAGINATION_MEDIA_TYPE = "application/jupyterhub-pagination+json"

# How much of an error body an exception quotes.
_BODY_TAIL = 300


class HubAPIError(HubshiftError):
    """The hub answered with an error, or something that is not the JupyterHub API."""

    def __init__(self, message: str, *, status: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: The HTTP status, or None when there was no answer at all.
        self.status = status


class HubUnreachableError(HubAPIError):
    """No HTTP answer from the hub: connection refused, timeout, DNS failure."""


def hub_base_url(api_url: str) -> str:
    """The hub's public root: `api_url` without its trailing ``/hub/api``."""
    url = api_url.rstrip("/")
    return url.removesuffix("/api").removesuffix("/hub")


def health_url(api_url: str) -> str:
    """Where the hub answers health probes: ``<base>/hub/health`` (served through the proxy)."""
    return f"{hub_base_url(api_url)}/hub/health"


class HubAPI:
    """One hub's REST API. Use as a context manager, or call `close()`.

    `page_size` forces small pages (tests use it to prove that paging is followed);
    None lets the hub choose its default. `transport` replaces the network (unit tests).
    """

    def __init__(
        self,
        api_url: str,
        token: str | None = None,
        timeout: float = 10,
        *,
        page_size: int | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.page_size = page_size
        self._token = token
        # No default Authorization header: each call says which token (if any) it sends.
        self._client = httpx.Client(timeout=timeout, transport=transport)

    def __enter__(self) -> HubAPI:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # -- the raw call every method goes through -------------------------------------------

    def _send(
        self,
        method: str,
        url: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        token: str | None,
    ) -> httpx.Response:
        """Send one request with `token`; raises HubUnreachableError or HubAPIError (>= 400)."""
        where = f"{method} {url}"
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"token {token}"
        secrets = [self._token or "", token or ""]
        try:
            response = self._client.request(
                method, url, json=json, params=params, headers=headers
            )
        except httpx.HTTPError as err:
            # httpx messages hold the URL at most; redact anyway, it costs nothing.
            reason = redact(str(err) or type(err).__name__, secrets)
            raise HubUnreachableError(f"{where}: no answer from the hub: {reason}") from err
        if response.status_code >= 400:
            body = redact(response.text[-_BODY_TAIL:], secrets)
            raise HubAPIError(
                f"{where}: HTTP {response.status_code}: {body}", status=response.status_code
            )
        return response

    def _json(self, response: httpx.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as err:
            raise HubAPIError(
                f"{response.request.method} {response.request.url}: answer is not JSON "
                "(is this the JupyterHub API URL?)",
                status=response.status_code,
            ) from err

    def request(self, method: str, path: str, json: Any = None) -> Any:
        """`method` on ``{api_url}{path}``; returns the decoded JSON body (None if empty).

        Raises HubUnreachableError without an answer, HubAPIError for an HTTP error.
        """
        path = path if path.startswith("/") else f"/{path}"
        return self._json(
            self._send(method, f"{self.api_url}{path}", json=json, token=self._token)
        )

    def _paged(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every item of a collection, following `_pagination.next` page after page.

        A hub older than 2.0 ignores the media type and returns a plain list: that is all.
        """
        query = dict(params or {})
        if self.page_size is not None:
            query["limit"] = self.page_size
        offset = 0
        while True:
            response = self._send(
                "GET",
                f"{self.api_url}{path}",
                params={**query, "offset": offset} if offset else query,
                headers={"Accept": PAGINATION_MEDIA_TYPE},
                token=self._token,
            )
            data = self._json(response)
            if isinstance(data, list):
                yield from data
                return
            if not isinstance(data, dict) or "items" not in data:
                raise HubAPIError(f"GET {response.request.url}: unexpected answer shape")
            yield from data["items"]
            following = (data.get("_pagination") or {}).get("next")
            if not following:
                return
            # An offset that does not move would loop for ever on a confused hub.
            if int(following["offset"]) <= offset:
                raise HubAPIError(f"GET {response.request.url}: pagination does not advance")
            offset = int(following["offset"])

    # -- what the upgrade asks -------------------------------------------------------------

    def version(self) -> str:
        """The JupyterHub version the hub reports (``GET {api_url}/``, no token needed)."""
        data = self._json(self._send("GET", f"{self.api_url}/", token=None))
        if not isinstance(data, dict) or "version" not in data:
            raise HubAPIError(f"GET {self.api_url}/: no version in the answer")
        return str(data["version"])

    def healthy(self) -> bool:
        """Whether ``<base>/hub/health`` answers 200. Never raises."""
        try:
            response = self._client.get(health_url(self.api_url))
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def users(self) -> list[dict[str, Any]]:
        """Every user model, all pages."""
        return list(self._paged("/users"))

    def groups(self) -> list[dict[str, Any]]:
        """Every group model, all pages."""
        return list(self._paged("/groups"))

    def active_servers(self) -> list[tuple[str, str]]:
        """(user, server name) of every server that is ready or pending, sorted.

        ``?state=active`` keeps users with at least one server record; their `servers` dict
        holds only active servers on 4.x and 5.x alike. The default server's name is "".
        4.x may list a user once per active server, hence the set.
        """
        found: set[tuple[str, str]] = set()
        for user in self._paged("/users", {"state": "active"}):
            for name, server in (user.get("servers") or {}).items():
                if server.get("ready") or server.get("pending") or not server.get("stopped", True):
                    found.add((user["name"], name))
        return sorted(found)

    def ready_servers(self) -> dict[str, str]:
        """`user` or `user/server` -> the server's URL path, for every server that is
        ready (running and known to answer)."""
        found: dict[str, str] = {}
        for user in self._paged("/users", {"state": "ready"}):
            for name, server in (user.get("servers") or {}).items():
                if server.get("ready") and server.get("url"):
                    found[f"{user['name']}/{name}" if name else user["name"]] = server["url"]
        return dict(sorted(found.items()))

    def whoami(self, token: str) -> dict[str, Any]:
        """The model of whoever owns `token` (``GET /user``): proves the token authenticates.

        Raises HubAPIError with status 403 (or 401) when it does not.
        """
        data = self._json(self._send("GET", f"{self.api_url}/user", token=token))
        if not isinstance(data, dict):
            raise HubAPIError(f"GET {self.api_url}/user: unexpected answer shape")
        return data

    def token_scopes(self) -> set[str] | None:
        """The expanded scopes of our own token, or None on hubs older than 2.0 (no scopes)."""
        me = self.request("GET", "/user") or {}
        scopes = me.get("scopes")
        return set(scopes) if isinstance(scopes, list) else None

    def user_tokens(self, name: str) -> list[dict[str, Any]]:
        """The API tokens of user `name` (their models, not their values)."""
        data = self.request("GET", f"/users/{quote(name, safe='')}/tokens")
        return list((data or {}).get("api_tokens", []))


def wait_healthy(
    api: HubAPI, timeout: float, *, version: str | None = None, interval: float = 0.05
) -> float:
    """Poll until the hub is healthy (and reports `version`, if given); return seconds waited.

    Polls every 50 ms: the wait ends a downtime, and a probe costs a hub that is not up yet
    a refused connection or one small request.

    Raises VerificationError on timeout, saying what was last seen, and at once when a
    healthy hub reports another version.
    """
    start = time.monotonic()
    deadline = start + timeout
    last = "no health answer yet"
    while True:
        if api.healthy():
            if version is None:
                return time.monotonic() - start
            try:
                seen = api.version()
            except HubAPIError as err:
                last = f"healthy, but the version check failed: {err}"
            else:
                if seen == version:
                    return time.monotonic() - start
                # Only the new hub can answer (the old one's port was closed): a wrong
                # version will not fix itself, so waiting longer only adds downtime.
                raise VerificationError(
                    f"the hub at {api.api_url} is healthy but reports version {seen}, "
                    f"expected {version}", step="verify")
        else:
            last = f"{health_url(api.api_url)} did not answer 200"
        if time.monotonic() >= deadline:
            wanted = f" on version {version}" if version else ""
            raise VerificationError(
                f"the hub at {api.api_url} was not healthy{wanted} after {timeout:g} s: {last}",
                step="verify",
            )
        time.sleep(interval)
