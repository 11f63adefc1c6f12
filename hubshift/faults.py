"""The fault-injection seam: the one place that reads `HUBSHIFT_FAULT`.

`HUBSHIFT_FAULT=<step>:<how>[,<step>:<how>...]` makes a named step of an upgrade misbehave,
so tests can prove every failure ends with the hub on its old version. `rollback.<step>`
targets the same step inside rollback_hub instead (to prove exit 3), and `<hub>/<step>` one
hub of a fleet only. `how` is one of:

- `raise`: fail before the step does anything (on every attempt, so retries fail too);
- `after`: fail after the step did its work (a migration that fails half-way);
- `hang`: block until the step's timeout ends it;
- `kill`: SIGKILL the orchestrator after the step did its work (a crashed run); its whole
  process group when it leads one, as an init system kills a service;
- `pause`: after the step did its work, hold the run while the file named by
  `HUBSHIFT_FAULT_PAUSE` exists, having written `<that file>.reached`: a test acts on the
  world at that exact point (writes to the hub between two steps), then removes the file.

Unset in production: every call below is then a dictionary lookup.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

from hubshift.errors import ConfigError, HubshiftError

ENV = "HUBSHIFT_FAULT"
PAUSE_ENV = "HUBSHIFT_FAULT_PAUSE"
HOWS = ("raise", "after", "hang", "kill", "pause")
#: How long a `pause` holds at most: a test that died must not leave a run held for good.
PAUSE_LIMIT = 300.0

P = ParamSpec("P")
R = TypeVar("R")


class InjectedFault(HubshiftError):
    """A failure made on purpose through HUBSHIFT_FAULT."""


def _spec() -> dict[str, str]:
    faults: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in os.environ.get(ENV, "").split(","))):
        step, _, how = item.rpartition(":")
        if not step or how not in HOWS:
            raise ConfigError(f"{ENV}={item!r}: expected <step>:<{'|'.join(HOWS)}>")
        faults[step] = how
    return faults


def _hang() -> None:
    # Short sleeps, so the timeout's exception is delivered between them.
    while True:
        time.sleep(0.05)


def _pause(step: str) -> None:
    held = os.environ.get(PAUSE_ENV)
    if not held:
        raise ConfigError(f"{ENV}: {step}:pause needs {PAUSE_ENV}, the file that holds the run")
    reached = Path(f"{held}.reached")
    reached.with_suffix(".tmp").write_text(step)
    reached.with_suffix(".tmp").replace(reached)  # whole, or not there yet
    deadline = time.monotonic() + PAUSE_LIMIT
    while Path(held).exists():
        if time.monotonic() > deadline:
            raise InjectedFault(f"paused after {step} for {PAUSE_LIMIT:g} s: nobody let go",
                                step=step)
        time.sleep(0.05)


def _no_scope() -> tuple[str, str | None]:
    return "", None


def inject(step: str, fn: Callable[P, R], *,
           scope: Callable[[], tuple[str, str | None]] = _no_scope) -> Callable[P, R]:
    """`fn` with the fault configured for `step` around it.

    `scope()` says where the call happens: ("rollback" or "", the hub's name or None).
    """

    @wraps(fn)
    def faulty(*args: P.args, **kwargs: P.kwargs) -> R:
        spec = _spec()
        if not spec:
            return fn(*args, **kwargs)
        flow, hub = scope()
        name = f"{flow}.{step}" if flow else step
        how = spec.get(f"{hub}/{name}") if hub else None
        how = how or spec.get(name)
        if how == "raise":
            raise InjectedFault(f"fault injected before {step}", step=step)
        if how == "hang":
            _hang()
        value = fn(*args, **kwargs)
        if how == "after":
            raise InjectedFault(f"fault injected after {step}", step=step)
        if how == "pause":
            _pause(step)
        if how == "kill":
            if os.getpgrp() == os.getpid():
                os.killpg(os.getpid(), signal.SIGKILL)
            os.kill(os.getpid(), signal.SIGKILL)
        return value

    return faulty
