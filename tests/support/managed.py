"""Sandbox hubs under each service manager hubshift drives, for suites that run the same
tests against every runtime.

A manager is a session fixture that knows one service manager (hubshift itself for
`process`, a systemd user manager, supervisord): given a sandbox hub, it registers the hub
with that manager (a unit, a program) and returns the `runtime:` section of the hub's fleet
entry. `MANAGERS` maps each runtime kind to its manager fixture; a new runtime adds one line
here and its fixture in its own support module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from hubshift.backends.runtimes import Runtime, runtime_for
from hubshift.config import HubConfig
from hubshift_lab.sandbox import SandboxHub

#: runtime kind -> the name of the fixture that manages hubs of that kind.
MANAGERS: dict[str, str] = {
    "process": "process_manager",
    "systemd": "systemd_manager",  # tests/support/systemd.py
    "command": "supervisor_manager",  # tests/support/supervisor.py
}


class Manager(Protocol):
    kind: str

    def runtime_entry(self, sandbox: SandboxHub) -> dict[str, Any]:
        """Register `sandbox` with the service manager; return the fleet's `runtime:`."""

    def log_file(self, sandbox: SandboxHub) -> Path:
        """Where the hub's output goes under this manager."""


class ProcessManager:
    """hubshift itself: the hub is a process the process runtime starts."""

    kind = "process"

    def runtime_entry(self, sandbox: SandboxHub) -> dict[str, Any]:
        return {"kind": "process", "workdir": str(sandbox.workdir), "stop_timeout": 10}

    def log_file(self, sandbox: SandboxHub) -> Path:
        return sandbox.workdir / "jupyterhub.log"


@pytest.fixture(scope="session")
def process_manager() -> ProcessManager:
    return ProcessManager()


@dataclass
class ManagedHub:
    sandbox: SandboxHub
    config: HubConfig
    runtime: Runtime
    manager: Manager


def managed_config(sandbox: SandboxHub, manager: Manager, **entry: Any) -> HubConfig:
    """The fleet-file model of `sandbox` run by `manager` (`entry` keys override)."""
    return HubConfig.model_validate({**sandbox.fleet_entry(None),
                                     "runtime": manager.runtime_entry(sandbox), **entry})


@pytest.fixture
def manage(request: pytest.FixtureRequest) -> Iterator[Callable[[str, SandboxHub], ManagedHub]]:
    """A factory: `manage(kind, sandbox)` puts `sandbox` under the manager of `kind`.
    Every hub it made is stopped at teardown, whatever the test did."""
    made: list[Runtime] = []

    def make(kind: str, sandbox: SandboxHub) -> ManagedHub:
        manager: Manager = request.getfixturevalue(MANAGERS[kind])
        config = managed_config(sandbox, manager)
        runtime = runtime_for(config)
        made.append(runtime)
        return ManagedHub(sandbox, config, runtime, manager)

    yield make
    for runtime in reversed(made):
        runtime.stop()
