"""SystemdRuntime against a real systemd user manager, for what the runtime contract does not
cover: units that crash, loop or hang, the unit's environment, and a manager out of reach.
Small shell units stand in for the hub where JupyterHub itself would add nothing."""

from __future__ import annotations

import secrets
import socket
import time
from pathlib import Path

import pytest

from hubshift.backends.runtimes import runtime_for
from hubshift.backends.runtimes.systemd import SystemdRuntime
from hubshift.config import HubConfig
from hubshift.errors import RuntimeControlError
from hubshift_lab.sandbox import free_port
from hubshift_lab.systemd import UserManager

pytestmark = pytest.mark.integration


def _unit(manager: UserManager, tmp_path: Path, service: str) -> tuple[str, Path]:
    """A unit running `service` (the [Service] lines), output appended to a log; its name
    and that log."""
    name = f"hubshift-runtime-{secrets.token_hex(3)}.service"
    log = tmp_path / f"{name}.log"
    manager.add_unit(name, f"[Service]\n{service}\nStandardOutput=append:{log}\n"
                           "StandardError=inherit\n")
    return name, log


def _runtime(unit: str, tmp_path: Path, token: str = "tok-" + "0" * 16,
             **runtime: object) -> SystemdRuntime:
    config = HubConfig.model_validate({
        "name": "unit-hub",
        "config_file": str(tmp_path / "jupyterhub_config.py"),
        "db_url": f"sqlite:///{tmp_path / 'jupyterhub.sqlite'}",
        "api_url": f"http://127.0.0.1:{free_port()}/hub/api",
        "api_token": token,
        "install": {"kind": "venv", "venv": str(tmp_path / "venv")},
        "runtime": {"kind": "systemd", "unit": unit, "user": True, **runtime},
    })
    runtime = runtime_for(config)
    assert isinstance(runtime, SystemdRuntime)
    return runtime


def _active_state(manager: UserManager, unit: str) -> str:
    return manager.systemctl("show", "-p", "ActiveState", "--value", unit).stdout.strip()


def test_a_unit_that_restarts_in_a_loop_fails_its_start_and_is_left_stopped(
        systemd_user_manager: UserManager, tmp_path: Path) -> None:
    unit, _ = _unit(systemd_user_manager, tmp_path,
                    "ExecStart=/bin/sh -c 'echo crash loop 9c1; sleep 0.3; exit 3'\n"
                    "Restart=always\nRestartSec=0.2")
    runtime = _runtime(unit, tmp_path)
    with pytest.raises(RuntimeControlError) as failed:
        runtime.start()
    message = str(failed.value)
    assert f"unit {unit} did not start" in message
    assert "systemd restarts it (Restart=)" in message
    assert "crash loop 9c1" in message  # from the unit's StandardOutput=append: file
    assert f"systemctl status {unit}" in message
    time.sleep(1)  # long enough for another restart, had the loop been left running
    assert not runtime.status().running
    assert _active_state(systemd_user_manager, unit) in ("inactive", "failed")


def test_a_unit_that_exits_at_once_fails_its_start(systemd_user_manager: UserManager,
                                                   tmp_path: Path) -> None:
    unit, _ = _unit(systemd_user_manager, tmp_path, "ExecStart=/bin/sh -c 'echo bye 41d'")
    runtime = _runtime(unit, tmp_path)
    with pytest.raises(RuntimeControlError, match="the hub exited before its port opened") as err:
        runtime.start()
    assert "bye 41d" in str(err.value)
    assert not runtime.status().running


def test_a_failed_start_quotes_the_log_without_the_hub_secrets(
        systemd_user_manager: UserManager, tmp_path: Path) -> None:
    token = "tok-" + secrets.token_hex(16)
    unit, _ = _unit(systemd_user_manager, tmp_path,
                    f"ExecStart=/bin/sh -c 'echo the token is {token}; exit 1'")
    with pytest.raises(RuntimeControlError) as failed:
        _runtime(unit, tmp_path, token=token).start()
    assert "the token is ***" in str(failed.value)
    assert token not in str(failed.value)


