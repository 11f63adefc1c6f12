"""A real JupyterHub 4.1.6 hub that is a systemd unit, as on The Littlest JupyterHub and
most bare-metal hosts, upgraded to 5.5.4 by `hubshift upgrade`; faults roll it back.

The unit runs `<venv link>/bin/jupyterhub -f <config>` (the path the venv installer switches)
under a real systemd user manager; the CLI runs as its own process and reaches that manager
through XDG_RUNTIME_DIR as an operator's shell would. One hub goes through every test, in
order: a refusal, two rolled-back faults, then the upgrade.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from hubshift.integrity.digest import VOLATILE_COLUMNS, differences
from hubshift.system import procs
from hubshift_lab.s3server import S3Server
from hubshift_lab.systemd import UserManager
from tests.support.hubs import (
    HEADS,
    OLD_VERSION,
    PREVIOUS_VERSION,
    assert_everyone_kept,
    jupyterhub_venv,
)
from tests.support.lab import (
    Lab,
    assert_back_as_before,
    baseline,
    open_lab,
    prefect_records,
    upgrade_rolled_back,
)
from tests.support.systemd import SystemdManager

pytestmark = pytest.mark.integration

#: A one-major hop: what this module tests is the runtime or the installer, not a release.
TARGET = PREVIOUS_VERSION

HUB = "astro"
DOWNTIME_STEPS = ["stop", "backup", "switch", "migrate", "start", "wait-healthy"]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server, prefect_api: str,
        systemd_manager: SystemdManager) -> Iterator[Lab]:
    with open_lab(tmp_path_factory.mktemp("systemd-lab"), HUB, jupyterhub_venv(OLD_VERSION),
                  endpoint_url=s3_server.endpoint_url, prefect_api=prefect_api,
                  manager=systemd_manager, to_version=TARGET) as lab:
        yield lab


def _unit(lab: Lab) -> str:
    return lab.runtime.config.unit  # type: ignore[attr-defined]


def _listeners(port: int) -> set[int]:
    """Pids of the processes listening on TCP `port` (from /proc: socket inode -> fd)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                inodes.add(f"socket:[{fields[9]}]")
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            links = {(fd.readlink().as_posix()) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if links & inodes:
            pids.add(int(entry.name))
    return pids


def _in_unit(pid: int, unit: str) -> bool:
    try:
        return f"/{unit}" in Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return False


def assert_the_hub_is_the_units_process(lab: Lab, manager: UserManager, venv: Path) -> None:
    """The unit is active and its MainPID is the hub, run from `venv`, listening on the hub's
    port; the proxy on the public port and everything else of the hub are the unit's too."""
    unit = _unit(lab)
    shown = manager.systemctl("show", "-p", "ActiveState,MainPID", unit).stdout
    state = dict(line.split("=", 1) for line in shown.split())
    assert state["ActiveState"] == "active", shown
    pid = int(state["MainPID"])
    assert _listeners(lab.sandbox.hub_port) == {pid}
    assert lab.runtime.status().pid == pid
    line = procs.cmdline(pid) or ""
    assert f"{venv}/" in line and "jupyterhub -f" in line, line
    assert "import jupyterhub.app" not in line  # never a command hubshift loaded itself
    proxies = _listeners(lab.sandbox.port)
    assert proxies and all(_in_unit(p, unit) for p in proxies), proxies
    # Nothing of either release runs outside the unit.
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and procs.alive(int(entry.name)):
            line = procs.cmdline(int(entry.name)) or ""
            if str(lab.sandbox.workdir) in line and "jupyterhub" in line:
                assert _in_unit(int(entry.name), unit), line


def test_a_fleet_entry_naming_a_missing_unit_is_refused_before_any_downtime(
        lab: Lab, systemd_user_manager: UserManager, tmp_path: Path) -> None:
    baseline(lab)
    pid = lab.runtime.status().pid
    fleet = yaml.safe_load(lab.fleet.read_text())
    fleet["hubs"][0]["runtime"]["unit"] = "hubshift-not-installed-7b2.service"
    wrong = tmp_path / "fleet.yaml"
    wrong.write_text(yaml.safe_dump(fleet))

    done = lab.hubshift("upgrade", "--json", fleet=wrong)
    assert done.returncode == 2, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "refused"
    assert "unit hubshift-not-installed-7b2.service does not exist" in result["error"]
    assert lab.runtime.status().pid == pid
    with lab.api() as api:
        assert api.version() == OLD_VERSION
    assert_the_hub_is_the_units_process(lab, systemd_user_manager, jupyterhub_venv(OLD_VERSION))


@pytest.mark.parametrize("fault", [
    "migrate:after",  # upgrade-db ran (the schema is 5.x), then failed: the unit is down
    "start:raise",    # switched and migrated, then the start of the unit failed
])
def test_a_fault_after_stop_rolls_back_to_the_old_hub_under_its_unit(
        lab: Lab, systemd_user_manager: UserManager, fault: str) -> None:
    before = baseline(lab)
    upgrade_rolled_back(lab, fault)
    assert_back_as_before(lab, before, jupyterhub_venv(OLD_VERSION))
    assert_the_hub_is_the_units_process(lab, systemd_user_manager, jupyterhub_venv(OLD_VERSION))


def test_upgrade_of_a_systemd_hub_keeps_users_groups_and_tokens(
        lab: Lab, systemd_user_manager: UserManager) -> None:
    baseline(lab)
    with lab.api() as api:
        users_before = sorted(u["name"] for u in api.users())
        groups_before = {g["name"]: sorted(g["users"]) for g in api.groups()}
    digest_before = lab.db().digest()  # after the listing, which writes rows of its own
    pid_before = lab.runtime.status().pid

    done = lab.hubshift("upgrade", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "upgraded"
    assert (result["from_version"], result["to_version"]) == (OLD_VERSION, TARGET)
    steps = [s["name"] for s in result["steps"]]
    assert steps[:7] == ["preflight", "prepare", "check-target", "preload", "servers",
                         "snapshot", "stop"], steps
    assert [s for s in steps if s in DOWNTIME_STEPS] == DOWNTIME_STEPS
    seconds = {s["name"]: s["seconds"] for s in result["steps"]}
    print(f"systemd upgrade: downtime {result['downtime_seconds']} s, steps {seconds}")

    with lab.api() as api:
        assert_everyone_kept(api, TARGET, (users_before, groups_before), lab.seeded.tokens)
    assert lab.db().revision() == HEADS[TARGET]
    assert differences(digest_before, lab.db().digest(), ignore_columns=VOLATILE_COLUMNS) == []

    # The unit runs the new release itself, from the venv the link now names.
    new_venv = lab.sandbox.workdir / f"venv-{TARGET}"
    assert lab.sandbox.venv_link.resolve() == new_venv
    assert lab.runtime.status().pid != pid_before
    assert_the_hub_is_the_units_process(lab, systemd_user_manager, new_venv)

    # Preload loaded upgrade-db only: systemd runs the hub's start itself.
    _, _, logs = prefect_records(result["flow_run_id"])
    assert any("1 command(s) of the window loaded" in line for line in logs), logs
