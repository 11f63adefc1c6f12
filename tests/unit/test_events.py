"""The core's events: steps announced by the Timeline with what they did, kept apart per
thread (a fleet's hubs run in parallel), counters, and watchers that cannot break a run."""

from __future__ import annotations

import threading

import pytest

from hubshift import events
from hubshift.timeline import Timeline


def _collect() -> tuple[list[events.Event], events.Watcher]:
    seen: list[events.Event] = []
    return seen, seen.append


def test_a_timeline_step_ends_with_the_summary_its_work_gave() -> None:
    seen, watcher = _collect()

    def backup() -> str:
        events.summarize("backup 1 verified:\n users 5")
        events.summarize("backup 1 verified:\n users 5")  # a retry says it again
        return "manifest"

    with events.watching(watcher):
        assert Timeline("physics").run("backup", backup) == "manifest"
    started, ended = seen
    assert started == events.StepStarted("physics", "backup")
    assert isinstance(ended, events.StepEnded)
    assert (ended.hub, ended.name, ended.ok) == ("physics", "backup", True)
    assert ended.summary == "backup 1 verified: users 5"
    assert ended.seconds >= 0


def test_a_failing_step_ends_not_ok_and_the_error_still_raises() -> None:
    seen, watcher = _collect()

    def migrate() -> None:
        events.summarize("ran 2 migrations")
        raise RuntimeError("half-way")

    timeline = Timeline("physics")
    with events.watching(watcher), pytest.raises(RuntimeError, match="half-way"):
        timeline.run("migrate", migrate)
    ended = seen[-1]
    assert isinstance(ended, events.StepEnded)
    assert (ended.ok, ended.summary) == (False, "ran 2 migrations")
    assert timeline.steps[-1].ok is False
    events.summarize("after the step")  # no step runs now: goes nowhere
    assert len(seen) == 2


def test_parallel_hubs_keep_their_summaries_apart() -> None:
    seen, watcher = _collect()
    barrier = threading.Barrier(2)

    def work(hub: str) -> None:
        def step() -> None:
            barrier.wait(5)  # both steps run at once
            events.summarize(f"{hub} stopped")
            barrier.wait(5)
        Timeline(hub).run("stop", step)

    with events.watching(watcher):
        threads = [threading.Thread(target=work, args=(h,)) for h in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
    ended = {e.hub: e.summary for e in seen if isinstance(e, events.StepEnded)}
    assert ended == {"a": "a stopped", "b": "b stopped"}


def test_a_broken_watcher_does_not_break_the_run_nor_other_watchers() -> None:
    seen, watcher = _collect()

    def broken(event: events.Event) -> None:
        raise ValueError("display gone")

    with events.watching(broken), events.watching(watcher):
        Timeline("physics").run("stop", lambda: None)
    assert [type(e) for e in seen] == [events.StepStarted, events.StepEnded]


def test_a_meter_counts_from_any_thread_for_the_step_it_was_made_in() -> None:
    seen, watcher = _collect()

    def backup() -> None:
        add = events.meter("bytes", 1000, every=3600)  # throttled: only the total gets out
        threads = [threading.Thread(target=add, args=(100,)) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)

    with events.watching(watcher):
        Timeline("physics").run("backup", backup)
    counts = [e for e in seen if isinstance(e, events.Progress)]
    assert counts[-1] == events.Progress("physics", "backup", "bytes", 1000, 1000)
    assert len(counts) <= 2  # the first call, and the total
