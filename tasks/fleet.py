"""One hub of a fleet upgrade: in this process as a subflow, or through the hub's own
deployment so that it runs on the worker of the hub's host. Never raises: a hub's failure
is a row of the fleet's table, and the fleet decides what it means.

The in-process flow is handed in by the fleet flow: tasks never import flows."""

from __future__ import annotations

import re
from collections.abc import Callable

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import State
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_UI_URL

from hubshift.backends.storage import store_for
from hubshift.backup import results
from hubshift.config import load_fleet
from hubshift.errors import HubshiftError
from hubshift.fleet.report import FleetRow
from hubshift.result import Status, UpgradeResult, ended_early
from hubshift.system.redact import redact
from tasks import step


def deployment_name(hub: str) -> str:
    """`<flow name>/<deployment name>` of a hub's upgrade deployment (see deployments/)."""
    return f"upgrade-hub/{hub}"


def flow_run_link(flow_run_id: str | None) -> str | None:
    if not flow_run_id:
        return None
    ui = PREFECT_UI_URL.value()
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else flow_run_id


@step("upgrade-one", timeout_seconds=6 * 3600)
def upgrade_one(hub: str, environment: str, wave: str, target_version: str | None,
                fleet_file: str, use_deployment: bool,
                upgrade: Callable[..., UpgradeResult], now: bool = False) -> FleetRow:
    """`upgrade` is the upgrade_hub flow, run here as a subflow unless `use_deployment`;
    `now` ignores the hub's maintenance window."""
    result = (_through_deployment(hub, target_version, fleet_file, now) if use_deployment
              else _in_process(upgrade, hub, target_version, fleet_file, now))
    get_run_logger().info("hub %s: %s", hub, result.status)
    return FleetRow.from_result(result, environment=environment, wave=wave,
                                link=flow_run_link(result.flow_run_id))


def _in_process(upgrade: Callable[..., UpgradeResult], hub: str, target_version: str | None,
                fleet_file: str, now: bool = False) -> UpgradeResult:
    try:
        return upgrade(hub=hub, target_version=target_version, fleet_file=fleet_file,
                       **({"now": True} if now else {}))
    except Exception as err:
        return ended_early(err, hub, fleet_file, target_version)


def _through_deployment(hub: str, target_version: str | None, fleet_file: str,
                        now: bool = False) -> UpgradeResult:
    """Run the hub's deployment and wait for it; its result is the one the run kept in the
    backup store (hubshift.backup.results), or what Prefect's state proves without it."""
    parameters: dict[str, object] = {"hub": hub, "fleet_file": fleet_file}
    if target_version:
        parameters["target_version"] = target_version
    if now:
        parameters["now"] = True
    run = run_deployment(deployment_name(hub), parameters=parameters, timeout=None,
                         poll_interval=2)
    try:
        store = store_for(load_fleet(fleet_file).storage)
        kept = results.read(store, hub, str(run.id))
    except HubshiftError as err:
        get_run_logger().warning("hub %s: the result of flow run %s could not be read (%s); "
                                 "going by the run's state", hub, run.id, redact(str(err)))
        kept = None
    if kept is not None:
        return kept
    return _from_state(hub, target_version, str(run.id), run.state)


def _from_state(hub: str, target_version: str | None, run_id: str,
                state: State | None) -> UpgradeResult:
    """A run that kept no result (it crashed, or the store was unreachable): refused only
    when its state proves it, i.e. it failed with an error that means a refusal (exit 2);
    anything else may have left the hub half-way, so an operator looks."""
    message = (state.message if state else None) or "the run ended without a result"
    raised = _RAISED.search(message)
    refused = bool(state and state.is_failed() and raised
                   and raised.group(1) in _refusals(HubshiftError))
    return UpgradeResult(hub=hub, to_version=target_version, flow_run_id=run_id,
                         status=Status.REFUSED if refused else Status.NEEDS_OPERATOR,
                         error=redact(message),
                         hub_state=None if refused else "unknown: the run kept no result; "
                         "see its flow run's logs")


#: How Prefect names the error that failed a flow run in its state's message.
_RAISED = re.compile(r"encountered an exception: (\w+):")


def _refusals(base: type[HubshiftError]) -> set[str]:
    """Names of the hubshift errors that mean "refused, nothing touched" (exit 2)."""
    names = {base.__name__} if base.exit_code == 2 else set()
    for sub in base.__subclasses__():
        names |= _refusals(sub)
    return names


@step("fleet-report", retries=2, retry_delay_seconds=1)
def fleet_report(rows: list[FleetRow]) -> None:
    create_table_artifact(
        key="fleet-upgrade",
        table=[row.model_dump(exclude={"status", "error", "failed_step", "cause", "hub_state",
                                       "next_command"}) for row in rows],
        description="Fleet upgrade: one row per hub",
    )
