"""The `command` runtime's own promises, with small real commands standing in for a service
manager (a status that exits 0 or 1, a start that writes to the hub's log, a file each
command touches to prove it ran or did not). supervisord itself: the contract suite and
tests/integration/test_upgrade_command.py."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from hubshift.backends.runtimes import runtime_for
from hubshift.backends.runtimes.command import CommandRuntime
from hubshift.config import HubConfig, load_fleet
from hubshift.errors import ConfigError, RuntimeControlError
from hubshift_lab.sandbox import free_port

TOKEN = "token-0f9e8d7c6b5a"


def _hub(tmp_path: Path, **runtime: Any) -> CommandRuntime:
    entry = {"kind": "command", "start": ["true"], "stop": ["true"], "status": ["false"],
             "workdir": str(tmp_path), **runtime}
    config = HubConfig.model_validate({
        "name": "physics", "config_file": str(tmp_path / "jupyterhub_config.py"),
        "db_url": f"sqlite:///{tmp_path}/jupyterhub.sqlite",
        "api_url": f"http://127.0.0.1:{free_port()}/hub/api", "api_token": TOKEN,
        "install": {"kind": "venv", "venv": str(tmp_path / "venv")}, "runtime": entry})
    runtime_ = runtime_for(config)
    assert isinstance(runtime_, CommandRuntime)
    return runtime_


def _sh(script: str) -> list[str]:
    return ["sh", "-c", script]


def test_a_command_given_as_a_string_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    hub = {"name": "physics", "config_file": "c.py", "db_url": "sqlite:///x.sqlite",
           "api_url": "http://127.0.0.1:8000/hub/api", "api_token": TOKEN,
           "install": {"venv": "venv"},
           "runtime": {"kind": "command", "start": "supervisorctl start physics",
                       "stop": [], "status": ["supervisorctl", "status", "physics"],
                       "workdir": "."}}
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"storage": {"url": "s3://b/p"}, "hubs": [hub]}))
    with pytest.raises(ConfigError) as err:
        load_fleet(fleet, env={})
    message = str(err.value)
    assert "key hubs[0].runtime.start: " in message and "not a string" in message
    assert "key hubs[0].runtime.stop: " in message  # an empty command is no command
    assert "runtime.status" not in message


def test_environment_is_the_workdir_and_the_variables_the_manager_gives(tmp_path: Path) -> None:
    where = _hub(tmp_path, env={"JUPYTERHUB_CRYPT_KEY": "k" * 8}).environment()
    assert where.cwd == tmp_path and where.env == {"JUPYTERHUB_CRYPT_KEY": "k" * 8}
    assert CommandRuntime.can_preload is False


def test_check_names_each_command_that_cannot_run_by_its_key(tmp_path: Path) -> None:
    script = tmp_path / "not-executable.sh"
    script.write_text("#!/bin/sh\n")
    runtime = _hub(tmp_path, start=["no-such-manager-ctl", "start"],
                   stop=["./not-executable.sh"], status=[str(tmp_path / "gone"), "x"])
    problems = runtime.check()
    assert problems == [
        "key runtime.start: cannot run `no-such-manager-ctl start`: no-such-manager-ctl not "
        "found on PATH",
        f"key runtime.stop: cannot run `./not-executable.sh`: {script} is not an executable "
        "file",
        f"key runtime.status: cannot run `{tmp_path}/gone x`: {tmp_path}/gone does not exist",
    ]


def test_check_accepts_a_status_that_says_stopped_and_refuses_one_that_hangs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _hub(tmp_path, status=["false"]).check() == []
    monkeypatch.setattr(CommandRuntime, "status_timeout", 0.5)
    [problem] = _hub(tmp_path, status=["sleep", "30"]).check()
    assert problem == "key runtime.status: `sleep 30` did not finish within 0.5 s"


def test_a_secret_in_an_argument_is_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    runtime = _hub(tmp_path, start=["touch", str(marker), TOKEN])
    [problem] = runtime.check()
    assert problem.startswith("key runtime.start: argument 3 holds a secret")
    assert TOKEN not in problem
    with pytest.raises(RuntimeControlError, match="argument 3 holds a secret"):
        runtime.start()
    assert not marker.exists()


def test_status_that_cannot_run_says_stopped_with_the_reason(tmp_path: Path) -> None:
    status = _hub(tmp_path, status=[str(tmp_path / "gone")]).status()
    assert not status.running and status.pid is None
    assert "runtime.status" in status.detail and "No such file or directory" in status.detail


def test_status_takes_the_pid_the_manager_names_if_it_is_alive(tmp_path: Path) -> None:
    hub = subprocess.Popen(["sleep", "30"])
    try:
        running = _hub(tmp_path, status=_sh(f"echo 'physics RUNNING pid {hub.pid}, up'"))
        assert running.status().pid == hub.pid
        assert running.status().detail == f"physics RUNNING pid {hub.pid}, up"
    finally:
        hub.kill()
        hub.wait()
    # A pid that is gone is no hub; nothing serves the port either.
    assert running.status().running and running.status().pid is None


def test_stop_of_a_stopped_hub_does_not_run_the_stop_command(tmp_path: Path) -> None:
    marker = tmp_path / "stopped"
    runtime = _hub(tmp_path, status=["false"], stop=_sh(f"touch {marker}; exit 1"))
    runtime.stop()
    runtime.stop()
    assert not marker.exists()


def test_stop_that_leaves_the_hub_running_names_the_commands(tmp_path: Path) -> None:
    runtime = _hub(tmp_path, status=["true"], stop=_sh("echo cannot stop that; exit 2"))
    with pytest.raises(RuntimeControlError) as err:
        runtime.stop(timeout=0.5)
    assert "`true` still says the hub runs 0.5 s after `sh -c 'echo cannot stop that; " \
           "exit 2'`; it exited 2: cannot stop that" in str(err.value)


def test_start_of_a_running_hub_refuses_without_running_the_start(tmp_path: Path) -> None:
    marker = tmp_path / "started"
    runtime = _hub(tmp_path, status=_sh("echo physics RUNNING"), start=["touch", str(marker)])
    with pytest.raises(RuntimeControlError, match="already running .*physics RUNNING"):
        runtime.start()
    assert not marker.exists()


def test_a_hub_that_never_runs_fails_the_start_quoting_command_and_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CommandRuntime, "startup_grace", 0.5)
    log = tmp_path / "hub.log"
    log.write_text("an older line\n")
    (tmp_path / "token").write_text(TOKEN)  # what a hub might print: its config's secrets
    runtime = _hub(tmp_path, status=["false"], log_file=str(log), start=_sh(
        f"echo spawned; echo \"Traceback: config broken, token $(cat token)\" >> {log}"))
    with pytest.raises(RuntimeControlError) as err:
        runtime.start()
    message = str(err.value)
    assert "the hub is not running 0.5 s after the start" in message
    assert "said:\nspawned" in message
    assert f"log {log}:\nTraceback: config broken, token ***" in message
    assert "an older line" not in message and TOKEN not in message


def test_a_start_command_that_fails_is_quoted_and_the_hub_asked_to_stop(
    tmp_path: Path,
) -> None:
    running, stopped = tmp_path / "running", tmp_path / "stopped"
    running.touch()
    # A manager that keeps a crashing hub "running" (restarting it) until told to stop.
    runtime = _hub(tmp_path, status=["test", "-e", str(running)],
                   start=_sh("echo 'physics: ERROR (spawn error)'; exit 7"),
                   stop=_sh(f"rm {running}; touch {stopped}"))
    running.unlink()
    with pytest.raises(RuntimeControlError) as err:
        runtime.start()
    assert "exited 7" in str(err.value) and "ERROR (spawn error)" in str(err.value)
    assert not stopped.exists()  # it did not run: nothing left to stop

    crash_loop = _hub(tmp_path, status=["test", "-e", str(running)],
                      start=_sh(f"touch {running}; exit 7"),
                      stop=_sh(f"rm {running}; touch {stopped}"))
    with pytest.raises(RuntimeControlError, match="exited 7"):
        crash_loop.start()
    assert stopped.exists() and not running.exists()


def test_the_start_command_runs_in_the_workdir_with_a_shell_never_involved(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(CommandRuntime, "startup_grace", 0.3)
    odd = "a b; touch injected"
    runtime = _hub(tmp_path, status=["false"],
                   start=[sys.executable, "-c", "import os, sys; open('argv', 'w')"
                          ".write(repr(sys.argv[1:]) + os.getcwd())", odd])
    with pytest.raises(RuntimeControlError):
        runtime.start()
    assert (tmp_path / "argv").read_text() == repr([odd]) + str(tmp_path)
    assert not (tmp_path / "injected").exists()
    assert shlex.quote(odd) in runtime.shown("start")
