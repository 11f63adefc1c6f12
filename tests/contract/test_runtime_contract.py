"""The `Runtime` contract (hubshift/backends/runtimes/base.py), run against every runtime
with a real JupyterHub under its real service manager.

Each test says one promise of the interface; a runtime that breaks it fails here whatever
its own tests say.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from hubshift.backends.hubapi import wait_healthy
from hubshift.errors import RuntimeControlError
from hubshift_lab.sandbox import make_hub
from tests.support.hubs import OLD_VERSION, jupyterhub_venv
from tests.support.managed import MANAGERS, ManagedHub

pytestmark = pytest.mark.integration


@pytest.fixture(params=sorted(MANAGERS))
def hub(request: pytest.FixtureRequest, tmp_path: Path, manage) -> ManagedHub:
    sandbox = make_hub(tmp_path, f"contract-{request.param}", jupyterhub_venv(OLD_VERSION))
    return manage(request.param, sandbox)


def _start(hub: ManagedHub) -> int | None:
    status = hub.runtime.start()
    assert status.running
    with hub.sandbox.api() as api:
        wait_healthy(api, 90, version=OLD_VERSION)
    return hub.runtime.status().pid


def test_status_of_a_hub_never_started_says_stopped(hub: ManagedHub) -> None:
    status = hub.runtime.status()
    assert not status.running
    assert status.detail


def test_stop_of_a_stopped_hub_does_nothing_twice(hub: ManagedHub) -> None:
    hub.runtime.stop()
    hub.runtime.stop()
    assert not hub.runtime.status().running


def test_start_of_a_running_hub_refuses_and_keeps_the_one_hub(hub: ManagedHub) -> None:
    pid = _start(hub)
    with pytest.raises(RuntimeControlError, match="already running"):
        hub.runtime.start()
    assert hub.runtime.status().running
    assert hub.runtime.status().pid == pid
    with hub.sandbox.api() as api:
        assert api.version() == OLD_VERSION


def test_stop_twice_closes_the_port_and_says_stopped(hub: ManagedHub) -> None:
    _start(hub)
    hub.runtime.stop()
    assert not hub.runtime.port_open()
    assert not hub.runtime.status().running
    hub.runtime.stop()
    assert not hub.runtime.status().running


def test_a_start_that_fails_quotes_the_tail_of_the_hub_log(hub: ManagedHub) -> None:
    config = hub.sandbox.config_file
    config.write_text(config.read_text() + "\nraise RuntimeError('broken on purpose 7f3a')\n")
    with pytest.raises(RuntimeControlError) as failed:
        hub.runtime.start()
    assert "broken on purpose 7f3a" in str(failed.value)
    assert not hub.runtime.status().running


def test_status_of_a_killed_hub_stops_naming_its_pid(hub: ManagedHub) -> None:
    pid = _start(hub)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while hub.runtime.status().pid == pid:  # never raises, whatever the manager does next
        assert time.monotonic() < deadline, "status still reports the killed hub"
        time.sleep(0.1)


def test_environment_names_the_hub_working_directory(hub: ManagedHub) -> None:
    assert hub.runtime.environment().cwd.resolve() == hub.sandbox.workdir.resolve()
