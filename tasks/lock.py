"""One hub, one upgrade at a time: a strict Prefect global concurrency limit of 1 per hub.

The slot is leased: on a Prefect server, a run that was killed frees it within LEASE seconds
(the server's Repossessor expires the lease). A temporary local server keeps leases in its
memory and has no Repossessor, so there `hubshift rollback`, which finishes the recovery of a
killed run, frees that run's slot itself (`free_slot`). A second run waits a little longer
than a lease, then is refused: queuing an upgrade behind another one is never what was meant.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitUpdate
from prefect.concurrency.sync import concurrency

from hubshift.errors import PreflightError
from hubshift.window.inprogress import InProgress, proven_dead_here

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
            hint="wait for it to finish; if it was killed, `hubshift rollback --hub "
                 f"{hub}` restores the hub and frees its slot",
        ) from err
    try:
        yield
    finally:
        slot.__exit__(None, None, None)


def free_slot(hub: str) -> None:
    """Give back the slot of a run that died holding it; only for a proven-dead run."""
    with get_client(sync_client=True) as client:
        client.upsert_global_concurrency_limit_by_name(lock_name(hub), limit=1)
        client.update_global_concurrency_limit(
            lock_name(hub), GlobalConcurrencyLimitUpdate(active_slots=0))


def run_is_over(run_id: str) -> bool:
    """Whether the Prefect server knows flow run `run_id` and says it is over: the proof
    that a run on another host is dead. False when it cannot tell."""
    try:
        with get_client(sync_client=True) as client:
            state = client.read_flow_run(UUID(run_id)).state
    except Exception:  # unknown run, malformed id, server unreachable: no proof
        return False
    return state is not None and state.is_final()


def holder_dead(record: InProgress) -> bool:
    """Whether the run of `record` is proven dead (see `hubshift.window.owner`)."""
    if record.owner is not None and record.owner.is_this_process():
        return False
    return proven_dead_here(record) or run_is_over(record.run_id)
