"""Variables hubshift gives a hub (a moved database's URL) through its runtime: written
private, read back by `environment` (so upgrade-db opens the same database as the hub), and
undone to exactly what was there before."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

from hubshift.backends.runtimes import runtime_for
from hubshift.backends.runtimes.base import Runtime
from hubshift.backends.runtimes.envfile import parse_environment_file, set_var, unset_var
from hubshift.config import HubConfig
from hubshift_lab.sandbox import free_port

URL = 'postgresql://hub:p"w$`\\x@db/hub'


def _runtime(tmp_path: Path, runtime: dict[str, Any]) -> Runtime:
    return runtime_for(HubConfig.model_validate({
        "name": "physics", "config_file": str(tmp_path / "jupyterhub_config.py"),
        "db_url": f"sqlite:///{tmp_path}/jupyterhub.sqlite",
        "api_url": f"http://127.0.0.1:{free_port()}/hub/api", "api_token": "t0ken-xyz",
        "install": {"kind": "venv", "venv": str(tmp_path / "venv")}, "runtime": runtime}))


def _private(path: Path) -> bool:
    return stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_env_file_keeps_its_other_lines_and_any_value_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "hub.env"
    path.write_text("# the site's own\nLANG=C\nHUB_DB=sqlite:////old\n")
    set_var(path, "HUB_DB", URL)
    assert parse_environment_file(path.read_text()) == {"LANG": "C", "HUB_DB": URL}
    assert "# the site's own" in path.read_text() and _private(path)
    assert unset_var(path, "HUB_DB") is False  # LANG is left
    assert parse_environment_file(path.read_text()) == {"LANG": "C"}
    assert unset_var(tmp_path / "none.env", "HUB_DB") is True


def test_the_process_runtime_sets_over_runtime_env_and_undoes_it(tmp_path: Path) -> None:
    runtime = _runtime(tmp_path, {"kind": "process", "workdir": str(tmp_path),
                                  "env": {"HUB_DB": "sqlite:////old", "LANG": "C"}})
    assert runtime.set_env_problem() is None
    runtime.set_env("HUB_DB", URL)
    assert runtime.environment().env == {"HUB_DB": URL, "LANG": "C"}
    assert _private(tmp_path / "hubshift-env.json")
    runtime.unset_env("HUB_DB")
    runtime.unset_env("HUB_DB")  # twice: nothing more to do
    assert runtime.environment().env == {"HUB_DB": "sqlite:////old", "LANG": "C"}
    assert not (tmp_path / "hubshift-env.json").exists()


def test_the_command_runtime_needs_an_env_file_and_puts_the_old_value_back(
        tmp_path: Path) -> None:
    base = {"kind": "command", "start": ["true"], "stop": ["true"], "status": ["false"],
            "workdir": str(tmp_path)}
    assert "env_file" in (_runtime(tmp_path, base).set_env_problem() or "")
    env_file = tmp_path / "hub.env"
    env_file.write_text("HUB_DB=sqlite:////old\n")
    runtime = _runtime(tmp_path, {**base, "env_file": str(env_file), "env": {"LANG": "C"}})
    assert runtime.set_env_problem() is None
    runtime.set_env("HUB_DB", URL)
    assert runtime.environment().env == {"LANG": "C", "HUB_DB": URL}
    runtime.unset_env("HUB_DB")
    assert runtime.environment().env == {"LANG": "C", "HUB_DB": "sqlite:////old"}
    runtime.unset_env("HUB_DB")  # twice: nothing more to undo
    assert runtime.environment().env == {"LANG": "C", "HUB_DB": "sqlite:////old"}
    assert list(tmp_path.glob(".hub.env.hubshift-before*")) == []
    # A variable the file did not have is removed again.
    runtime.set_env("OTHER", "x")
    runtime.unset_env("OTHER")
    assert "OTHER" not in runtime.environment().env
