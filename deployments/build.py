"""The fleet file as Prefect deployments.

Each hub gets `upgrade-hub/<hub>`: its maintenance window as a cron schedule in its time zone,
its parameters filled in, a concurrency limit of one, and its work queue. Admins also get
`rollback-hub/rollback`, `fleet-upgrade/fleet` and `move-db/move-db` to start from the UI.
"""

from __future__ import annotations

from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.exceptions import ObjectNotFound
from prefect.schedules import Cron

from flows.fleet_upgrade import fleet_upgrade
from flows.move_db import move_db
from flows.rollback_hub import rollback_hub
from flows.upgrade_hub import upgrade_hub
from hubshift.config import FleetConfig, HubConfig, load_fleet

#: Workers import flows as modules of the installed project (`flows.upgrade_hub`), so they
#: run from any directory; a file path would tie them to where `deploy` was run.
ENTRYPOINT = EntrypointType.MODULE_PATH


def hub_deployment(hub: HubConfig, fleet_file: Path) -> RunnerDeployment:
    parameters = {"hub": hub.name, "fleet_file": str(fleet_file)}
    if hub.target_version:
        parameters["target_version"] = hub.target_version
    schedules = [Cron(hub.schedule.cron, timezone=hub.schedule.timezone)] if hub.schedule else []
    return upgrade_hub.to_deployment(
        name=hub.name,
        schedules=schedules,
        parameters=parameters,
        concurrency_limit=1,
        tags=["hubshift", hub.environment],
        description=f"Upgrade JupyterHub {hub.name} ({hub.environment}) in its maintenance "
                    "window; rolls back on any failure.",
        work_queue_name=hub.queue,
        entrypoint_type=ENTRYPOINT,
    )


def fleet_deployments(fleet_file: Path | str) -> list[RunnerDeployment]:
    """Every deployment of a fleet file; the file is referred to by its absolute path."""
    path = Path(fleet_file).resolve()
    fleet: FleetConfig = load_fleet(path)
    deployments = [hub_deployment(hub, path) for hub in fleet.hubs]
    deployments.append(rollback_hub.to_deployment(
        name="rollback", parameters={"fleet_file": str(path)}, tags=["hubshift"],
        entrypoint_type=ENTRYPOINT,
        description="Restore a hub to a backup: database, config file and JupyterHub version. "
                    "Outside an interrupted upgrade, name the backup; a run without confirm "
                    "only reports what the restore discards (its artifact) and touches "
                    "nothing; with confirm, a safety backup of the hub is taken first.",
    ))
    deployments.append(move_db.to_deployment(
        name="move-db", parameters={"fleet_file": str(path)}, tags=["hubshift"],
        entrypoint_type=ENTRYPOINT,
        description="Move a hub's database to PostgreSQL or MySQL/MariaDB, same JupyterHub "
                    "version, in one verified window; rolls back to the old database on any "
                    "failure. Give the new URL as ${VAR}, a variable of the worker's "
                    "environment: a password typed into the form would be kept by Prefect.",
    ))
    deployments.append(fleet_upgrade.to_deployment(
        name="fleet", parameters={"fleet_file": str(path), "use_deployments": True},
        entrypoint_type=ENTRYPOINT,
        tags=["hubshift"], description="Upgrade the fleet in waves: staging first, then "
                                       "production in a growing ramp; approval gates and "
                                       "soaks between waves as rollout (or these "
                                       "parameters) say.",
    ))
    return deployments


def ensure_pool(name: str) -> None:
    """Create process work pool `name` if it does not exist (an existing pool is kept)."""
    with get_client(sync_client=True) as client:
        try:
            client.read_work_pool(name)
        except ObjectNotFound:
            client.create_work_pool(WorkPoolCreate(name=name, type="process"))


def deploy(fleet_file: Path | str, pool: str) -> list[str]:
    """Register every deployment with work pool `pool`; return their full names."""
    ensure_pool(pool)
    names = []
    for deployment in fleet_deployments(fleet_file):
        deployment.apply(work_pool_name=pool)
        names.append(f"{deployment.flow_name}/{deployment.name}")
    return names
