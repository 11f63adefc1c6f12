"""SIGKILL an upgrade at each of its steps, the way an init system kills a service (the
whole process group, its temporary Prefect server with it), and recover as README says.

Shared by the test on a temporary local Prefect server and the test on a real one: each
kill starts from where the previous recovery left the hub, so every upgrade after the first
is also the proof that the one before left nothing stuck.
"""

from __future__ import annotations

import json
import subprocess

from hubshift.backends.storage import BackupStore
from hubshift.window import inprogress
from tests.support.fleet import cli_command
from tests.support.hubs import OLD_VERSION, jupyterhub_venv
from tests.support.lab import Lab, assert_back_as_before, baseline

#: Killed after these, the hub was never changed: the next upgrade simply proceeds.
UNTOUCHED = ("lock", "preflight", "prepare", "check-target", "preload", "servers")
#: Killed after these, the hub may be changed: upgrades refuse until `hubshift rollback`.
TOUCHED = ("stop", "backup", "switch", "migrate", "start", "wait-healthy", "verify")


def killed_upgrade(lab: Lab, step: str, env_changes: dict[str, str | None]) -> None:
    """`hubshift upgrade` in its own process group, SIGKILLed (group and all) after `step`."""
    argv, env = cli_command(["upgrade", "-f", lab.fleet, "--hub", lab.hub],
                            prefect_api=lab.prefect_api, fault=f"{step}:kill",
                            env_changes=env_changes)
    run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600,
                         start_new_session=True, check=False)
    assert run.returncode == -9, f"killed at {step}?\n{run.stderr[-3000:]}"


def record(lab: Lab) -> inprogress.InProgress | None:
    return inprogress.read(BackupStore(lab.storage), lab.hub)


def kill_at_every_step_and_recover(lab: Lab, env_changes: dict[str, str | None]) -> None:
    """The whole matrix on `lab`'s hub, ending with an upgrade that succeeds."""
    before = baseline(lab)
    old_venv = jupyterhub_venv(OLD_VERSION)
    for step in UNTOUCHED:
        killed_upgrade(lab, step, env_changes)
        left = record(lab)
        assert left is not None and not left.touched, (step, left)
        with lab.api() as api:
            assert api.version() == OLD_VERSION, step  # users never noticed
    # The documented recovery works on an untouched hub too, and says nothing was changed.
    freed = lab.hubshift("rollback", "--json", env_changes=env_changes)
    assert freed.returncode == 0, freed.stderr[-3000:]
    assert "not touched" in json.loads(freed.stdout)["hub_state"]
    assert record(lab) is None
    for number, step in enumerate(TOUCHED):
        killed_upgrade(lab, step, env_changes)
        left = record(lab)
        assert left is not None and left.touched, (step, left)
        if number == 0:
            refused = lab.hubshift("upgrade", env_changes=env_changes)
            assert refused.returncode == 2, refused.stderr[-3000:]
            assert f"did not finish: it stopped at step {step}" in refused.stderr
            assert f"hubshift rollback --hub {lab.hub}" in refused.stderr
        rolled = lab.hubshift("rollback", "--json", env_changes=env_changes)
        assert rolled.returncode == 0, f"after a kill at {step}:\n{rolled.stderr[-3000:]}"
        assert_back_as_before(lab, before, old_venv)
    done = lab.hubshift("upgrade", "--json", env_changes=env_changes)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["status"] == "upgraded"
