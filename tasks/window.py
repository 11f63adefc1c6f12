"""Is there time left in the hub's maintenance window? (hubshift.window.maintenance)"""

from __future__ import annotations

import datetime as dt

from prefect import get_run_logger

from hubshift.backends.storage import store_for
from hubshift.backup import results
from hubshift.config import FleetConfig, HubConfig
from hubshift.errors import HubshiftError
from hubshift.result import Rehearsal
from hubshift.system.redact import redact
from hubshift.window.maintenance import Verdict, decide, estimate
from tasks import note, step


@step("window", timeout_seconds=120)
def check_window(fleet: FleetConfig, config: HubConfig,
                 rehearsal: Rehearsal | None) -> Verdict | None:
    """The verdict for a run that would tell users now; None when the hub's schedule sets
    no `duration` (no window to keep to). The estimate is the rehearsal's, else the last
    run's downtime: one the store cannot tell is a warning, and counts as unknown."""
    schedule = config.schedule
    if schedule is None or schedule.duration is None:
        return None
    timed = rehearsal is not None and (rehearsal.migrate_seconds is not None
                                       or rehearsal.start_seconds is not None)
    last = None
    if not timed:
        try:
            last = results.last_downtime(store_for(fleet.storage), config.name)
        except HubshiftError as err:
            get_run_logger().warning("hub %s: the last downtime could not be read (%s); the "
                                     "window's estimate goes without it", config.name,
                                     redact(err.message))
    seconds = estimate(rehearsal.migrate_seconds if timed else None,
                       rehearsal.start_seconds if timed else None, last,
                       fleet.notify.lead_time, schedule.margin.total_seconds())
    verdict = decide(schedule.cron, schedule.timezone, schedule.duration,
                     dt.datetime.now(dt.timezone.utc), seconds)
    if verdict.go:
        note("window open until %s; the upgrade needs about %.0f s", verdict.closes, seconds)
    else:
        note("deferred: %s", verdict.reason())
    return verdict
