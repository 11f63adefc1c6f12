"""A hub shaped as The Littlest JupyterHub installs it, upgraded by hubshift through
`tljh: {prefix: ...}`: the hub env `<prefix>/hub` holding JupyterHub and the `tljh` package
(upgraded in place), the database in `<prefix>/state` (the unit's working directory), the
admin's configuration in `<prefix>/config` (`config.yaml`, `jupyterhub_config.d/`), the hub
a systemd unit whose ExecStart migrates at start (`--upgrade-db`), and its proxy a unit of
its own (TLJH's traefik; here configurable-http-proxy). The unit runs the hub; hubshift
only drives systemctl, the env and the backup.
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from hubshift.backends.databases import database_for
from hubshift.backends.hubapi import HubAPI, wait_healthy
from hubshift.backends.installers.pip import requirements_for
from hubshift.backends.runtimes import Runtime, runtime_for
from hubshift.backends.storage import BackupStore, StorageConfig
from hubshift.config import HubConfig
from hubshift.integrity.digest import VOLATILE_COLUMNS, Digest, differences
from hubshift.system import procs
from hubshift_lab.inbox import Inbox
from hubshift_lab.s3server import DEMO_REGION, S3Server
from hubshift_lab.sandbox import SandboxHub, Seeded, find_proxy, make_hub, seed
from hubshift_lab.systemd import UserManager
from tests.support.envs import build_env
from tests.support.fleet import run_cli
from tests.support.hubs import HEADS, OLD_VERSION, PREVIOUS_VERSION, assert_everyone_kept
from tests.support.wheels import make_wheel

pytestmark = pytest.mark.integration

#: A one-major hop, as TLJH hubs take them.
TARGET = PREVIOUS_VERSION
OLD_REVISION, NEW_REVISION = HEADS[OLD_VERSION], HEADS[TARGET]

#: TLJH's `tljh/jupyterhub_config.py`, reduced to what shapes an upgrade: the prefix from the
#: unit's environment, users' servers kept, the admin's snippets loaded from config/.
TLJH_CONFIG = '''\
"""The hub config TLJH's `tljh` package ships (reduced): see the upgrade tests of hubshift."""
import os
from glob import glob
from pathlib import Path

prefix = Path(os.environ["TLJH_INSTALL_PREFIX"])
c.JupyterHub.cleanup_servers = False
for snippet in sorted(glob(str(prefix / "config" / "jupyterhub_config.d" / "*.py"))):
    load_subconfig(snippet)
