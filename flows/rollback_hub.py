"""rollback_hub: bring a hub back to a backup — after a failed upgrade, or on an admin's
request from the Prefect UI or `hubshift rollback`.

Every step is safe to repeat, so the whole flow can be re-run after a crash.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger

from hubshift.config import load_fleet
from hubshift.errors import HubshiftError, RollbackError
from hubshift.installers import Install
from hubshift.result import UpgradeResult
from hubshift.timeline import Timeline
from tasks.hub import start, stop
from tasks.rollback import restore
from tasks.switch import switch
from tasks.verify import verify_rows, wait_healthy


@flow(name="rollback-hub", flow_run_name="rollback-{hub}")
def rollback_hub(hub: str, backup_id: str = "latest", reason: str = "",
                 fleet_file: str = "fleet.yaml") -> UpgradeResult:
    """Restore `hub` to backup `backup_id` (or the latest) and start it on that backup's version.

    Raises RollbackError (exit 3) saying where the hub stands when a step cannot finish.
    """
    fleet = load_fleet(fleet_file)
    config = fleet.hub(hub)
    timeline = Timeline()
    if reason:
        get_run_logger().warning("rolling back hub %s: %s", hub, reason)
    try:
        timeline.run("stop", stop, config)
        manifest = timeline.run("restore", restore, fleet, config, backup_id)
        timeline.run("switch-back", switch, config,
                     Install(Path(manifest.from_install), manifest.from_version))
        timeline.run("start", start, config)
        timeline.run("wait-healthy", wait_healthy, config, manifest.from_version)
        timeline.run("verify", verify_rows, config, manifest)
    except HubshiftError as err:
        raise RollbackError(
            f"rollback stopped at step {timeline.current}: {err}. The hub may be down; its "
            "database holds the backup only if the restore step passed. Fix the cause and run "
            f"`hubshift rollback --hub {hub} --backup {backup_id}` again (it is safe to repeat).",
            hub=hub, step=timeline.current,
        ) from err
    return UpgradeResult(hub=hub, status="rolled-back", from_version=manifest.to_version,
                         to_version=manifest.from_version, backup_id=manifest.backup_id,
                         to_revision=manifest.alembic_revision, steps=timeline.steps)
