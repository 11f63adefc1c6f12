"""The process checks ProcessRuntime relies on: zombies are dead, pid reuse is detected."""

from __future__ import annotations

import subprocess
import time

from hubshift.system.procs import alive as _alive
from hubshift.system.procs import runs as _runs


def test_an_exited_child_is_not_alive_even_before_it_is_reaped() -> None:
    child = subprocess.Popen(["true"])
    # Let it exit without waiting for it: it is a zombie until someone reaps it.
    time.sleep(0.2)
    assert _alive(child.pid) is False


def test_a_pid_counts_as_a_hub_only_if_its_command_line_says_so() -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        assert _alive(other.pid)
        assert _runs(other.pid, "sleep")
        assert not _runs(other.pid, "jupyterhub")
    finally:
        other.kill()
        other.wait()