'''


@dataclass
class Tljh:
    prefix: Path
    sandbox: SandboxHub
    runtime: Runtime
    fleet: Path
    seeded: Seeded
    inbox: Inbox
    prefect_api: str
    unit: str

    @property
    def env(self) -> Path:
        return self.prefix / "hub"

    def hubshift(self, *args: str, fleet: Path | None = None, fault: str | None = None):
        return run_cli([*args, "-f", fleet or self.fleet, "--hub", "tljh"],
                       prefect_api=self.prefect_api, fault=fault)

    def freeze(self) -> str:
        return subprocess.run([self.env / "bin" / "python", "-m", "pip", "freeze"],
                              capture_output=True, text=True, check=True).stdout

    def config_tree(self) -> dict[str, str]:
        folder = self.prefix / "config"
        return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
                if p.is_file()}

    def db_digest(self) -> Digest:
        return database_for(f"sqlite:///{self.prefix / 'state' / 'jupyterhub.sqlite'}").digest()

    def assert_the_unit_runs_the_hub(self, version: str) -> None:
        """The unit is active, its MainPID is the hub answering on its own port, on
        `version`, started by the unit's own command line (never a process of ours)."""
        status = self.runtime.status()
        assert status.running and status.pid is not None
        line = procs.cmdline(status.pid) or ""
        assert f"{self.env}/bin/python -m jupyterhub.app" in line and "--upgrade-db" in line
        with HubAPI(self.sandbox.own_api_url) as api:
            assert api.version() == version


def _unit(description: str, exec_start: str, *, workdir: Path, environment: dict[str, str],
          log: Path) -> str:
    env = "".join(f'Environment="{k}={v}"\n' for k, v in environment.items())
    return (f"[Unit]\nDescription={description}\n\n[Service]\nType=simple\n"
            f"ExecStart={exec_start}\nWorkingDirectory={workdir}\n{env}"
            f"StandardOutput=append:{log}\nStandardError=inherit\n")


@pytest.fixture(scope="module")
def tljh(tmp_path_factory: pytest.TempPathFactory, systemd_user_manager: UserManager,
         s3_server: S3Server, prefect_api: str) -> Iterator[Tljh]:
    root = tmp_path_factory.mktemp("tljh")
    prefix = root / "opt-tljh"
    env, state, config = prefix / "hub", prefix / "state", prefix / "config"
    for folder in (state, config / "jupyterhub_config.d"):
        folder.mkdir(parents=True)
    # The hub env, with JupyterHub and a `tljh` package installed from a local path (TLJH's
    # installer installs it from git: pip cannot fetch it again by name).
    build_env(env, requirements_for(OLD_VERSION))
    wheel = make_wheel(root, "the-littlest-jupyterhub", "1.0.0", files={
        "tljh/__init__.py": "", "tljh/jupyterhub_config.py": TLJH_CONFIG})
    subprocess.run([env / "bin" / "python", "-m", "pip", "install", "--quiet", "--no-index",
                    wheel], check=True, capture_output=True)
    # The admin's side: config.yaml, and the site's settings as a jupyterhub_config.d snippet
    # (ports, the hubshift service, its own proxy as a unit, the database in state/).
    sandbox = make_hub(root, "tljh", env, db_url=f"sqlite:///{state / 'jupyterhub.sqlite'}",
                       keep_servers=True)
    (config / "config.yaml").write_text(yaml.safe_dump({"users": {"admin": ["admin"]}}))
    (config / "jupyterhub_config.d" / "site.py").write_text(sandbox.config_file.read_text())
    tljh_config = next(env.glob("lib/python*/site-packages/tljh/jupyterhub_config.py"))

    tag = secrets.token_hex(3)
    assert sandbox.proxy_token_file is not None
    proxy_env = root / "proxy.env"
    proxy_env.write_text(f"CONFIGPROXY_AUTH_TOKEN={sandbox.proxy_token_file.read_text()}")
    proxy_env.chmod(0o600)
    proxy_unit, hub_unit = f"tljh-proxy-{tag}.service", f"jupyterhub-tljh-{tag}.service"
    hub = f"http://127.0.0.1:{sandbox.hub_port}"
    systemd_user_manager.add_unit(proxy_unit, _unit(
        "the TLJH hub's proxy (traefik's place)",
        f"{find_proxy()} --ip 127.0.0.1 --port {sandbox.port} --api-ip 127.0.0.1 --api-port "
        f"{sandbox.proxy_api_port} --default-target {hub} --error-target {hub}/hub/error",
        workdir=state, environment={}, log=state / "proxy.log").replace(
        "[Service]\n", f"[Service]\nEnvironmentFile={proxy_env}\n"))
    systemd_user_manager.add_unit(hub_unit, _unit(
        "JupyterHub, as TLJH runs it",
        f"{env}/bin/python -m jupyterhub.app -f {tljh_config} --upgrade-db",
        workdir=state, environment={"TLJH_INSTALL_PREFIX": str(prefix),
                                    "PATH": f"{env}/bin:/usr/bin:/bin"},
        log=state / "jupyterhub.log"))
    started = systemd_user_manager.systemctl("start", proxy_unit)
    assert started.returncode == 0, started.stderr

    storage = StorageConfig(url=f"s3://hubshift-tljh-{tag}/hubshift",
                            endpoint_url=s3_server.endpoint_url, region=DEMO_REGION)
    BackupStore(storage).ensure_bucket()
    entry = {"name": "tljh", "tljh": {"prefix": str(prefix)}, "target_version": TARGET,
             "api_url": sandbox.api_url, "hub_api_url": sandbox.own_api_url,
             "api_token": sandbox.token,
             "runtime": {"kind": "systemd", "unit": hub_unit, "user": True, "stop_timeout": 15},
             "rehearse": False}
    runtime = runtime_for(HubConfig.model_validate(entry))
    runtime.start()
    try:
        with sandbox.api() as api, Inbox() as inbox:
            wait_healthy(api, 120, version=OLD_VERSION)
            seeded = seed(api)
            fleet = root / "fleet.yaml"
            fleet.write_text(yaml.safe_dump({
                "storage": storage.model_dump(mode="json", exclude_none=True),
                "notify": {"urls": [inbox.url]}, "hubs": [entry]}))
            yield Tljh(prefix, sandbox, runtime, fleet, seeded, inbox, prefect_api, hub_unit)
    finally:
        runtime.stop()
        systemd_user_manager.systemctl("stop", proxy_unit)


def test_a_prefix_that_is_no_tljh_install_is_refused_with_the_hub_untouched(
        tljh: Tljh, tmp_path: Path) -> None:
    pid = tljh.runtime.status().pid
    document = yaml.safe_load(tljh.fleet.read_text())
    document["hubs"][0]["tljh"]["prefix"] = str(tmp_path / "not-tljh")
    wrong = tmp_path / "fleet.yaml"
    wrong.write_text(yaml.safe_dump(document))
    done = tljh.hubshift("upgrade", "--json", fleet=wrong)
    assert done.returncode == 2, done.stderr[-2000:]
    assert f"tljh.prefix {tmp_path / 'not-tljh'} is not a TLJH install" in done.stderr
    assert "Traceback" not in done.stderr
    assert tljh.runtime.status().pid == pid
    tljh.assert_the_unit_runs_the_hub(OLD_VERSION)


def test_a_failed_start_puts_the_env_the_config_and_the_database_back(tljh: Tljh) -> None:
    freeze, config, rows = tljh.freeze(), tljh.config_tree(), tljh.db_digest()
    done = tljh.hubshift("upgrade", "--json", fault="start:raise")
    assert done.returncode == 1, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("rolled-back", "start")
    tljh.assert_the_unit_runs_the_hub(OLD_VERSION)
    assert tljh.freeze() == freeze
    assert tljh.config_tree() == config
    assert differences(rows, tljh.db_digest(), ignore_columns=VOLATILE_COLUMNS) == []
    assert database_for(
        f"sqlite:///{tljh.prefix / 'state' / 'jupyterhub.sqlite'}").revision() == OLD_REVISION


def test_a_tljh_hub_is_upgraded_in_its_own_env_and_runs_under_its_unit_again(
        tljh: Tljh) -> None:
    with tljh.sandbox.api() as api:
        users = sorted(u["name"] for u in api.users())
        groups = {g["name"]: sorted(g["users"]) for g in api.groups()}
    rows = tljh.db_digest()
    done = tljh.hubshift("upgrade", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["from_version"], result["to_version"]) == (OLD_VERSION, TARGET)

    tljh.assert_the_unit_runs_the_hub(TARGET)
    freeze = tljh.freeze()
    assert f"jupyterhub=={TARGET}" in freeze
    assert "the-littlest-jupyterhub" in freeze  # TLJH's own package is left as it was
    database = database_for(f"sqlite:///{tljh.prefix / 'state' / 'jupyterhub.sqlite'}")
    assert database.revision() == NEW_REVISION
    assert differences(rows, database.digest(), ignore_columns=VOLATILE_COLUMNS) == []
    with tljh.sandbox.api() as api:
        assert_everyone_kept(api, TARGET, (users, groups), tljh.seeded.tokens)
