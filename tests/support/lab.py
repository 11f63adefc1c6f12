"""One real hub that a whole test module puts through upgrades, faults and rollbacks.

A lab owns a seeded JupyterHub, its own bucket and notification inbox, and the fleet file
that points at them; `open_lab` starts it and always stops it. Each test first checks the
hub is where the previous one must have left it (`baseline`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hubshift.backends.databases import Database, database_for
from hubshift.backends.hubapi import HubAPI, wait_healthy
from hubshift.backends.runtimes import Runtime, runtime_for
from hubshift.backends.storage import BackupStore
from hubshift.config import HubConfig, StorageConfig
from hubshift.integrity.digest import VOLATILE_COLUMNS, Digest, differences
from hubshift_lab.inbox import Inbox
from hubshift_lab.proxy import start_proxy, stop_proxy
from hubshift_lab.s3server import DEMO_REGION, S3Server
from hubshift_lab.sandbox import (
    SandboxHub,
    Seeded,
    find_proxy,
    make_hub,
    seed,
    stop_users_servers,
)
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import (
    HEADS,
    NEW_VERSION,
    OLD_VERSION,
    commands_running_from,
    hub_config,
    install_ready,
    jupyterhub_venv,
)
from tests.support.managed import Manager

#: The alembic head of JupyterHub 4.1.6, where lab hubs start (unless told otherwise) and
#: must return to.
OLD_REVISION = HEADS[OLD_VERSION]


@dataclass
class Lab:
    hub: str
    root: Path
    sandbox: SandboxHub
    runtime: Runtime
    seeded: Seeded
    storage: StorageConfig
    fleet: Path
    inbox: Inbox
    prefect_api: str
    #: The hub's entry in `fleet` (its runtime the lab's manager's, if any).
    entry: dict[str, Any]
    #: The release the hub starts on and must return to after a failure, and the target.
    from_version: str
    to_version: str

    @property
    def from_revision(self) -> str:
        return HEADS[self.from_version]

    def api(self) -> HubAPI:
        return self.sandbox.api()

    def db(self) -> Database:
        return database_for(self.sandbox.db_url)

    def hubshift(self, *args: str | Path, fleet: Path | None = None, fault: str | None = None,
                 env_changes: dict[str, str | None] | None = None):
        """`hubshift ARGS -f <fleet> --hub <hub>` as its own process."""
        return run_cli([*args, "-f", fleet or self.fleet, "--hub", self.hub],
                       prefect_api=self.prefect_api, fault=fault, env_changes=env_changes)

    def backups(self) -> list[str]:
        listed = run_cli(["backups", "-f", self.fleet, "--json"])
        assert listed.returncode == 0, listed.stderr
        return [b["backup_id"] for b in json.loads(listed.stdout)["backups"]]

    def record_exists(self) -> bool:
        return BackupStore(self.storage).exists(f"{self.hub}/in-progress.json")


@contextmanager
def open_lab(root: Path, hub: str, venv: Path, *, endpoint_url: str, prefect_api: str,
             db_url: str | None = None, from_version: str = OLD_VERSION,
             to_version: str = NEW_VERSION, manager: Manager | None = None,
             ready: bool = True, **hub_options: bool) -> Iterator[Lab]:
    """A seeded hub on `from_version` (in `venv`), its fleet file targeting `to_version`, with
    a fresh bucket and inbox; stopped at the end.

    `manager` (tests/support/managed.py) runs the hub under its service manager, in the lab
    and in its fleet file; by default hubshift runs it as a process. With `ready`, the target
    release is already installed beside the hub (`install_ready`: a venv install's prepare
    reuses it); without it, hubshift's prepare builds it. `hub_options` go to
    `make_hub` (jupyter_servers, keep_servers: then the lab starts the hub's own external
    proxy, and stops it and every user's server at the end).
    """
    sandbox = make_hub(root, hub, venv, db_url=db_url, **hub_options)
    entry = sandbox.fleet_entry(to_version)
    if manager is None:
        config = hub_config(sandbox, stop_timeout=10)
    else:
        entry["runtime"] = manager.runtime_entry(sandbox)
        config = HubConfig.model_validate({**entry, "target_version": None})
    runtime = runtime_for(config)
    if ready:
        install_ready(config, to_version)
    storage = StorageConfig(url=f"s3://hubshift-lab-{uuid.uuid4().hex[:8]}/hubshift",
                            endpoint_url=endpoint_url, region=DEMO_REGION)
    BackupStore(storage).ensure_bucket()
    if sandbox.keep_servers:
        assert sandbox.proxy_token_file is not None
        start_proxy(find_proxy(), sandbox.workdir, public_port=sandbox.port,
                    api_port=sandbox.proxy_api_port, hub_port=sandbox.hub_port,
                    token_file=sandbox.proxy_token_file)
    runtime.start()
    try:
        with sandbox.api() as api, Inbox() as inbox:
            wait_healthy(api, 90, version=from_version)
            seeded = seed(api)
            fleet = write_fleet(root / "fleet.yaml", storage, [entry], [inbox.url])
            yield Lab(hub, root, sandbox, runtime, seeded, storage, fleet, inbox, prefect_api,
                      entry, from_version, to_version)
    finally:
        runtime.stop()
        stop_proxy(sandbox.workdir)
        stop_users_servers(sandbox.workdir)


def module_lab(folder: str, hub: str) -> Callable[..., Iterator[Lab]]:
    """The module-scoped `lab` fixture most modules share: hub `hub` seeded on the old
    release, its fleet file targeting the new one (`lab = module_lab("rollback", "physics")`)."""

    @pytest.fixture(scope="module")
    def lab(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
            prefect_api: str) -> Iterator[Lab]:
        with open_lab(tmp_path_factory.mktemp(folder), hub, jupyterhub_venv(OLD_VERSION),
                      endpoint_url=s3_server.endpoint_url, prefect_api=prefect_api) as lab:
            yield lab

    return lab


def baseline(lab: Lab) -> Digest:
    """The hub must be healthy on the old version, nothing in progress; return its digest."""
    with lab.api() as api:
        assert api.version() == lab.from_version
    assert lab.db().revision() == lab.from_revision
    assert not lab.record_exists()
    lab.inbox.messages.clear()
    return lab.db().digest()


def refused_in_rehearsal(done, version: str) -> dict:
    """The JSON result of an upgrade refused while it migrated the copy to `version`: exit 2,
    the revision it broke in, and the live hub said to be untouched (the engine's own words
    for the failure are the caller's to check)."""
    assert done.returncode == 2, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("refused", "rehearse")
    assert result["rehearsal"]["failed_at"] == f"migrate {version}"
    assert f"in revision {HEADS[version]}" in result["error"]
    assert "The live hub was not touched" in result["error"]
    return result


def upgrade_rolled_back(lab: Lab, fault: str):
    """Run an upgrade with `fault` injected; it must exit 1, rolled back at the fault's step.

    Returns the finished process and its JSON result.
    """
    done = lab.hubshift("upgrade", "--json", fault=fault)
    assert done.returncode == 1, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("rolled-back", fault.split(":")[0])
    return done, result


def assert_back_as_before(lab: Lab, before: Digest, old_venv: Path) -> None:
    """Old version answering from `old_venv`, same revision and rows, tokens still working,
    nothing in progress, nothing left running from the new release's venv."""
    with lab.api() as api:
        assert api.version() == lab.from_version
        for user, token in lab.seeded.tokens.items():
            assert api.whoami(token)["name"] == user
    assert lab.db().revision() == lab.from_revision
    assert differences(before, lab.db().digest(), ignore_columns=VOLATILE_COLUMNS) == []
    assert lab.sandbox.venv_link.resolve() == old_venv.resolve()
    assert not lab.record_exists()
    assert commands_running_from(lab.sandbox.workdir / f"venv-{lab.to_version}") == []


def prefect_records(flow_run_id: str) -> tuple[str, str, list[str]]:
    """The flow's name, the run's state, and every log line and artifact of a flow run."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.client.schemas.sorting import ArtifactSort, LogSort

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
        flow = client.read_flow(run.flow_id)
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])),
                                limit=200, offset=0, sort=LogSort.TIMESTAMP_ASC)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(
                any_=[flow_run_id])), sort=ArtifactSort.CREATED_DESC, limit=50, offset=0)
    return flow.name, str(run.state_name), (
        [log.message for log in logs] + [str(a.data) for a in artifacts])
