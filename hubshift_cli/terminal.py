"""What an operator sees while a run works: one line per step as it ends, the downtime's
start and end, the result, and after a failure three lines (what failed and why, where the
hub stands, the command to run next) as the last thing on the screen.

On a terminal, the step that runs now also shows as a spinner with its elapsed time (and a
bar where a count is known: bytes of a backup going up, hubs of a fleet done); on a pipe or
file, only the lines. Prefect's own log lines go to its API (the UI, the run's logs) and to
the terminal only with `--verbose`; warnings and errors always reach the terminal, redacted.
The lines come from `hubshift.events`: the core and the flows say what happens, this module
decides how it looks.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
)
from rich.text import Text

from hubshift import events
from hubshift.fleet.report import FleetRow
from hubshift.result import Status, UpgradeResult
from hubshift.system.redact import redact

#: Prefect's documented override of its logging.yml (`PREFECT_LOGGING_[PATH]_[KEY]`): the
#: level of its console handler only; its API handler, which feeds the UI, keeps every line.
CONSOLE_LEVEL = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"
#: Width of the step name column.
NAME_WIDTH = 13
SERVER_HINT = "starting a local Prefect server (set PREFECT_API_URL to use yours)"


def quiet_prefect() -> None:
    """Keep Prefect's console handler silent (below CRITICAL, which Prefect does not log).

    Must run before Prefect configures logging (when it is first imported); if it already
    did, its configuration is applied again, which only changes handler levels.
    """
    os.environ[CONSOLE_LEVEL] = "CRITICAL"
    if "prefect.logging.configuration" in sys.modules:
        from prefect.logging.configuration import setup_logging

        setup_logging()


def duration(seconds: float) -> str:
    """`4.2 s`, `2 min 05 s`, `1 h 02 min`: exact enough for an operator, short enough."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def step_line(event: events.StepEnded) -> str:
    """`  backup          0.3 s  backup 2026... verified in the store: users 5, ...`"""
    failed = "" if event.ok else "FAILED" + (": " if event.summary else "")
    return (f"  {event.name:<{NAME_WIDTH}} {duration(event.seconds):>10}  "
            f"{failed}{event.summary}").rstrip()


def result_line(result: UpgradeResult) -> str:
    """The run's one-line outcome: `hub demo: upgraded (4.1.6 -> 5.5.4), backup ..., ...`"""
    line = f"hub {result.hub}: {result.status}"
    if result.from_version or result.to_version:
        line += f" ({result.from_version or '?'} -> {result.to_version or '?'})"
    if result.backup_id:
        line += f", backup {result.backup_id}"
    if result.safety_backup_id:
        line += f", safety backup {result.safety_backup_id}"
    if result.rehearsal is not None and result.rehearsal.seconds is not None:
        line += f", rehearsal {result.rehearsal.status} ({duration(result.rehearsal.seconds)}, " \
                "hub up)"
    if result.downtime_seconds is not None:
        line += f", downtime {duration(result.downtime_seconds)}"
    if result.wall_seconds is not None:
        line += f", {duration(result.wall_seconds)} in all"
    if result.status is Status.DEFERRED:  # nothing failed, but the operator must know when
        line += f": {result.cause}; `{result.next_command}` upgrades now"
    return line


def failure_lines(result: UpgradeResult) -> list[str]:
    """The three last lines after a failure: what failed and why; where the hub stands;
    the command to run next. Empty when the run did not fail."""
    if result.exit_code == 0:
        return []
    verb = "REFUSED" if result.status is Status.REFUSED else "FAILED"
    return _three(verb, result.failed_step, result.cause or result.error, result.hub_state,
                  result.next_command)


def fleet_failure_lines(rows: list[FleetRow]) -> list[str]:
    """The three lines of every hub of a fleet that failed (skipped hubs were not touched)."""
    lines: list[str] = []
    for row in rows:
        if not row.ok and row.status is not Status.SKIPPED:
            verb = "REFUSED" if row.status is Status.REFUSED else "FAILED"
            lines += _three(f"{verb} {row.hub}", row.failed_step, row.cause or row.error,
                            row.hub_state, row.next_command)
    return lines


def _three(verb: str, step: str | None, cause: str | None, state: str | None,
           next_command: str | None) -> list[str]:
    at = f" at {step}" if step else ""
    why = (cause or "no reason given").strip()  # a list of reasons keeps its lines
    state = " ".join((state or "unknown: see the messages above").split())
    lines = [f"{verb}{at}: {why}", f"now:  {state}",
             f"next: {next_command or 'see the messages above'}"]
    return [redact(line) for line in lines]


class _Bar(BarColumn):
    """A bar only where a count is known; nothing for a step that just runs."""

    def render(self, task: Task) -> Text:  # type: ignore[override]
        return super().render(task) if task.total else Text("")  # type: ignore[return-value]


