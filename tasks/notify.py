"""Notify: each channel is its own task with retries; a channel that still fails is logged,
never raised, because a notification outage must not fail (or hide) an upgrade."""

from __future__ import annotations

from prefect import get_run_logger
from pydantic import SecretStr

from hubshift.backends.notify import Notice, send
from hubshift.system.redact import safe_url
from tasks import step


@step("notify-channel", retries=2, retry_delay_seconds=1, timeout_seconds=60,
      task_run_name="notify-{title_hint}")
def notify_channel(url: SecretStr, notice: Notice, title_hint: str = "") -> None:
    send(url.get_secret_value(), notice)


def notify_all(urls: list[SecretStr], notice: Notice) -> int:
    """Send `notice` to every channel; return how many failed after their retries."""
    failed = 0
    for url in urls:
        state = notify_channel(url, notice, title_hint=notice.kind, return_state=True)
        if not state.is_completed():
            failed += 1
            get_run_logger().warning("notification channel %s failed: %s",
                                     safe_url(url.get_secret_value()), state.message)
    return failed
