"""The in-progress record is the hub's lock: two orchestrators racing for it against one
real S3 server (moto's, which honours conditional writes) never both win, and a record is
taken over only from a run proven dead."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import subprocess
import sys
import time

import pytest

from hubshift.backends.storage import BackupStore
from hubshift.config import StorageConfig
from hubshift.window import inprogress
from hubshift.window.owner import Owner

pytestmark = pytest.mark.integration

HUB = "physics"
ROUNDS = 12


def _record(step: str = "preflight", *, owner: Owner | None = None,
            touched: bool = False) -> inprogress.InProgress:
    return inprogress.InProgress(hub=HUB, run_id="cli", step=step,
                                 owner=owner or Owner.this_process(), touched=touched,
                                 started_at=dt.datetime.now(dt.timezone.utc))


def _race(config: StorageConfig, start_at: float, results: multiprocessing.Queue,
          done: multiprocessing.Event) -> None:
    """One orchestrator: wait for the common start, try to claim the hub, and stay alive
    until the round is over (a holder that exits is a dead one, whose record is free)."""
    store = BackupStore(config)
    record = _record()
    while time.time() < start_at:
        pass
    try:
        inprogress.claim(store, record, inprogress.proven_dead_here, take_touched=False)
        results.put(("won", os.getpid()))
    except inprogress.HubHeld as err:
        results.put(("held", str(err)))
    done.wait(60)


def test_two_orchestrators_racing_for_a_hub_never_both_hold_it(
        storage_config: StorageConfig) -> None:
    store = BackupStore(storage_config)
    assert store.honours_conditional_writes()
    context = multiprocessing.get_context("fork")
    for _ in range(ROUNDS):
        results, done = context.Queue(), context.Event()
        start_at = time.time() + 0.5  # both processes are up and waiting by then
        racers = [context.Process(target=_race, args=(storage_config, start_at, results, done))
                  for _ in range(2)]
        for racer in racers:
            racer.start()
        outcomes = sorted(results.get(timeout=60) for _ in racers)
        done.set()
        for racer in racers:
            racer.join(10)
        assert [kind for kind, _ in outcomes] == ["held", "won"], outcomes
        assert "has not been proven dead" in outcomes[0][1]
        # The winner's record is the one in the store, naming the winner's process.
        holder = inprogress.read(store, HUB)
        assert holder is not None and holder.owner is not None
        assert holder.owner.pid == outcomes[1][1]
        inprogress.clear(store, HUB)


def test_a_dead_runs_record_is_taken_over_only_if_it_left_the_hub_untouched(
        storage_config: StorageConfig) -> None:
    store = BackupStore(storage_config)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = Owner.this_process().model_copy(update={"pid": gone.pid})

    inprogress.write(store, _record("preflight", owner=dead))
    mine = _record()
    replaced = inprogress.claim(store, mine, inprogress.proven_dead_here, take_touched=False)
    assert replaced is not None and replaced.owner == dead
    assert inprogress.read(store, HUB) == mine

    inprogress.write(store, _record("migrate", owner=dead, touched=True))
    with pytest.raises(inprogress.HubHeld, match="did not finish: it stopped at step migrate"):
        inprogress.claim(store, mine, inprogress.proven_dead_here, take_touched=False)
    # A rollback finishes it.
    assert inprogress.claim(store, mine, inprogress.proven_dead_here, take_touched=True)


def test_a_live_runs_record_is_never_taken_over(storage_config: StorageConfig) -> None:
    store = BackupStore(storage_config)
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = Owner.this_process().model_copy(
            update={"pid": alive.pid, "pid_started": Owner.this_process().pid_started})
        from hubshift.system import procs
        owner = owner.model_copy(update={"pid_started": procs.started(alive.pid)})
        inprogress.write(store, _record("migrate", owner=owner, touched=True))
        with pytest.raises(inprogress.HubHeld, match="has not been proven dead"):
            inprogress.claim(store, _record(), inprogress.proven_dead_here, take_touched=True)
        # The same pid with another start time is another process: the holder is dead.
        reused = owner.model_copy(update={"pid_started": (owner.pid_started or 0) + 1})
        inprogress.write(store, _record("migrate", owner=reused, touched=True))
        assert inprogress.claim(store, _record(), inprogress.proven_dead_here,
                                take_touched=True) is not None
        # A run on another host is never proven dead from here.
        elsewhere = owner.model_copy(update={"host": "another-host"})
        inprogress.write(store, _record("stop", owner=elsewhere, touched=True))
        with pytest.raises(inprogress.HubHeld, match="on host another-host"):
            inprogress.claim(store, _record(), inprogress.proven_dead_here, take_touched=True)
    finally:
        alive.kill()
        alive.wait()
