"""What a run is doing right now, for whoever watches it (the CLI's terminal).

The core and the flows emit small typed events (a step started or ended, the downtime
started or ended, a count went up, a hub of a fleet finished); a watcher subscribes. Nothing
here knows who listens, and a watcher can never break a run: its exceptions are swallowed.

Steps are scoped per thread of execution (a context variable), so a fleet's hubs, each in
its own thread, keep their summaries and counters apart; every event carries its hub.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StepStarted:
    hub: str | None
    name: str


@dataclass(frozen=True)
class StepEnded:
    hub: str | None
    name: str
    seconds: float
    ok: bool
    #: What the step did, in one line (`summarize`), or "" when it said nothing.
    summary: str = ""


@dataclass(frozen=True)
class DowntimeStarted:
    hub: str | None


@dataclass(frozen=True)
class DowntimeEnded:
    hub: str | None
    seconds: float


@dataclass(frozen=True)
class Progress:
    """`done` of `total` `unit` (bytes, hubs) of step `step`; total None when unknown."""

    hub: str | None
    step: str | None
    unit: str
    done: int
    total: int | None


@dataclass(frozen=True)
class Notice:
    """Something an operator should know now that is not a step (a rollback begins, the
    notice's lead time runs, a fleet's wave starts)."""

    hub: str | None
    text: str


@dataclass(frozen=True)
class HubEnded:
    """One hub of a fleet run finished; `summary` says how, in one line."""

    hub: str
    ok: bool
    summary: str


#: `extra` of a log record that a watcher already shows in its own words (the failure's
#: last lines, a notice), so that it appears there once; the run's log keeps it.
SAID_ELSEWHERE = {"hubshift_said_elsewhere": True}

Event = StepStarted | StepEnded | DowntimeStarted | DowntimeEnded | Progress | Notice | HubEnded
Watcher = Callable[[Event], None]

_watchers: list[Watcher] = []
_lock = threading.Lock()
_log = logging.getLogger(__name__)


def emit(event: Event) -> None:
    """Hand `event` to every watcher. Never raises: watching must not change a run."""
    with _lock:
        watchers = list(_watchers)
    for watcher in watchers:
        try:
            watcher(event)
        except Exception:  # noqa: BLE001 - a broken display is no reason to fail an upgrade
            _log.debug("event watcher %r failed on %r", watcher, event, exc_info=True)


@contextmanager
def watching(watcher: Watcher) -> Iterator[None]:
    """Subscribe `watcher` to every event emitted (from any thread) inside the block."""
    with _lock:
        _watchers.append(watcher)
    try:
        yield
    finally:
        with _lock:
            _watchers.remove(watcher)


@dataclass
class _Running:
    hub: str | None
    name: str
    summary: list[str] = field(default_factory=list)
    token: contextvars.Token | None = None


_running: contextvars.ContextVar[_Running | None] = contextvars.ContextVar(
    "hubshift_running_step", default=None)


def step_started(hub: str | None, name: str) -> _Running:
    """Step `name` of `hub` begins in this context; pass the value to `step_ended`."""
    running = _Running(hub, name)
    running.token = _running.set(running)
    emit(StepStarted(hub, name))
    return running


def step_ended(running: _Running, seconds: float, ok: bool) -> None:
    """The step begun by `step_started` ended, with what `summarize` collected meanwhile."""
    if running.token is not None:
        try:
            _running.reset(running.token)
        except ValueError:  # ended in another context than it began: nothing to restore
            _running.set(None)
    emit(StepEnded(running.hub, running.name, seconds, ok, "; ".join(running.summary)))


def summarize(text: str) -> None:
    """Say in one line what the running step did (several calls are joined with "; ").
    Outside a step (or in a thread of its own) it goes nowhere."""
    running = _running.get()
    line = " ".join(text.split())
    if running is not None and line not in running.summary:  # a retried step says it once
        running.summary.append(line)


def meter(unit: str, total: int | None, *, every: float = 0.2) -> Callable[[int], None]:
    """A callback that adds its argument to a count of `unit` and emits Progress, at most
    every `every` seconds and once at the total. Bound to the step running where it is made,
    so it may be called from any thread (boto3 calls it from its transfer threads)."""
    running = _running.get()
    hub, step = (running.hub, running.name) if running else (None, None)
    lock = threading.Lock()
    state = {"done": 0, "sent": float("-inf")}  # the first call always gets out

    def add(amount: int) -> None:
        with lock:
            state["done"] += amount
            done, now = int(state["done"]), time.monotonic()
            if now - state["sent"] < every and (total is None or done < total):
                return
            state["sent"] = now
        emit(Progress(hub, step, unit, done, total))

    return add
