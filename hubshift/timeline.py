"""Durations of the steps of one run, so the result can say where the time (and the
downtime) went without asking the orchestrator. Each step is also announced as it starts
and ends (`hubshift.events`), for whoever watches the run."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from hubshift import events
from hubshift.result import StepTiming

P = ParamSpec("P")
R = TypeVar("R")


class Timeline:
    def __init__(self, hub: str | None = None) -> None:
        #: The hub the steps belong to, carried by their events (a fleet runs many at once).
        self.hub = hub
        self.steps: list[StepTiming] = []
        #: The step running now, or the one that failed last.
        self.current: str | None = None
        self.started = time.monotonic()

    def run(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call `fn` as step `name` and record how long it took and whether it raised."""
        self.current = name
        begin = time.monotonic()
        ok = False
        running = events.step_started(self.hub, name)
        try:
            value = fn(*args, **kwargs)
            ok = True
            return value
        finally:
            seconds = round(time.monotonic() - begin, 3)
            self.steps.append(StepTiming(name=name, seconds=seconds, ok=ok))
            events.step_ended(running, seconds, ok)

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)
