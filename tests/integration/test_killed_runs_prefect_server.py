"""Against a real Prefect server, which outlives the runs it knows: a rollback started while
an upgrade of the same hub is in its window is refused and restores nothing; and
`hubshift upgrade` SIGKILLed after every other step (the server still counts it as
running; the other steps are in test_killed_runs_prefect_server_other_steps.py) is
recovered as README says, after which an upgrade succeeds (see tests/support/kills.py)."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest

from hubshift.window import inprogress
from tests.support.fleet import cli_command, stop_group
from tests.support.hubs import OLD_VERSION, jupyterhub_venv
from tests.support.kills import REAL_SERVER, STEPS, kill_and_recover, record
from tests.support.lab import Lab, assert_back_as_before, baseline

pytestmark = pytest.mark.integration


def test_a_rollback_never_restores_under_a_running_upgrade(kill_lab: Lab) -> None:
    lab = kill_lab
    before = baseline(lab)
    argv, env = cli_command(["upgrade", "-f", lab.fleet, "--hub", lab.hub],
                            prefect_api=lab.prefect_api, fault="migrate:hang")
    upgrade = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        holding = _wait_for_step(lab, "migrate", upgrade)
        assert holding.backup_id is not None and holding.owner is not None
        assert holding.owner.pid == upgrade.pid

        refused = lab.hubshift("rollback", "--backup", holding.backup_id, "--yes")
        assert refused.returncode == 2, refused.stderr[-3000:]
        assert "holds the hub, now at step migrate" in refused.stderr
        assert "Traceback" not in refused.stderr
        again = lab.hubshift("upgrade")
        assert again.returncode == 2, again.stderr[-3000:]
        assert "has not been proven dead" in again.stderr
        # Neither touched anything: the record is still the upgrade's, at the same step.
        assert record(lab) == holding
        assert lab.db().revision() == lab.from_revision
    finally:
        stop_group(upgrade, signal.SIGKILL)
    rolled = lab.hubshift("rollback", "--json")
    assert rolled.returncode == 0, rolled.stderr[-3000:]
    assert_back_as_before(lab, before, jupyterhub_venv(OLD_VERSION))


def _wait_for_step(lab: Lab, step: str, run: subprocess.Popen,
                   timeout: float = 300) -> inprogress.InProgress:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = record(lab)
        if found is not None and found.step == step:
            return found
        assert run.poll() is None, f"the upgrade ended (exit {run.returncode}) before {step}"
        time.sleep(0.5)
    raise AssertionError(f"the upgrade did not reach {step} in {timeout} s")


def test_a_run_killed_after_a_step_on_a_prefect_server_is_recovered(kill_lab: Lab) -> None:
    kill_and_recover(kill_lab, STEPS[1::2], REAL_SERVER)
