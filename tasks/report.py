"""Report: the run's markdown artifact. Rendering lives in the core; this only publishes."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact

from hubshift.report import render_markdown
from hubshift.result import UpgradeResult
from tasks import step


@step("report", retries=2, retry_delay_seconds=1)
def report(result: UpgradeResult) -> None:
    create_markdown_artifact(
        key=f"upgrade-{result.hub}",
        markdown=render_markdown(result),
        description=f"Upgrade of {result.hub}: {result.status}",
    )
