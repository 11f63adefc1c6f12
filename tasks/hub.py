"""Stop and start: the edges of the downtime. Stop is safe to repeat and so retries;
start does not (a half-started hub is the rollback's business), but both have timeouts."""

from __future__ import annotations

from prefect import get_run_logger

from hubshift.config import HubConfig
from hubshift.runtimes import runtime_for
from tasks import step


@step("stop", retries=1, retry_delay_seconds=2, timeout_seconds=300)
def stop(hub: HubConfig) -> None:
    runtime_for(hub).stop()
    get_run_logger().info("hub %s stopped", hub.name)


@step("start", timeout_seconds=120)
def start(hub: HubConfig) -> None:
    status = runtime_for(hub).start(hub.install.venv)
    get_run_logger().info("hub %s started (pid %s)", hub.name, status.pid)
