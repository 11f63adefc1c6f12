"""Preflight: read the fleet file, check everything, plan. Read-only, so it can be retried."""

from __future__ import annotations

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from hubshift.config import load_fleet
from hubshift.plan.preflight import Preflight, run_preflight
from hubshift.plan.upgrade import UpgradePlan, render
from tasks import note, step


@step("preflight", timeout_seconds=600)
def preflight(fleet_file: str, hub: str, target_version: str | None,
              via: str | None = None, pre: bool = False) -> Preflight:
    checked = run_preflight(load_fleet(fleet_file), hub, target_version, via, pre)
    plan = checked.plan
    publish_plan(plan)
    note("JupyterHub %s -> %s, %s at alembic %s, %d migration(s), %d plan warning(s)",
         plan.installed_version, plan.target_version, plan.engine,
         plan.current_revision or "none", len(plan.migrations), len(plan.warnings))
    return checked


def publish_plan(plan: UpgradePlan) -> None:
    """Log the plan and publish it as the hub's `plan-<hub>` artifact (a newer one replaces
    it once the target release has added what it says)."""
    text = render(plan)
    get_run_logger().info("plan:\n%s", text)
    create_markdown_artifact(key=f"plan-{plan.hub}",
                             markdown=f"# Plan for `{plan.hub}`\n\n```\n{text}\n```\n",
                             description=f"What the upgrade of {plan.hub} will do")
