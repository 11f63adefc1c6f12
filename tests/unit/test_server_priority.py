"""While a hub is down, the temporary Prefect server of the run yields the CPU to it; the
priority of nothing else changes."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Iterator

import pytest

from tasks.hub import SERVER_NICENESS, lower_temporary_server_priority, renice


@pytest.fixture
def child() -> Iterator[subprocess.Popen[bytes]]:
    # A child with several threads, as uvicorn has: each one gets the priority.
    process = subprocess.Popen([sys.executable, "-c", (
        "import threading, time\n"
        "for _ in range(3): threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "print('ready', flush=True); time.sleep(30)")], stdout=subprocess.PIPE)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    yield process
    process.kill()
    process.wait()


def _priorities(pid: int) -> set[int]:
    return {os.getpriority(os.PRIO_PROCESS, int(tid)) for tid in os.listdir(f"/proc/{pid}/task")}


def test_renice_lowers_every_thread_and_is_safe_twice(child: subprocess.Popen[bytes]) -> None:
    assert len(os.listdir(f"/proc/{child.pid}/task")) == 4
    lower = min(os.getpriority(os.PRIO_PROCESS, 0) + 2, 19)
    renice(child.pid, lower)
    renice(child.pid, lower)
    assert _priorities(child.pid) == {lower}
    renice(child.pid, lower - 1)  # never raises a priority back
    assert _priorities(child.pid) == {lower}


def test_only_the_temporary_server_of_this_process_is_lowered(
    child: subprocess.Popen[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    own = os.getpriority(os.PRIO_PROCESS, 0)
    server = types.SimpleNamespace(server_process=child)
    module = types.SimpleNamespace(
        SubprocessASGIServer=types.SimpleNamespace(_instances={8123: server}))
    monkeypatch.setitem(sys.modules, "prefect.server.api.server", module)
    lower_temporary_server_priority()
    assert _priorities(child.pid) == {max(own, SERVER_NICENESS)}
    assert os.getpriority(os.PRIO_PROCESS, 0) == own


def test_without_a_temporary_server_nothing_happens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "prefect.server.api.server", raising=False)
    lower_temporary_server_priority()  # a server elsewhere (PREFECT_API_URL): nothing to do
