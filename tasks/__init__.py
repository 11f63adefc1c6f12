"""Prefect task wrappers: one core call each, plus retry, timeout and logging policy.

No task result is persisted or cached: results hold hub configurations, and an upgrade step
must run again when asked, never be skipped because an earlier run "already did it".
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NO_CACHE

#: Options every hubshift task shares.
TASK_DEFAULTS: dict[str, Any] = {"persist_result": False, "cache_policy": NO_CACHE}
