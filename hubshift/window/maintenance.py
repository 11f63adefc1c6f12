"""Is there time left in the hub's maintenance window? A pure decision, made before the stop.

A schedule's cron line says when a window opens; its `duration` how long it stays open. A run
that starts late (queued behind another, a worker down) must not stop a hub at 9 a.m.: the
flow asks `decide` just before it tells users and stops the hub, with its best estimate of
the downtime, and defers the upgrade when the window that is open now (the one that opened
at the latest cron fire time <= now) cannot hold it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from cronsim import CronSim

#: What cron's macros mean as five fields (cronsim reads only the fields).
MACROS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
          "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
          "@hourly": "0 * * * *"}


@dataclass(frozen=True)
class Verdict:
    """What `decide` found: go ahead, or defer to `next_start`."""

    go: bool
    #: The window open now, if any: when it opened and when it closes.
    opened: dt.datetime | None
    closes: dt.datetime | None
    #: When the next window opens (after now), in the schedule's time zone.
    next_start: dt.datetime
    estimate_seconds: float

    def reason(self) -> str:
        """Why the run was deferred, in one sentence (empty when it goes ahead)."""
        if self.go:
            return ""
        need = _minutes(self.estimate_seconds)
        when = f"the next window opens {_stamp(self.next_start)}"
        if self.opened is None or self.closes is None:
            return f"outside the maintenance window (the upgrade needs about {need}); {when}"
        return (f"the maintenance window that opened {_stamp(self.opened)} closes "
                f"{_stamp(self.closes)}, too soon for an upgrade of about {need}; {when}")


def estimate(migrate_seconds: float | None, start_seconds: float | None,
             last_downtime: float | None, lead_time: float, margin: float) -> float:
    """Seconds the run still needs once it would tell users: the notice's lead time, the
    downtime (the rehearsal's migrate + start where it timed them, else the last run's
    downtime, else nothing known) and the margin (stop, backup, the unforeseen)."""
    if migrate_seconds is not None or start_seconds is not None:
        downtime = (migrate_seconds or 0.0) + (start_seconds or 0.0)
    else:
        downtime = last_downtime or 0.0
    return lead_time + downtime + margin


def _cron(expression: str) -> str:
    return MACROS.get(expression.strip(), expression)


def decide(cron: str, timezone: str, duration: dt.timedelta, now: dt.datetime,
           estimate_seconds: float) -> Verdict:
    """Whether an upgrade of `estimate_seconds` (margin included) fits in the window open at
    `now` (timezone-aware) for the schedule `cron` in `timezone` with windows `duration`
    long; the window runs from a cron fire time f to f + duration, both read in `timezone`.

    Pure: no clock, no I/O. Raises ValueError for a naive `now` or a cron line cronsim
    cannot read (the fleet file's validation refuses those first).
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    expression = _cron(cron)
    # The latest fire time <= now lies within `duration` of now, or no window is open.
    opened = None
    for fire in CronSim(expression, local - duration - dt.timedelta(seconds=1)):
        if fire > local:
            next_start = fire
            break
        opened = fire
    closes = opened + duration if opened is not None else None
    if closes is not None and closes <= local:
        opened = closes = None
    go = closes is not None and (closes - local).total_seconds() >= estimate_seconds
    return Verdict(go=go, opened=opened, closes=closes, next_start=next_start,
                   estimate_seconds=estimate_seconds)


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M %Z")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"
