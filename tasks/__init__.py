"""Prefect task wrappers: one core call each, plus retry, timeout and logging policy.

Every step task is made by `step`, which gives it the shared options and the fault seam
(`hubshift.faults`). No task result is persisted or cached: results hold hub configurations,
and an upgrade step must run again when asked, never be skipped because an earlier run "did it".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext

from hubshift.faults import inject

#: Options every hubshift task shares.
TASK_DEFAULTS: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE}


def _scope() -> str:
    """"rollback" inside rollback_hub, so a fault aimed at an upgrade spares its rollback."""
    context = FlowRunContext.get()
    return "rollback" if context and context.flow.name == "rollback-hub" else ""


def step(name: str, **policy: Any) -> Callable[[Callable[..., Any]], Any]:
    """Make a Prefect task of step `name` with `policy` (retries, timeout_seconds, ...)."""

    def make(fn: Callable[..., Any]) -> Any:
        return task(name=name, **TASK_DEFAULTS, **policy)(inject(name, fn, scope=_scope))

    return make
