"""Users' running servers across the window: which were ready before the stop, and whether
each is still known to the hub and answering through the proxy after the start.

A hub set up to keep its users' servers (an external proxy, `cleanup_servers = False`)
must find them all again; one that is not stops them, and the result says so. A server lost
is reported, never a reason to roll back: the rollback could not bring it back either.
"""

from __future__ import annotations

import httpx
from pydantic import BaseModel, Field

from hubshift.backends.hubapi import HubAPI, HubAPIError, hub_base_url
from hubshift.config import HubConfig

#: Seconds one server has to answer after the hub is back.
ANSWER_TIMEOUT = 10.0


class ServersOutcome(BaseModel):
    """What the window did to the users' servers that were ready before the stop."""

    before: list[str] = Field(default_factory=list, description="Ready before the stop")
    kept: list[str] = Field(default_factory=list,
                            description="Known to the new hub and answering")
    stopped: list[str] = Field(default_factory=list,
                               description="Stopped by the hub, as its settings say")
    lost: dict[str, str] = Field(default_factory=dict,
                                 description="Expected to survive but did not: why")

    def summary(self) -> str:
        """One sentence for people (the notification, the CLI)."""
        parts = []
        if self.kept:
            parts.append(f"{len(self.kept)} users' server(s) kept running")
        if self.stopped:
            parts.append(f"{len(self.stopped)} stopped by the hub ({', '.join(self.stopped)})")
        if self.lost:
            parts.append(f"{len(self.lost)} LOST: " + "; ".join(
                f"{name} ({why})" for name, why in self.lost.items()))
        return ("Users' servers: " + ", ".join(parts) + ".") if parts else ""


def ready_servers(hub: HubConfig) -> dict[str, str]:
    """The hub's ready servers (`user` or `user/server` -> URL path). Raises HubAPIError."""
    with HubAPI(hub.own_api_url, hub.api_token.get_secret_value()) as api:
        return api.ready_servers()


def check_servers(hub: HubConfig, before: dict[str, str], keeps: bool | None) -> ServersOutcome:
    """Which of the servers `before` survived. With `keeps` false the hub stopped them by
    design; otherwise each must be ready in the hub's API and answer `<url>api` (Jupyter
    Server's version endpoint, open without a token) through the proxy. Never raises."""
    outcome = ServersOutcome(before=sorted(before))
    if not before:
        return outcome
    if keeps is False:
        outcome.stopped = sorted(before)
        return outcome
    try:
        now = ready_servers(hub)
    except HubAPIError as err:
        outcome.lost = {name: f"the hub's API could not list servers: {err.message}"
                        for name in before}
        return outcome
    public = hub_base_url(hub.api_url)
    with httpx.Client(timeout=ANSWER_TIMEOUT, follow_redirects=False) as client:
        for name, url in sorted(before.items()):
            if name not in now:
                outcome.lost[name] = "the hub no longer lists it as ready"
                continue
            try:
                status = client.get(f"{public}{now[name]}api").status_code
            except httpx.HTTPError as err:
                outcome.lost[name] = f"no answer through the proxy: {type(err).__name__}"
                continue
            if status == 200:
                outcome.kept.append(name)
            else:
                outcome.lost[name] = f"{url}api answered HTTP {status} through the proxy"
    return outcome