class _Count(ProgressColumn):
    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit")
        if not task.total or not unit:
            return Text("")
        if unit == "bytes":
            mib = 1024 * 1024
            return Text(f"{task.completed / mib:.1f}/{task.total / mib:.1f} MiB")
        return Text(f"{int(task.completed)}/{int(task.total)} {unit}")


class _Elapsed(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(duration(task.elapsed or 0.0), style="progress.elapsed")


class _Warnings(logging.Handler):
    """Warnings and errors of any logger, one redacted line each, through the terminal.

    Except what is said elsewhere: records marked `SAID_ELSEWHERE`, and the run-state lines
    of Prefect's engines ("Finished in state Failed(...)", the exception again), which
    restate a failure the step line and the last three lines already give (--verbose
    shows them, and retries).
    """

    def __init__(self, terminal: Terminal) -> None:
        super().__init__(logging.WARNING)
        self.terminal = terminal

    @staticmethod
    def said_elsewhere(record: logging.LogRecord) -> bool:
        if getattr(record, next(iter(events.SAID_ELSEWHERE)), False):
            return True
        prefect = sys.modules.get("prefect")
        home = os.path.dirname(getattr(prefect, "__file__", None) or "/nonexistent")
        return (record.name in ("prefect.task_runs", "prefect.flow_runs")
                and record.pathname.startswith(home + os.sep))

    def emit(self, record: logging.LogRecord) -> None:
        if self.said_elsewhere(record):
            return
        try:
            text = record.getMessage().strip().splitlines()
            first = text[0] if text else ""
            self.terminal.line(f"  {record.levelname.lower()}: {first}",
                               style="yellow" if record.levelno < logging.ERROR else "red")
        except Exception:  # noqa: BLE001 - as logging does: never raise from a handler
            self.handleError(record)


class _Redact(logging.Filter):
    """Secrets out of Prefect's own console lines (with --verbose)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage()), None
        return True


class Terminal:
    """Shows the events of a run on `stream`; a context manager that subscribes to them.

    `live` (default: whether `stream` is a terminal) adds the spinner area. `fleet` shows
    one line per hub as it ends instead of one per step. `verbose` leaves Prefect's console
    lines on (they then carry the warnings); otherwise warnings come through here.
    """

    def __init__(self, stream: TextIO, *, live: bool | None = None, fleet: bool = False,
                 verbose: bool = False, title: str = "") -> None:
        self.stream = stream
        self.live = (stream.isatty() if live is None else live) and not verbose
        self.fleet = fleet
        self.verbose = verbose
        self.title = title
        self._lock = threading.RLock()
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._steps: dict[str | None, TaskID] = {}  # hub -> its running step's task
        self._down: dict[str | None, TaskID | None] = {}  # hub -> its downtime task
        self._hubs = [0, 0]  # hubs ended, hubs in all (fleet)
        self._stack = ExitStack()
        self._warnings = _Warnings(self)
        self._redact = _Redact()

    # -- life cycle ---------------------------------------------------------------------

    def __enter__(self) -> Terminal:
        if self.live:
            console = Console(file=self.stream, highlight=False)
            self._progress = Progress(
                SpinnerColumn(), TextColumn("{task.description}", markup=False),
                _Bar(bar_width=30), _Count(),
                # Anything else printed meanwhile goes above the spinners, on our stream.
                _Elapsed(), console=console, transient=True, redirect_stdout=True,
                redirect_stderr=True, auto_refresh=False)
            self._overall = self._progress.add_task(self.title or "working", total=None)
            self._stack.enter_context(self._progress)
            self._stack.enter_context(self._refreshing())
        self._stack.enter_context(events.watching(self.handle))
        self.watch_logs()
        self._stack.callback(self._unwatch_logs)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._progress = None

    @contextmanager
    def _refreshing(self, every: float = 0.1) -> Iterator[None]:
        """Redraw the spinners from one thread, under the lock our lines are printed with:
        rich's own refresh thread, racing a line printed from a flow's thread, could erase
        the line above its display."""
        stop = threading.Event()

        def redraw() -> None:
            while not stop.wait(every):
                with self._lock:
                    if self._progress is not None:
                        self._progress.refresh()

        thread = threading.Thread(target=redraw, name="hubshift-terminal", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5)

    def watch_logs(self) -> None:
        """Show warnings and errors of any logger here (redacted); with `verbose`, keep
        secrets out of Prefect's console lines. Call again once Prefect configured logging:
        its configuration replaces the root logger's handlers. Safe to call twice."""
        root = logging.getLogger()
        if self.verbose:
            for handler in root.handlers:
                handler.addFilter(self._redact)
        elif self._warnings not in root.handlers:
            root.addHandler(self._warnings)

    def _unwatch_logs(self) -> None:
        root = logging.getLogger()
        root.removeHandler(self._warnings)
        for handler in root.handlers:
            handler.removeFilter(self._redact)

    # -- output -------------------------------------------------------------------------

    def line(self, text: str, style: str | None = None) -> None:
        """Print one line (above the spinners on a terminal), without any secret."""
        text = redact(text)
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(Text(text, style=style or ""), soft_wrap=True)
            else:
                self.stream.write(text + "\n")
                self.stream.flush()

    def status(self, text: str) -> None:
        """What the run as a whole is doing (the top spinner's text on a terminal)."""
        self.title = text
        with self._lock:
            if self._progress is not None and self._overall is not None:
                self._progress.update(self._overall, description=text)

    @contextmanager
    def waiting(self, text: str) -> Iterator[None]:
        """A phase without steps (Prefect loading, a server starting): spinner only."""
        before = self.title
        self.status(text)
        try:
            yield
        finally:
            self.status(before)

    def result(self, result: UpgradeResult, *, failed: bool | None = None) -> None:
        """The outcome line; after a failure (default: a non-zero exit code), the three
        lines on stderr, last."""
        failed = result.exit_code != 0 if failed is None else failed
        self.line(result_line(result), style="bold red" if failed else "bold green")
        self.last_lines(failure_lines(result) if failed else [])

    def last_lines(self, lines: list[str]) -> None:
        """Lines for stderr after everything else (call it once the run is over)."""
        if lines:
            self.stream.flush()
            sys.stderr.write(redact("\n".join(lines)) + "\n")
            sys.stderr.flush()

    # -- events -------------------------------------------------------------------------

    def handle(self, event: events.Event) -> None:
        with self._lock:
            if isinstance(event, events.StepStarted):
                self._started(event)
            elif isinstance(event, events.StepEnded):
                self._ended(event)
            elif isinstance(event, events.DowntimeStarted):
                self._downtime(event.hub, None)
            elif isinstance(event, events.DowntimeEnded):
                self._downtime(event.hub, event.seconds)
            elif isinstance(event, events.Progress):
                self._count(event)
            elif isinstance(event, events.Notice):
                who = f"{event.hub}: " if self.fleet and event.hub else ""
                self.line(f"  > {who}{event.text}", style="bold")
            elif isinstance(event, events.HubEnded):
                self._hubs[0] += 1
                count = f"[{self._hubs[0]}/{self._hubs[1]}] " if self._hubs[1] else ""
                self.line(f"  {count}{event.hub:<12} {event.summary}",
                          style="green" if event.ok else "red")
                self._remove(self._steps.pop(event.hub, None))

    def _label(self, hub: str | None, name: str) -> str:
        down = " (hub down)" if hub in self._down else ""
        return f"{hub}: {name}{down}" if self.fleet else name

    def _started(self, event: events.StepStarted) -> None:
        if self._progress is None:
            return
        # One line per running hub (a fleet keeps one per hub): its step, that step's time.
        self._remove(self._steps.pop(event.hub, None))
        self._steps[event.hub] = self._progress.add_task(self._label(event.hub, event.name),
                                                         total=None)

    def _ended(self, event: events.StepEnded) -> None:
        if not self.fleet:
            self._remove(self._steps.pop(event.hub, None))
            self.line(step_line(event), style=None if event.ok else "bold red")

    def _downtime(self, hub: str | None, seconds: float | None) -> None:
        who = f"hub {hub}" if hub else "the hub"
        if seconds is None:
            self._down[hub] = (self._progress.add_task(f"{who} is DOWN", total=None)
                               if self._progress is not None and not self.fleet else None)
            if not self.fleet:
                self.line(f"  ---- {who} is down: the downtime starts ----", style="bold red")
        else:
            self._remove(self._down.pop(hub, None))
            if not self.fleet:
                self.line(f"  ---- {who} is up again: downtime {duration(seconds)} ----",
                          style="bold green")

    def _count(self, event: events.Progress) -> None:
        if event.unit == "hubs":
            self._hubs[1] = event.total or 0
            task = self._overall
        else:
            task = self._steps.get(event.hub)
        if self._progress is not None and task is not None:
            self._progress.update(task, total=event.total, completed=event.done,
                                  unit=event.unit)

    def _remove(self, task: TaskID | None) -> None:
        if self._progress is not None and task is not None:
            self._progress.remove_task(task)


def prefect_api(terminal: Terminal) -> None:
    """Make sure a Prefect API answers before a flow runs: without PREFECT_API_URL, Prefect
    starts a temporary local server (about 15 s), and the operator is told so."""
    with terminal.waiting("loading Prefect"):
        from prefect.logging.configuration import ensure_logging_setup
        from prefect.settings import PREFECT_API_URL

        ensure_logging_setup()
        terminal.watch_logs()
        configured = PREFECT_API_URL.value()
    if not configured:
        terminal.line(SERVER_HINT)
        begin = time.monotonic()
        with terminal.waiting("starting a local Prefect server"):
            from prefect.client.orchestration import get_client

            # Starts the server the flows will reuse (Prefect keeps one per process).
            with get_client(sync_client=True) as client:
                problem = client.api_healthcheck()
        if problem is None:
            terminal.line(f"  local Prefect server ready after "
                          f"{duration(time.monotonic() - begin)}")
