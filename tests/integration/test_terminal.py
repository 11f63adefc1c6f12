"""What an operator sees: `hubshift upgrade` and `rollback` run on a real pseudo-terminal
(one line per step, the downtime's start and end, no Prefect log format; a failure ends
with what failed, where the hub stands and what to run next), piped with --json (one JSON
document on stdout), and with -v (Prefect's own lines back). One real hub for the module;
each test leaves it where the next one expects it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.fleet import cli_command
from tests.support.hubs import NEW_VERSION, OLD_VERSION
from tests.support.lab import Lab, baseline, module_lab
from tests.support.tty import TtyRun, run_in_tty

pytestmark = pytest.mark.integration

HUB = "physics"
UPGRADE_STEPS = ["preflight", "prepare", "preload", "snapshot", "stop", "backup", "switch",
                 "migrate", "start", "wait-healthy", "verify"]
#: A step line: its name, its duration, what it did.
STEP = re.compile(r"^  (?P<name>[a-z-]+) +(?P<time>\d+\.\d s|\d+ min \d\d s)  ?(?P<what>.*)$")
DOWN = re.compile(rf"^  ---- hub {HUB} is down: the downtime starts ----$")
UP = re.compile(rf"^  ---- hub {HUB} is up again: downtime (\d+\.\d) s ----$")
#: What Prefect's console format looks like: none of it may reach the operator by default.
PREFECT_FORMAT = re.compile(r"Task run '|Flow run '|Finished in state|\| INFO +\||"
                            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


lab = module_lab("terminal", HUB)


def _in_tty(lab: Lab, *args: str | Path, fault: str | None = None) -> TtyRun:
    argv, env = cli_command([*args, "-f", lab.fleet, "--hub", lab.hub],
                            prefect_api=lab.prefect_api, fault=fault)
    return run_in_tty(argv, env)


def _steps(lines: list[str]) -> list[str]:
    return [m.group("name") for m in map(STEP.match, lines) if m]


def test_a_failed_upgrade_ends_with_what_failed_where_the_hub_is_and_what_to_run(
        lab: Lab) -> None:
    baseline(lab)
    done = _in_tty(lab, "upgrade", fault="migrate:after")
    lines = done.lines
    assert done.returncode == 1, done.screen
    assert _steps(lines)[:7] == UPGRADE_STEPS[:7], lines
    assert any(line.startswith("  migrate ") and "FAILED" in line for line in lines), lines
    assert "  > migrate failed: rolling back" in lines
    failed, now, then = lines[-3:]
    assert failed.startswith("FAILED at migrate: ") and "fault injected after migrate" in failed
    assert now.startswith("now:") and f"runs JupyterHub {OLD_VERSION} again" in now
    assert then.startswith(f"next: hubshift upgrade --hub {HUB} -f "), then
    assert not PREFECT_FORMAT.search(done.raw), done.screen


def test_json_keeps_stdout_one_document_and_verbose_brings_prefects_lines_back(
        lab: Lab) -> None:
    baseline(lab)
    done = lab.hubshift("upgrade", "--json", "-v")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)  # the whole of stdout, or this raises
    assert (result["status"], result["to_version"]) == ("upgraded", NEW_VERSION)
    assert result["hub_state"] is None and result["next_command"] is None
    assert "Finished in state Completed()" in done.stderr  # Prefect's own lines, with -v
    assert "\x1b[" not in done.stderr  # a pipe gets no spinner
    err = done.stderr.splitlines()
    assert _steps(err) == UPGRADE_STEPS, err
    assert any(UP.match(line) for line in err), err


def test_a_rollback_on_a_terminal_marks_the_downtime_and_ends_rolled_back(lab: Lab) -> None:
    done = _in_tty(lab, "rollback", "--backup", lab.backups()[-1], "--yes")
    lines = done.lines
    assert done.returncode == 0, done.screen
    assert lines[-1].startswith(f"hub {HUB}: rolled-back ({NEW_VERSION} -> {OLD_VERSION})")
    window = ["stop", "restore", "switch-back", "start", "wait-healthy", "verify"]
    assert [s for s in _steps(lines) if s in window] == window, lines
    assert [bool(DOWN.match(line)) for line in lines].count(True) == 1, lines
    assert any(UP.match(line) for line in lines), lines
    assert not PREFECT_FORMAT.search(done.raw), done.screen


def test_an_upgrade_on_a_terminal_shows_each_step_once_and_the_downtime(lab: Lab) -> None:
    baseline(lab)
    done = _in_tty(lab, "upgrade")
    lines = done.lines
    assert done.returncode == 0, done.screen
    assert _steps(lines) == UPGRADE_STEPS, lines
    down = next(i for i, line in enumerate(lines) if DOWN.match(line))
    up = next(i for i, line in enumerate(lines) if UP.match(line))
    # The downtime wraps stop ... wait-healthy, and its figure is the result's.
    assert STEP.match(lines[down + 1]).group("name") == "stop"  # type: ignore[union-attr]
    assert STEP.match(lines[up - 1]).group("name") == "wait-healthy"  # type: ignore[union-attr]
    downtime = float(UP.match(lines[up]).group(1))  # type: ignore[union-attr]
    assert 0 < downtime < 120
    backup = next(line for line in lines if line.startswith("  backup "))
    assert re.search(r"verified in the store: users \d+, groups \d+, api_tokens \d+", backup)
    assert lines[-1].startswith(f"hub {HUB}: upgraded ({OLD_VERSION} -> {NEW_VERSION})")
    assert f"downtime {downtime} s" in lines[-1]
    assert not PREFECT_FORMAT.search(done.raw), done.screen
    assert "\x1b[" in done.raw  # a terminal gets the live display (spinner, colours)
