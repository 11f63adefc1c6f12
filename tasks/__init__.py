"""Prefect task wrappers: one core call each, plus retry, timeout and logging policy.

Every step task is made by `step`, which gives it the shared options and the fault seam
(`hubshift.faults`). No task result is persisted or cached: results hold hub configurations,
and an upgrade step must run again when asked, never be skipped because an earlier run "did it".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from hubshift import events
from hubshift.faults import inject

#: Options every hubshift task shares.
TASK_DEFAULTS: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE}


def _scope() -> tuple[str, str | None]:
    """Where a step runs: "rollback" inside rollback_hub (so a fault aimed at an upgrade
    spares its rollback), and for which hub (so a fault can single out one hub of a fleet)."""
    context = FlowRunContext.get()
    if context is None:
        return "", None
    flow = "rollback" if context.flow.name == "rollback-hub" else ""
    hub = context.flow_run.parameters.get("hub") if context.flow_run else None
    return flow, hub if isinstance(hub, str) else None


def step(name: str, **policy: Any) -> Callable[[Callable[..., Any]], Any]:
    """Make a Prefect task of step `name` with `policy` (retries, timeout_seconds, ...)."""

    def make(fn: Callable[..., Any]) -> Any:
        return task(name=name, **TASK_DEFAULTS, **policy)(inject(name, fn, scope=_scope))

    return make


def note(message: str, *args: object) -> None:
    """What the running step did, in one line: logged to the run (the Prefect UI shows it)
    and handed to the step's end event (the terminal shows it). `message % args`, as logging."""
    get_run_logger().info(message, *args)
    events.summarize(message % args if args else message)


# The Prefect resolver of the fleet file's block references (hubshift.blocks).
from tasks import blocks as _blocks  # noqa: E402, F401
