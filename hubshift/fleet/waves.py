"""In what order a fleet is upgraded, and when to stop: canary first, then a growing ramp.

Staging hubs go first as a canary wave; production follows in batches of 1, then 5, then 20%
of production at a time (Ansible's `serial` ramp), so an upgrade that breaks hubs breaks one
before it breaks many. Pure: the flow asks, this decides.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from hubshift.config import HubConfig

#: The first production batches; after them, RAMP_PERCENT of production per batch.
RAMP = (1, 5)
RAMP_PERCENT = 20


@dataclass(frozen=True)
class Wave:
    name: str
    hubs: tuple[HubConfig, ...]
    #: A canary wave that fails stops everything after it.
    canary: bool = False


def plan_waves(hubs: Sequence[HubConfig]) -> list[Wave]:
    """The waves for `hubs`, in order: staging (canary), then production in a ramp."""
    staging = tuple(h for h in hubs if h.environment == "staging")
    production = [h for h in hubs if h.environment != "staging"]
    waves = [Wave("canary", staging, canary=True)] if staging else []
    later = max(1, math.ceil(len(production) * RAMP_PERCENT / 100))
    sizes = iter([*RAMP])
    start = 0
    while start < len(production):
        size = next(sizes, later)
        batch = tuple(production[start:start + size])
        waves.append(Wave(f"production {len(waves) + (0 if staging else 1)}", batch))
        start += size
    return waves


@dataclass
class FailureBudget:
    """Stops new starts once failed/attempted exceeds `max_fail_percent`."""

    max_fail_percent: float
    attempted: int = 0
    failed: int = 0
    failed_hubs: list[str] = field(default_factory=list)

    def record(self, hub: str, ok: bool) -> None:
        self.attempted += 1
        if not ok:
            self.failed += 1
            self.failed_hubs.append(hub)

    def fail_later(self, hub: str) -> None:
        """A hub recorded as ok failed afterwards (its soak): it counts as failed."""
        if hub not in self.failed_hubs:
            self.failed += 1
            self.failed_hubs.append(hub)

    @property
    def exhausted(self) -> bool:
        return self.attempted > 0 and 100 * self.failed / self.attempted > self.max_fail_percent
