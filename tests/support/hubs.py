"""Real JupyterHub releases and running sandbox hubs, for integration tests.

Venvs are built once per release and reused by every later run (and by parallel pytest
processes: a file lock makes one build while the others wait), with uv (tests/support/envs.py).
Register the fixtures with ``pytest_plugins = ["tests.support.hubs"]``.
"""

from __future__ import annotations

import fcntl
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubshift.backends.hubapi import HubAPI, wait_healthy
from hubshift.backends.installers import installer_for
from hubshift.backends.installers.pip import requirements_for
from hubshift.backends.installers.venv import COMPLETE_MARKER, VenvInstaller
from hubshift.backends.runtimes import Runtime, runtime_for
from hubshift.config import HubConfig
from hubshift.system import procs
from hubshift.system.execute import child_env, run
from hubshift.window.migrate import revisions_run
from hubshift_lab.sandbox import SandboxHub, Seeded, make_hub, seed
from tests.support.envs import build_env, venv_cache

#: The releases the integration tests upgrade between: an old hub, the newest release of the
#: major version before the newest (a one-major hop), and the newest release on the index.
OLD_VERSION = "4.1.6"
PREVIOUS_VERSION = "5.5.4"
NEW_VERSION = "6.1.1"
#: The alembic head each of them ships.
HEADS = {OLD_VERSION: "0eee8c825d24", PREVIOUS_VERSION: "4621fec11365",
         NEW_VERSION: "f460b0348206"}
#: The revisions 6.1.1's upgrade-db runs on a 5.5.4 database (the plan must say so too).
SIX_REVISIONS = ["be8ecf03ddac", "afd65840b69e", "ff1860e38070", "f460b0348206"]
# Written last: a venv without it was interrupted mid-build.
_COMPLETE = ".complete"


def jupyterhub_venv(version: str, extra: tuple[str, ...] | list[str] = ()) -> Path:
    """A venv with JupyterHub `version` (and `extra` packages, e.g. a database driver),
    built on first use and reused afterwards; each set of extras is a venv of its own.

    Scripts in a venv hold absolute paths, so it is built in place (never moved) under an
    exclusive lock, and marked complete last; a leftover without the marker is rebuilt.
    """
    cache = venv_cache()
    cache.mkdir(parents=True, exist_ok=True)
    packages = sorted(set(extra))
    # A readable cache key: jupyterhub-5.5.4+psycopg-binary+psycopg2-binary.
    name = "+".join([f"jupyterhub-{version}",
                     *(re.sub(r"[^A-Za-z0-9.]+", "-", p).strip("-") for p in packages)])
    venv = cache / name
    with open(cache / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _COMPLETE).exists():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        build_env(venv, requirements_for(version, packages))
        (venv / _COMPLETE).write_text("\n".join([f"jupyterhub=={version}", *packages]) + "\n")
    return venv


def install_ready(config: HubConfig, version: str) -> None:
    """Release `version` installed beside the venv hub `config`, as the venv installer's
    prepare leaves it (the same packages, marked complete): hubshift's prepare then reuses it,
    as it reuses a previous run's. Built with uv, it spares a test the ~30 s of CPU of pip;
    the tests of prepare itself (test_upgrade_hub.py, test_offline_wheelhouse.py, the demo)
    do not use it."""
    installer = installer_for(config)
    assert isinstance(installer, VenvInstaller), installer
    target = installer.path_for(version)
    build_env(target, installer.requirements(version), python=str(installer.base_python()))
    (target / COMPLETE_MARKER).write_text(version + "\n")


def alembic_log_of_upgrade_db(db_file: Path, version: str, scratch: Path) -> list[str]:
    """The revisions JupyterHub `version`'s own `upgrade-db` applies to a copy of the SQLite
    database `db_file`, read from alembic's log: what a plan must have predicted."""
    copy = scratch / f"upgrade-db-{version}.sqlite"
    shutil.copy(db_file, copy)
    config = scratch / f"upgrade_db_{version.replace('.', '_')}_config.py"
    config.write_text(f"c.JupyterHub.db_url = {f'sqlite:///{copy}'!r}\n")
    venv = jupyterhub_venv(version)
    done = run([venv / "bin" / "jupyterhub", "upgrade-db", "-f", config],
               env=child_env(path_first=[venv / "bin"]), cwd=scratch, timeout=600)
    assert done.returncode == 0, done.tail
    return revisions_run(done.output)


@dataclass
class RunningHub:
    """A started sandbox hub and the handles a test needs to poke it."""

    sandbox: SandboxHub
    config: HubConfig
    runtime: Runtime
    api: HubAPI
    seeded: Seeded | None


StartHub = Callable[..., RunningHub]


def commands_running_from(install: Path) -> list[str]:
    """Command lines of the live processes that run from `install`: after a failed or rolled
    back upgrade there must be none (no loaded command left waiting, no new hub)."""
    marker = f"{install}/"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            line = procs.cmdline(int(entry.name))
            if line and marker in line and procs.alive(int(entry.name)):
                found.append(line)
    return found


def hub_config(sandbox: SandboxHub, **runtime: object) -> HubConfig:
    """The fleet-file model of `sandbox`, with `runtime` options (stop_timeout, ...) added."""
    entry = sandbox.fleet_entry(None)
    entry["runtime"].update(runtime)
    return HubConfig.model_validate(entry)


@pytest.fixture
def running_hub(tmp_path: Path) -> Iterator[StartHub]:
    """A factory: `running_hub(version, name=..., seed_hub=True, ready=None)` starts a
    seeded hub (with release `ready`, or each of a list of them, already installed beside
    it: `install_ready`; a climb's stepping stones too).

    Every hub it started is stopped at teardown, whatever the test did to it.
    """
    started: list[tuple[Runtime, HubAPI]] = []

    def start(
        version: str = OLD_VERSION, name: str = "hub", *, seed_hub: bool = True,
        ready: str | list[str] | None = None,
    ) -> RunningHub:
        sandbox = make_hub(tmp_path, name, jupyterhub_venv(version))
        config = hub_config(sandbox, stop_timeout=10)
        for release in [ready] if isinstance(ready, str) else ready or []:
            install_ready(config, release)
        runtime = runtime_for(config)
        api = sandbox.api()
        started.append((runtime, api))
        runtime.start()
        wait_healthy(api, 60, version=version)
        return RunningHub(sandbox, config, runtime, api, seed(api) if seed_hub else None)

    yield start

    errors = []
    for runtime, api in reversed(started):
        api.close()
        try:
            runtime.stop()
        except Exception as err:  # stop the others anyway, then report
            errors.append(err)
    if errors:
        raise errors[0]


def who(api: HubAPI) -> tuple[list[str], dict[str, list[str]]]:
    """User names and group members, as the hub's API tells them."""
    users = sorted(u["name"] for u in api.users())
    groups = {g["name"]: sorted(g["users"]) for g in api.groups()}
    return users, groups


def assert_everyone_kept(api: HubAPI, version: str,
                         before: tuple[list[str], dict[str, list[str]]],
                         tokens: dict[str, str]) -> None:
    """The hub answers `version` with the users and groups `who` saw `before`, and every
    token made before (user -> token) still authenticates as its user."""
    assert api.version() == version
    assert who(api) == before
    for user, token in tokens.items():
        assert api.whoami(token)["name"] == user


def versions_of(sandboxes: dict[str, SandboxHub]) -> dict[str, str]:
    """The version each hub answers with, by name."""
    versions = {}
    for name, sandbox in sandboxes.items():
        with sandbox.api() as api:
            versions[name] = api.version()
    return versions
