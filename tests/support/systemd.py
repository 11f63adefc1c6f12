"""A real systemd for the tests: one `systemd --user` manager per session (see
hubshift_lab.systemd), and sandbox hubs run as its units.

The session sets the manager's XDG_RUNTIME_DIR in os.environ: the runtime under test and
the CLI processes reach it as an operator's shell would reach its own user manager.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hubshift_lab.sandbox import SandboxHub
from hubshift_lab.systemd import UserManager, hub_unit, start_user_manager
from tests.support.services import require


@pytest.fixture(scope="session")
def systemd_user_manager() -> Iterator[UserManager]:
    """One user manager for the session, reachable through os.environ's XDG_RUNTIME_DIR."""
    started = start_user_manager()
    require(isinstance(started, UserManager), f"a systemd user manager ({started})")
    assert isinstance(started, UserManager)
    with pytest.MonkeyPatch.context() as env:
        for name, value in started.environ().items():
            env.setenv(name, value)
        try:
            yield started
        finally:
            started.stop()


class SystemdManager:
    """The session's user manager: each sandbox hub becomes a unit of its own."""

    kind = "systemd"

    def __init__(self, manager: UserManager) -> None:
        self.manager = manager

    def runtime_entry(self, sandbox: SandboxHub) -> dict[str, Any]:
        unit = f"hubshift-{sandbox.name}-{secrets.token_hex(3)}.service"
        self.manager.add_unit(unit, hub_unit(sandbox))
        return {"kind": "systemd", "unit": unit, "user": True, "stop_timeout": 10}

    def log_file(self, sandbox: SandboxHub) -> Path:
        return sandbox.workdir / "jupyterhub.log"


@pytest.fixture(scope="session")
def systemd_manager(systemd_user_manager: UserManager) -> Iterator[SystemdManager]:
    yield SystemdManager(systemd_user_manager)
    systemd_user_manager.remove_units()
