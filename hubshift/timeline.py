"""Durations of the steps of one run, so the result can say where the time (and the
downtime) went without asking the orchestrator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from hubshift.result import StepTiming

P = ParamSpec("P")
R = TypeVar("R")


class Timeline:
    def __init__(self) -> None:
        self.steps: list[StepTiming] = []
        #: The step running now, or the one that failed last.
        self.current: str | None = None
        self.started = time.monotonic()

    def run(self, name: str, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Call `fn` as step `name` and record how long it took and whether it raised."""
        self.current = name
        begin = time.monotonic()
        ok = False
        try:
            value = fn(*args, **kwargs)
            ok = True
            return value
        finally:
            self.steps.append(StepTiming(name=name, seconds=round(time.monotonic() - begin, 3),
                                         ok=ok))

    def elapsed(self) -> float:
        return round(time.monotonic() - self.started, 3)
