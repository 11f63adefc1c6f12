"""Resolve: what `latest` or a major version means on the package index, asked once so that
every hub of a fleet run gets the same release (a canary proves nothing about another one).
Read-only, so it may retry once."""

from __future__ import annotations

from prefect import get_run_logger

from hubshift.plan.releases import resolve_target as resolve
from tasks import step


@step("resolve-target", retries=1, retry_delay_seconds=5, timeout_seconds=600)
def resolve_target(target: str, pre: bool = False) -> str:
    exact = resolve(target, pre=pre)
    get_run_logger().info("JupyterHub %s is %s on the package index", target, exact)
    return exact
