"""Real JupyterHub 5.5.4 hubs whose databases live on the PostgreSQL and MariaDB servers,
upgraded to 6.1.1 (the newest release, one major up) by `hubshift upgrade`, rolled back after
injected faults in the 6.1.1 hop, and refused in preflight when the database cannot be reached.

One hub per engine goes through every test of this module, in order: refusals first (the hub
must be untouched), then the faults (the hub must be back as before), then the upgrade that
succeeds. Each database belongs to a user with a password full of characters that need
escaping; no output, log, artifact or manifest may show it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest

from hubshift.backends.databases import database_for
from hubshift.backends.hubapi import HubAPI
from hubshift.integrity.checksum import sha256_file
from hubshift.integrity.digest import VOLATILE_COLUMNS, TableDigest, differences
from hubshift_lab.s3server import S3Server
from hubshift_lab.sandbox import free_port
from tests.support.databases import (
    SERVER_ENGINES,
    ServerDatabase,
    create_server_database,
    drop_server_database,
    require_service,
    server_database,
    wrong_credentials,
)
from tests.support.fleet import write_fleet
from tests.support.hubs import (
    HEADS,
    NEW_VERSION,
    PREVIOUS_VERSION,
    SIX_REVISIONS,
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

pytestmark = pytest.mark.integration

NEW_REVISION = HEADS[NEW_VERSION]


@dataclass
class ServerLab(Lab):
    engine: str
    database: ServerDatabase
    venv: Path

    def secrets(self) -> dict[str, str]:
        """Every secret of this hub, by what it is."""
        found = {"database password": self.database.password,
                 "database password, URL-encoded": quote(self.database.password, safe=""),
                 "API token": self.sandbox.token}
        found.update({f"token of {u}": t for u, t in self.seeded.tokens.items()})
        return found


@pytest.fixture(scope="module", params=SERVER_ENGINES)
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        s3_server: S3Server, prefect_api: str) -> Iterator[ServerLab]:
    """A seeded 5.5.4 hub on a fresh server database; one per engine, one at a time."""
    engine = request.param
    require_service(engine)
    # A name of its own: no lock or backup of another module's `physics` hub can meet it.
    hub = f"hub-on-{engine}"
    root = tmp_path_factory.mktemp(hub)
    with server_database(engine) as database:
        # JupyterHub's own venv needs the driver its URL names (psycopg 3 for postgresql://).
        venv = jupyterhub_venv(PREVIOUS_VERSION, database_for(database.url()).driver_packages)
        # Not `ready`: the refusals must leave no new install, and the upgrade builds one.
        with open_lab(root, hub, venv, endpoint_url=s3_server.endpoint_url,
                      prefect_api=prefect_api, db_url=database.url(),
                      from_version=PREVIOUS_VERSION, ready=False) as lab:
            yield ServerLab(**vars(lab), engine=engine, database=database, venv=venv)


def _assert_no_secret(texts: dict[str, str], secrets: dict[str, str]) -> None:
    for where, text in texts.items():
        for what, secret in secrets.items():
            assert secret not in text, f"the {what} leaked into {where}"


@pytest.mark.parametrize("problem", ["wrong-password", "unreachable-server", "no-dump-tools"])
def test_a_database_it_cannot_reach_or_dump_is_refused_in_preflight_with_the_hub_untouched(
    lab: ServerLab, problem: str
) -> None:
    before = baseline(lab)
    pid = lab.runtime.status().pid
    wrong_secret = f"Wrong-{uuid.uuid4().hex[:10]}"
    env_changes = None
    if problem == "wrong-password":
        # A wrong password, or a wrong user where the server trusts local connections.
        db_url = wrong_credentials(lab.database, wrong_secret)
    elif problem == "unreachable-server":
        db_url = lab.database.url(password=wrong_secret, port=free_port())
    else:
        # The right database, but no pg_dump / mariadb-dump on the orchestrator's PATH.
        db_url = lab.database.url()
        empty = lab.root / "empty-bin"
        empty.mkdir(exist_ok=True)
        env_changes = {"PATH": str(empty)}
    entry = lab.sandbox.fleet_entry(NEW_VERSION) | {"db_url": db_url}
    fleet = write_fleet(lab.root / f"fleet-{problem}.yaml", lab.storage, [entry])

    done = lab.hubshift("upgrade", "--json", fleet=fleet, env_changes=env_changes)
    assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
    result = json.loads(done.stdout)
    assert result["status"] == "refused"
    if problem == "no-dump-tools":
        package = "postgresql-client" if lab.engine == "postgres" else "mariadb-client"
        assert "not found on PATH" in result["error"] and package in result["error"]
    else:
        assert "cannot connect to" in result["error"]
        expected_port = db_url.rsplit(":", 1)[1].split("/")[0]
        assert f"127.0.0.1:{expected_port}" in result["error"]  # says where, and as whom

    # Untouched: same process, version, install, rows; no backup, no record.
    assert lab.runtime.status().pid == pid
    assert lab.sandbox.venv_link.resolve() == lab.venv.resolve()
    assert not (lab.sandbox.workdir / f"venv-{NEW_VERSION}").exists()
    assert differences(before, lab.db().digest(), ignore_columns=VOLATILE_COLUMNS) == []
    assert lab.backups() == []
    assert not lab.record_exists()
    _assert_no_secret(
        {"stdout": done.stdout, "stderr": done.stderr,
         "hub log": lab.runtime.hub.runtime.log_path.read_text(),
         "prefect logs": "\n".join(prefect_records(result["flow_run_id"])[2]
                                   if result.get("flow_run_id") else [])},
        {**lab.secrets(), "wrong password": wrong_secret},
    )


@pytest.mark.parametrize("fault", [
    "migrate:after",   # 6.1.1's upgrade-db ran (the schema is 6.x), then failed: half-way
    "verify:raise",    # the 6.1.1 hub started on the migrated schema, then failed
])
def test_a_fault_after_stop_restores_the_database_to_its_revision_and_rows(
    lab: ServerLab, fault: str
) -> None:
    before = baseline(lab)
    done, _ = upgrade_rolled_back(lab, fault)

    assert_back_as_before(lab, before, lab.venv)
    # Whatever the 6.x hub created is gone too: the next upgrade starts from a clean 5.x schema.
    assert set(lab.db().digest()) == set(before)
    _assert_no_secret({"stdout": done.stdout, "stderr": done.stderr}, lab.secrets())


def test_upgrade_keeps_users_groups_service_and_tokens_and_its_backup_restores(
    lab: ServerLab, tmp_path: Path
) -> None:
    with lab.sandbox.api() as api:
        users_before = sorted(u["name"] for u in api.users())
        groups_before = {g["name"]: sorted(g["users"]) for g in api.groups()}
    # Taken after the listing: a hub adds a user's spawner row when it first lists the user.
    before = baseline(lab)
    assert before["services"].rows == 1 and before["api_tokens"].rows >= 2

    done = lab.hubshift("upgrade", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "upgraded"
    assert (result["from_version"], result["to_version"]) == (PREVIOUS_VERSION, NEW_VERSION)
    assert result["migrations"] == result["migrations_run"] == SIX_REVISIONS
    new_venv = lab.sandbox.workdir / f"venv-{NEW_VERSION}"
    assert lab.sandbox.venv_link.resolve() == new_venv

    # The 6.1.1 hub answers on the same database, with the same rows, users, groups, tokens.
    db = lab.db()
    assert db.revision() == NEW_REVISION
    lost = differences(before, db.digest(), ignore_columns=VOLATILE_COLUMNS)
    assert lost == [], lost
    with HubAPI(lab.sandbox.api_url, lab.sandbox.token) as api:
        assert_everyone_kept(api, NEW_VERSION, (users_before, groups_before),
                             lab.seeded.tokens)

    # The backup, downloaded from the S3 server: checksums as in its manifest, and restored
    # into a fresh empty database it gives the manifest's revision and digest.
    s3 = boto3.client("s3", endpoint_url=lab.storage.endpoint_url)
    folder = f"{lab.storage.prefix}/{lab.hub}/{result['backup_id']}"
    manifest = json.loads(
        s3.get_object(Bucket=lab.storage.bucket, Key=f"{folder}/manifest.json")["Body"].read())
    assert manifest["engine"] == lab.engine
    assert manifest["database_file"] == db.dump_name
    assert {f["name"] for f in manifest["files"]} == {
        db.dump_name, "jupyterhub_config.py", "pip-freeze.txt"}
    for entry in manifest["files"]:
        local = tmp_path / "download" / entry["name"]
        local.parent.mkdir(exist_ok=True)
        s3.download_file(lab.storage.bucket, f"{folder}/{entry['name']}", str(local))
        assert sha256_file(local) == entry["sha256"], entry["name"]
    saved = {t: TableDigest.model_validate(d) for t, d in manifest["digest"].items()}
    assert manifest["alembic_revision"] == lab.from_revision
    assert (manifest["from_version"], manifest["to_version"]) == (PREVIOUS_VERSION, NEW_VERSION)
    assert differences(before, saved, ignore_columns=VOLATILE_COLUMNS) == []
    fresh = create_server_database(lab.engine)
    try:
        target = database_for(fresh.url())
        target.restore(tmp_path / "download" / db.dump_name)
        assert target.revision() == lab.from_revision
        assert target.digest() == saved
    finally:
        drop_server_database(fresh)

    # No secret in any output, log line, artifact or manifest.
    flow_name, _, prefect_texts = prefect_records(result["flow_run_id"])
    assert flow_name == "upgrade-hub"
    assert any("# Upgrade of" in t for t in prefect_texts), "no markdown artifact"
    _assert_no_secret(
        {"stdout": done.stdout, "stderr": done.stderr, "manifest": json.dumps(manifest),
         "prefect logs and artifacts": "\n".join(prefect_texts),
         "hub log": lab.runtime.hub.runtime.log_path.read_text(),
         "pip freeze": (tmp_path / "download" / "pip-freeze.txt").read_text()},
        lab.secrets(),
    )
