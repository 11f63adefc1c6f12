"""One hub of a fleet upgrade: in this process as a subflow, or through the hub's own
deployment so that it runs on the worker of the hub's host. Never raises: a hub's failure
is a row of the fleet's table, and the fleet decides what it means.

The in-process flow is handed in by the fleet flow: tasks never import flows."""

from __future__ import annotations

from collections.abc import Callable

from prefect import get_run_logger
from prefect.artifacts import create_table_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.sorting import ArtifactSort
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_UI_URL

from hubshift.errors import HubshiftError
from hubshift.fleet.report import FleetRow
from hubshift.report import result_from_markdown
from hubshift.result import UpgradeFailed, UpgradeResult
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
                upgrade: Callable[..., UpgradeResult]) -> FleetRow:
    """`upgrade` is the upgrade_hub flow, run here as a subflow unless `use_deployment`."""
    result = (_through_deployment(hub, target_version, fleet_file) if use_deployment
              else _in_process(upgrade, hub, target_version, fleet_file))
    get_run_logger().info("hub %s: %s", hub, result.status)
    return FleetRow.from_result(result, environment=environment, wave=wave,
                                link=flow_run_link(result.flow_run_id))


def _in_process(upgrade: Callable[..., UpgradeResult], hub: str, target_version: str | None,
                fleet_file: str) -> UpgradeResult:
    try:
        return upgrade(hub=hub, target_version=target_version, fleet_file=fleet_file)
    except UpgradeFailed as err:
        return err.result
    except HubshiftError as err:
        status = "refused" if err.exit_code == 2 else "needs-operator"
        return UpgradeResult(hub=hub, status=status, to_version=target_version,
                             error=redact(str(err)), failed_step=err.step)


def _through_deployment(hub: str, target_version: str | None, fleet_file: str) -> UpgradeResult:
    parameters = {"hub": hub, "fleet_file": fleet_file}
    if target_version:
        parameters["target_version"] = target_version
    run = run_deployment(deployment_name(hub), parameters=parameters, timeout=None,
                         poll_interval=2)
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run.id])),
            sort=ArtifactSort.CREATED_DESC, limit=5, offset=0,
        )
    for artifact in artifacts:
        result = result_from_markdown(str(artifact.data or ""))
        if result is not None:
            return result.model_copy(update={"flow_run_id": str(run.id)})
    # The run ended without its report (refused in preflight, crashed): say what Prefect knows.
    state = run.state
    status = "refused" if state and "exit 2" in (state.message or "") else "needs-operator"
    return UpgradeResult(hub=hub, status=status, to_version=target_version,
                         flow_run_id=str(run.id),
                         error=redact(state.message if state and state.message else "no report"))


@step("fleet-report", retries=2, retry_delay_seconds=1)
def fleet_report(rows: list[FleetRow]) -> None:
    create_table_artifact(
        key="fleet-upgrade",
        table=[row.model_dump(exclude={"error", "failed_step", "cause", "hub_state",
                                       "next_command"}) for row in rows],
        description="Fleet upgrade: one row per hub",
    )
