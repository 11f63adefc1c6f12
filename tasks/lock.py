"""One hub, one upgrade at a time: a strict Prefect global concurrency limit of 1 per hub.

The slot is leased, so a run that was killed frees it within LEASE seconds. A second run
waits a little longer than that (a killed run costs a short wait, never a refusal), then is
refused: queuing an upgrade behind another one of the same hub is never what was meant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from prefect.client.orchestration import get_client
from prefect.concurrency.sync import concurrency

from hubshift.errors import PreflightError

#: Seconds a slot outlives a run that died without releasing it (renewed while alive).
LEASE = 60.0  # the least Prefect accepts
#: Seconds a second run waits for the hub's slot before it is refused.
LOCK_WAIT = LEASE + 30.0


def lock_name(hub: str) -> str:
    return f"hubshift-hub-{hub}"


@contextmanager
def hub_lock(hub: str, wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold `hub`'s slot for the body; PreflightError (exit 2) when another run holds it."""
    name = lock_name(hub)
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(name, limit=1)
    slot = concurrency(name, occupy=1, timeout_seconds=wait, strict=True, lease_duration=LEASE)
    try:
        slot.__enter__()
    except TimeoutError as err:
        raise PreflightError(
            f"another run is upgrading hub {hub} (Prefect concurrency limit {name} is taken)",
            hub=hub, step="lock",
            hint="wait for it to finish; if it was killed, its slot frees itself within "
                 f"{LEASE:.0f} s and `hubshift rollback --hub {hub}` restores the hub",
        ) from err
    try:
        yield
    finally:
        slot.__exit__(None, None, None)
