"""SIGKILL an upgrade after each of its steps, the way an init system kills a service (the
whole process group, its temporary Prefect server with it), and recover as README says.

Every step from preflight to verify is killed under a temporary Prefect server and under a
real one. Each server's steps are split in two files (`STEPS[0::2]`, `STEPS[1::2]`: each
half kills before the stop, the hub untouched, and after it, touched), so that parallel
workers take the four at once. Each kill starts from where the previous recovery left the
hub, so every upgrade after the first is also the proof that the one before left nothing
stuck.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from hubshift.backends.storage import BackupStore
from hubshift.window import inprogress
from hubshift_lab.s3server import S3Server
from tests.support.fleet import cli_command
from tests.support.hubs import OLD_VERSION, jupyterhub_venv
from tests.support.lab import Lab, assert_back_as_before, baseline, open_lab

#: Killed after these, the hub was never changed: the next upgrade simply proceeds.
UNTOUCHED = ("preflight", "prepare", "check-target", "preload", "servers", "snapshot")
#: Killed after these, the hub may be changed: upgrades refuse until `hubshift rollback`.
TOUCHED = ("stop", "backup", "switch", "migrate", "start", "wait-healthy", "verify")
STEPS = UNTOUCHED + TOUCHED


#: Without PREFECT_API_URL: each `hubshift` starts a temporary server that dies with it.
TEMPORARY_SERVER: dict[str, str | None] = {"PREFECT_API_URL": None}
#: As the lab says: the session's real Prefect server, which outlives the runs it knows.
REAL_SERVER: dict[str, str | None] = {}


@pytest.fixture(scope="module")
def kill_lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
             s3_server: S3Server, prefect_api: str) -> Iterator[Lab]:
    """The lab a kill test module goes through: a seeded 4.1.6 hub that an upgrade targets.
    (Register with ``pytest_plugins``, as tests/conftest.py does.)"""
    root = tmp_path_factory.mktemp(request.module.__name__.rpartition(".")[2])
    with open_lab(root, "physics", jupyterhub_venv(OLD_VERSION),
                  endpoint_url=s3_server.endpoint_url, prefect_api=prefect_api) as lab:
        yield lab


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


def kill_and_recover(lab: Lab, steps: tuple[str, ...],
                     env_changes: dict[str, str | None]) -> None:
    """Kill an upgrade after each of `steps` in turn and recover, then upgrade for good."""
    before = baseline(lab)
    old_venv = jupyterhub_venv(OLD_VERSION)
    refused_once = freed_once = False
    for step in steps:
        killed_upgrade(lab, step, env_changes)
        left = record(lab)
        assert left is not None and left.touched == (step in TOUCHED), (step, left)
        if step in UNTOUCHED:
            with lab.api() as api:
                assert api.version() == OLD_VERSION, step  # users never noticed
            if not freed_once:
                # The documented recovery works on an untouched hub too, and says so.
                freed = lab.hubshift("rollback", "--json", env_changes=env_changes)
                assert freed.returncode == 0, freed.stderr[-3000:]
                assert "not touched" in json.loads(freed.stdout)["hub_state"]
                assert record(lab) is None
                freed_once = True
            continue  # else the next upgrade takes the dead run's record over by itself
        if not refused_once:
            refused = lab.hubshift("upgrade", env_changes=env_changes)
            assert refused.returncode == 2, refused.stderr[-3000:]
            assert f"did not finish: it stopped at step {left.step}" in refused.stderr
            assert f"hubshift rollback --hub {lab.hub}" in refused.stderr
            refused_once = True
        rolled = lab.hubshift("rollback", "--json", env_changes=env_changes)
        assert rolled.returncode == 0, f"after a kill at {step}:\n{rolled.stderr[-3000:]}"
        assert_back_as_before(lab, before, old_venv)
    done = lab.hubshift("upgrade", "--json", env_changes=env_changes)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout)["status"] == "upgraded"