def test_environment_is_the_units_own_with_secret_values_intact(
        systemd_user_manager: UserManager, tmp_path: Path) -> None:
    token = "tok-" + secrets.token_hex(16)
    env_file = tmp_path / "hub.env"
    env_file.write_text('# read by systemd\nFROM_FILE="x y"\nSHARED=file wins\n')
    workdir = tmp_path / "hub home"
    workdir.mkdir()
    unit, _ = _unit(systemd_user_manager, tmp_path, "\n".join([
        "ExecStart=/bin/sleep 60",
        f"WorkingDirectory={workdir}",
        "Environment=DB_URL=postgresql://hub:pw-9x@db.example/hub",
        f'Environment="HUB_TOKEN={token}" "SPACED=a b" SHARED=unit PATH=/opt/old/bin',
        f"EnvironmentFile={env_file}",
        f"EnvironmentFile=-{tmp_path / 'missing.env'}",
    ]))
    where = _runtime(unit, tmp_path, token=token).environment()
    assert where.cwd == workdir
    assert where.env == {"DB_URL": "postgresql://hub:pw-9x@db.example/hub", "HUB_TOKEN": token,
                         "SPACED": "a b", "FROM_FILE": "x y", "SHARED": "file wins"}


def test_a_required_environment_file_that_is_missing_is_an_error_naming_it(
        systemd_user_manager: UserManager, tmp_path: Path) -> None:
    missing = tmp_path / "gone.env"
    unit, _ = _unit(systemd_user_manager, tmp_path,
                    f"ExecStart=/bin/sleep 60\nEnvironmentFile={missing}")
    with pytest.raises(RuntimeControlError, match=f"EnvironmentFile {missing} of unit {unit}"):
        _runtime(unit, tmp_path).environment()


def test_a_stop_that_outlasts_stop_timeout_kills_the_unit(
        systemd_user_manager: UserManager, tmp_path: Path) -> None:
    # Deaf to SIGTERM: systemd itself would wait TimeoutStopSec (90 s) before killing it.
    unit, _ = _unit(systemd_user_manager, tmp_path,
                    "ExecStart=/bin/sh -c 'trap \"\" TERM; while :; do sleep 0.2; done'")
    assert systemd_user_manager.systemctl("start", unit).returncode == 0
    runtime = _runtime(unit, tmp_path, stop_timeout=1)
    assert runtime.status().running
    began = time.monotonic()
    runtime.stop()
    assert time.monotonic() - began < 10
    assert not runtime.status().running
    assert _active_state(systemd_user_manager, unit) in ("inactive", "failed")


def test_a_unit_that_does_not_exist_is_named_by_check_status_and_start(
        systemd_user_manager: UserManager, tmp_path: Path) -> None:
    runtime = _runtime("hubshift-no-such-unit-5e1.service", tmp_path)
    [problem] = runtime.check()
    assert "unit hubshift-no-such-unit-5e1.service does not exist" in problem
    status = runtime.status()
    assert not status.running and "does not exist" in status.detail
    with pytest.raises(RuntimeControlError, match="hubshift-no-such-unit-5e1.service"):
        runtime.start()


def test_a_hub_that_answers_while_its_unit_is_stopped_is_found_by_check(
        systemd_user_manager: UserManager, tmp_path: Path) -> None:
    unit, _ = _unit(systemd_user_manager, tmp_path, "ExecStart=/bin/sleep 60")
    runtime = _runtime(unit, tmp_path)
    assert runtime.check() == []
    with socket.create_server(runtime.address()):  # the hub, run by something else
        [problem] = runtime.check()
    assert f"unit {unit} is inactive, yet something answers on the hub's port" in problem
    assert "the hub does not run under this unit" in problem


def test_a_user_manager_out_of_reach_is_not_running_with_the_reason(
        systemd_user_manager: UserManager, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    unit, _ = _unit(systemd_user_manager, tmp_path, "ExecStart=/bin/sleep 60")
    runtime = _runtime(unit, tmp_path)
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    [problem] = runtime.check()
    assert "XDG_RUNTIME_DIR is not set" in problem and unit in problem
    assert not runtime.status().running
    with pytest.raises(RuntimeControlError, match="XDG_RUNTIME_DIR"):
        runtime.start()

    nobody = tmp_path / "no-manager-here"
    nobody.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(nobody))
    status = runtime.status()
    assert not status.running
    assert f"unit {unit}" in status.detail and "connect" in status.detail.lower()
