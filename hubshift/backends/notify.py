"""Tell people: what is about to happen, that it is done, what failed. Through apprise URLs.

A channel that fails is reported to the caller and never raised past it: a Slack outage must
not fail an upgrade, and must never hide the error that really matters.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import apprise
from pydantic import Field, SecretStr, field_validator

from hubshift.errors import HubshiftError
from hubshift.model import StrictModel
from hubshift.system.redact import redact, safe_url

if TYPE_CHECKING:
    from hubshift.window.servers import ServersOutcome

log = logging.getLogger(__name__)


class NotifyConfig(StrictModel):
    """The fleet file's `notify:` section."""

    urls: list[SecretStr] = Field(
        default_factory=list,
        description="apprise URLs (Slack, e-mail, json://...); they may hold tokens",
    )
    lead_time: float = Field(
        0, ge=0, description="Seconds between the start notice and the hub's shutdown"
    )

    @field_validator("urls")
    @classmethod
    def _usable(cls, urls: list[SecretStr]) -> list[SecretStr]:
        """Each URL one apprise can send to: a typo found when the fleet file is read, not
        when the notice of a window that has started is lost. Named by position and
        scheme only (the rest may be a token)."""
        for i, url in enumerate(urls):
            if not apprise.Apprise().add(url.get_secret_value()):
                raise ValueError(f"urls[{i}] is not a URL apprise can send to: "
                                 f"{safe_url(url.get_secret_value())} (see apprise's list "
                                 "of services)")
        return urls


class NotifyError(HubshiftError):
    """One channel did not accept a notice."""


@dataclass(frozen=True)
class Notice:
    title: str
    body: str
    #: apprise's type drives icons/colours: info, success, warning, failure.
    kind: str = "info"


def send(url: str, notice: Notice) -> None:
    """Deliver `notice` to one apprise `url`; raises NotifyError (URL without secrets)."""
    client = apprise.Apprise()
    if not client.add(url):
        raise NotifyError(f"not a usable apprise URL: {safe_url(url)}")
    ok = client.notify(title=notice.title, body=notice.body,
                       notify_type=getattr(apprise.NotifyType, notice.kind.upper()))
    if not ok:
        raise NotifyError(f"channel {safe_url(url)} did not accept the notice")


def _minutes(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def window_start(hub: str, from_version: str, to_version: str, lead_time: float,
                 expected_downtime: float | None = None) -> Notice:
    when = "now" if lead_time <= 0 else f"in {_minutes(lead_time)}"
    body = (f"JupyterHub {hub!r} will be upgraded from {from_version} to {to_version}. "
            f"The hub goes down {when}; running servers may be interrupted.")
    if expected_downtime:
        body += f" Expected downtime: about {_minutes(expected_downtime)}."
    return Notice(f"[{hub}] upgrade to JupyterHub {to_version} starting", body, "warning")


def window_end(hub: str, from_version: str, to_version: str, downtime: float,
               servers: ServersOutcome | None = None) -> Notice:
    body = (f"JupyterHub {hub!r} was upgraded from {from_version} to {to_version} and is "
            f"back. Downtime: {_minutes(downtime)}.")
    if servers is not None and servers.before:
        body += " " + servers.summary()
    return Notice(f"[{hub}] upgraded to JupyterHub {to_version}", body,
                  "warning" if servers is not None and servers.lost else "success")


def failure(hub: str, step: str | None, error: str, *, state: str,
            downtime: float | None) -> Notice:
    """A failed upgrade; `state` says where the hub stands (rolled back, needs an operator)."""
    body = f"The upgrade of JupyterHub {hub!r} failed at step {step or 'unknown'}: "
    body += f"{redact(error)} "
    body += state
    if downtime is not None:
        body += f" Downtime: {_minutes(downtime)}."
    return Notice(f"[{hub}] upgrade FAILED at {step or 'unknown step'}", body, "failure")
