"""The operator's terminal without a terminal: the plain lines a pipe or a log file gets
from a run's events, the failure's last three lines, and which log records reach it."""

from __future__ import annotations

import io
import logging
import os

from hubshift import events
from hubshift.fleet.report import FleetRow
from hubshift.result import UpgradeResult
from hubshift.system.redact import register_secret
from hubshift_cli.terminal import Terminal, failure_lines, fleet_failure_lines, result_line

UPGRADE: list[events.Event] = [
    events.StepStarted("physics", "preflight"),
    events.StepEnded("physics", "preflight", 41.23, True, "JupyterHub 4.1.6 -> 5.5.4"),
    events.StepStarted("physics", "prepare"),
    events.Progress("physics", "prepare", "bytes", 10, 100),
    events.StepEnded("physics", "prepare", 75.0, True, "JupyterHub 5.5.4 ready in /srv/v"),
    events.DowntimeStarted("physics"),
    events.StepStarted("physics", "stop"),
    events.StepEnded("physics", "stop", 1.04, True, "hub physics stopped"),
    events.StepStarted("physics", "migrate"),
    events.StepEnded("physics", "migrate", 4.5, False, "ran 2 migration(s)"),
    events.Notice("physics", "migrate failed: rolling back"),
    events.DowntimeEnded("physics", 9.87),
]


def _plain(evts: list[events.Event], *, fleet: bool = False) -> list[str]:
    out = io.StringIO()
    with Terminal(out, live=False, fleet=fleet) as term:
        for event in evts:
            events.emit(event)
        assert term.live is False
    return out.getvalue().splitlines()


def test_plain_output_has_one_line_per_ended_step_and_the_downtime_markers() -> None:
    lines = _plain(UPGRADE)
    assert lines == [
        "  preflight         41.2 s  JupyterHub 4.1.6 -> 5.5.4",
        "  prepare       1 min 15 s  JupyterHub 5.5.4 ready in /srv/v",
        "  ---- hub physics is down: the downtime starts ----",
        "  stop               1.0 s  hub physics stopped",
        "  migrate            4.5 s  FAILED: ran 2 migration(s)",
        "  > migrate failed: rolling back",
        "  ---- hub physics is up again: downtime 9.9 s ----",
    ]
    assert not any("\x1b" in line for line in lines)  # no escape codes on a pipe


def test_a_fleet_shows_one_line_per_hub_as_it_ends_with_the_count_not_its_steps() -> None:
    lines = _plain([
        events.Progress(None, None, "hubs", 0, 2),
        events.Notice(None, "wave staging: physics"),
        *UPGRADE,
        events.HubEnded("physics", False, "rolled back at migrate: boom"),
        events.StepEnded("chem", "verify", 0.2, True, "rows kept"),
        events.HubEnded("chem", True, "upgraded 4.1.6 -> 5.5.4, downtime 8.0 s"),
    ], fleet=True)
    assert lines == [
        "  > wave staging: physics",
        "  > physics: migrate failed: rolling back",
        "  [1/2] physics      rolled back at migrate: boom",
        "  [2/2] chem         upgraded 4.1.6 -> 5.5.4, downtime 8.0 s",
    ]


def test_a_rolled_back_upgrade_ends_with_what_failed_where_the_hub_is_and_what_to_run() -> None:
    result = UpgradeResult(
        hub="physics", status="rolled-back", from_version="4.1.6", to_version="5.5.4",
        backup_id="20261201T030047Z", downtime_seconds=12.3, wall_seconds=130.0,
        failed_step="migrate", error="boom. The hub was rolled back", cause="boom",
        hub_state="rolled back: hub physics runs JupyterHub 4.1.6 again",
        next_command="hubshift upgrade --hub physics")
    assert result_line(result) == ("hub physics: rolled-back (4.1.6 -> 5.5.4), backup "
                                   "20261201T030047Z, downtime 12.3 s, 2 min 10 s in all")
    assert failure_lines(result) == [
        "FAILED at migrate: boom",
        "now:  rolled back: hub physics runs JupyterHub 4.1.6 again",
        "next: hubshift upgrade --hub physics",
    ]
    assert failure_lines(result.model_copy(update={"status": "upgraded"})) == []


def test_the_last_lines_say_so_when_the_flow_did_not_know_and_hide_secrets() -> None:
    register_secret("s3cr3t-token")
    lines = failure_lines(UpgradeResult(hub="physics", status="needs-operator",
                                        error="token s3cr3t-token refused"))
    assert lines == ["FAILED: token *** refused", "now:  unknown: see the messages above",
                     "next: see the messages above"]
    rows = [FleetRow(hub="a", environment="staging", wave="canary", status="rolled-back",
                     failed_step="start", cause="no port", hub_state="runs 4.1.6 again",
                     next_command="hubshift upgrade --hub a"),
            FleetRow(hub="b", environment="production", wave="production 1"),  # skipped
            FleetRow(hub="c", environment="production", wave="production 1",
                     status="upgraded")]
    assert fleet_failure_lines(rows) == ["FAILED a at start: no port", "now:  runs 4.1.6 again",
                                         "next: hubshift upgrade --hub a"]


def _record(name: str, level: int, message: str, pathname: str,
            **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(name, level, pathname, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_warnings_reach_the_terminal_redacted_and_prefects_run_states_do_not() -> None:
    import prefect

    register_secret("hunter2-password")
    engine = os.path.join(os.path.dirname(prefect.__file__), "task_engine.py")
    out = io.StringIO()
    with Terminal(out, live=False):
        logger = logging.getLogger()
        for record in [
            _record("apprise", logging.WARNING, "cannot reach hunter2-password@mail", "/a.py"),
            _record("prefect.task_runs", logging.ERROR, "Finished in state Failed('x')",
                    engine),
            _record("prefect.task_runs", logging.WARNING, "channel failed\ntraceback",
                    "/srv/tasks/notify.py"),
            _record("prefect.flow_runs", logging.ERROR, "upgrade failed", "/srv/flows/u.py",
                    **events.SAID_ELSEWHERE),
            _record("prefect.task_runs", logging.INFO, "hub stopped", "/srv/tasks/hub.py"),
        ]:
            logger.handle(record)
        events.emit(events.StepEnded("physics", "stop", 1.0, True, "hunter2-password stop"))
    assert not any(type(h).__name__ == "_Warnings" for h in logging.getLogger().handlers)
    assert out.getvalue().splitlines() == ["  warning: cannot reach ***@mail",
                                           "  warning: channel failed",
                                           "  stop               1.0 s  *** stop"]
