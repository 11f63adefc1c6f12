"""Users' servers: the list before the stop, and what became of them after the start.

Neither step may fail an upgrade: a hub whose API cannot list servers before the stop is
upgraded all the same (nothing to check afterwards), and a server lost afterwards is a
warning in the result, the report and the notification, not a rollback."""

from __future__ import annotations

from prefect import get_run_logger

from hubshift.config import HubConfig
from hubshift.errors import HubshiftError
from hubshift.window.servers import ServersOutcome, check_servers, ready_servers
from tasks import step


@step("servers", timeout_seconds=60)
def servers_before(hub: HubConfig) -> dict[str, str]:
    try:
        found = ready_servers(hub)
    except HubshiftError as err:
        get_run_logger().warning("hub %s: cannot list users' servers before the stop: %s",
                                 hub.name, err.message)
        return {}
    get_run_logger().info("hub %s: %d users' server(s) ready before the stop", hub.name,
                          len(found))
    return found


@step("servers-after", timeout_seconds=300)
def servers_after(hub: HubConfig, before: dict[str, str], keeps: bool | None) -> ServersOutcome:
    outcome = check_servers(hub, before, keeps)
    log = get_run_logger()
    if outcome.lost:
        log.warning("hub %s: %d users' server(s) did not survive the upgrade: %s", hub.name,
                    len(outcome.lost), "; ".join(f"{n}: {why}" for n, why in
                                                 outcome.lost.items()))
    log.info("hub %s: users' servers kept %d, stopped by the hub %d, lost %d", hub.name,
             len(outcome.kept), len(outcome.stopped), len(outcome.lost))
    return outcome
