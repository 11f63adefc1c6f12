"""Is that pid still the process we started? Answers shared by everything that keeps pidfiles.

A pidfile can outlive its process and a pid can be reused, so a pid counts only while /proc
says it is alive (not a zombie) and its command line names what we started. Right after a
fork the command line can read empty for a moment: it is read again before judging.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

#: How often waits poll; short, because most waits here are downtime.
POLL = 0.05


def reap(pid: int) -> None:
    """Collect `pid` if it is our exited child, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (exited, not yet reaped) does not count."""
    reap(pid)
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        # No /proc (not Linux): signal 0 is the best we have.
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # The state follows the command name, which may itself hold spaces and parentheses.
    return stat[stat.rindex(")") + 2] not in ("Z", "X")


def started(pid: int) -> int | None:
    """When `pid` started, in clock ticks since boot (/proc/<pid>/stat field 22), or None
    when it cannot be read (gone, or no /proc): with the pid, it names one process for good,
    since a reused pid starts later."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return int(fields[19])  # field 22 of the line, counted after pid and name


def cmdline(pid: int) -> str | None:
    """The command line of `pid`, or None when it cannot be read (gone, or no /proc)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")


def runs(pid: int, marker: str, *, settle: float = 0.5) -> bool:
    """Whether `pid` is alive and its command line mentions `marker` (pid reuse guard).

    A command line still empty (fork done, exec not yet visible) is read again for up to
    `settle` seconds before the pid is judged a stranger.
    """
    deadline = time.monotonic() + settle
    while alive(pid):
        line = cmdline(pid)
        if line is None:
            return True  # no /proc: trust the pidfile
        if line or time.monotonic() >= deadline:
            return marker in line
        time.sleep(0.01)
    return False


def read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for `pid` to exit; True if it did."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True


def send(pid: int, sig: int, *, group: bool = False) -> None:
    """Signal `pid` (or its process group); a process already gone is not an error."""
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
