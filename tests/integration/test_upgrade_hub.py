"""A real JupyterHub 5.5.4 hub on SQLite, upgraded to the newest release (6.1.1) by
`hubshift upgrade --to latest`.

Real everything: the hub and its proxy run as processes, backups go to an S3 server over
HTTP, the flow reports to a Prefect server, notices go to an HTTP endpoint.
"""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import boto3
import pytest
import yaml

from hubshift.backends.databases import database_for
from hubshift.backends.databases.sqlite import file_digest
from hubshift.backends.hubapi import HubAPI
from hubshift.config import StorageConfig
from hubshift.integrity.checksum import sha256_file
from hubshift.integrity.digest import VOLATILE_COLUMNS, differences
from hubshift.system import procs
from hubshift_lab.inbox import Inbox
from hubshift_lab.sandbox import free_port
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import (
    HEADS,
    NEW_VERSION,
    OLD_VERSION,
    PREVIOUS_VERSION,
    SIX_REVISIONS,
    assert_everyone_kept,
    commands_running_from,
)
from tests.support.lab import prefect_records

pytestmark = pytest.mark.integration

DOWNTIME_STEPS = ["stop", "backup", "switch", "migrate", "start", "wait-healthy"]


def test_upgrade_to_latest_of_a_real_hub_keeps_users_groups_and_tokens(
    running_hub, storage_config, prefect_api, tmp_path: Path
) -> None:
    hub = running_hub(PREVIOUS_VERSION, name="physics")
    token = hub.sandbox.token
    users_before = sorted(u["name"] for u in hub.api.users())
    groups_before = {g["name"]: sorted(g["users"]) for g in hub.api.groups()}
    db = database_for(hub.sandbox.db_url)
    digest_before = db.digest()
    assert db.revision() == HEADS[PREVIOUS_VERSION]
    hub.runtime.status()

    # A second channel that nobody listens on: it must fail, be retried, and not matter.
    dead_channel = f"json://127.0.0.1:{free_port()}/nobody"
    with Inbox() as inbox:
        fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                            [hub.sandbox.fleet_entry(PREVIOUS_VERSION)],
                            [inbox.url, dead_channel])
        # `latest`: resolved once, in preflight, to the exact release everything names.
        done = run_cli(["upgrade", "-f", fleet, "--hub", "physics", "--to", "latest", "--json"],
                       prefect_api=prefect_api)
        notices = inbox.titles()
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)

    # The result: upgraded, with the downtime measured and the steps in DESIGN's order.
    assert result["status"] == "upgraded"
    assert (result["from_version"], result["to_version"]) == (PREVIOUS_VERSION, NEW_VERSION)
    steps = [s["name"] for s in result["steps"]]
    assert steps[:7] == ["preflight", "prepare", "check-target", "preload", "servers",
                         "snapshot", "stop"], steps
    assert [s for s in steps if s in DOWNTIME_STEPS] == DOWNTIME_STEPS
    downtime_steps = sum(s["seconds"] for s in result["steps"] if s["name"] in DOWNTIME_STEPS)
    assert 0 < result["downtime_seconds"] <= downtime_steps + 1.0
    prepare = next(s for s in result["steps"] if s["name"] == "prepare")
    assert prepare["seconds"] > 1.0  # the new venv really was built, before the stop
    assert result["migrations"] == SIX_REVISIONS
    assert result["migrations_run"] == result["migrations"]  # alembic's log, as planned
    assert result["hops"] == [NEW_VERSION]
    assert (hub.sandbox.workdir / f"venv-{NEW_VERSION}" / "bin" / "jupyterhub").exists()
    assert hub.sandbox.venv_link.resolve() == (hub.sandbox.workdir / f"venv-{NEW_VERSION}")

    # The hub answers the new version, with the same users, groups and tokens.
    with HubAPI(hub.sandbox.api_url, token) as api:
        assert_everyone_kept(api, NEW_VERSION, (users_before, groups_before),
                             hub.seeded.tokens)
    assert db.revision() == HEADS[NEW_VERSION]
    assert differences(digest_before, db.digest(), ignore_columns=VOLATILE_COLUMNS) == []
    # The new hub is the process loaded before the stop (JupyterHub imported, then told go).
    hub_cmdline = procs.cmdline(hub.runtime.status().pid) or ""
    assert "import jupyterhub.app" in hub_cmdline, hub_cmdline
    assert str(hub.sandbox.workdir / f"venv-{NEW_VERSION}" / "bin" / "python") in hub_cmdline

    # The backup: in the S3 server, checksums as in its manifest, the pre-upgrade database.
    s3 = boto3.client("s3", endpoint_url=storage_config.endpoint_url)
    folder = f"{storage_config.prefix}/physics/{result['backup_id']}"
    manifest = json.loads(
        s3.get_object(Bucket=storage_config.bucket, Key=f"{folder}/manifest.json")["Body"].read()
    )
    assert {f["name"] for f in manifest["files"]} == {
        "jupyterhub.sqlite", "jupyterhub_config.py", "pip-freeze.txt"}
    for entry in manifest["files"]:
        local = tmp_path / "download" / entry["name"]
        local.parent.mkdir(exist_ok=True)
        s3.download_file(storage_config.bucket, f"{folder}/{entry['name']}", str(local))
        assert sha256_file(local) == entry["sha256"], entry["name"]
    saved = tmp_path / "download" / "jupyterhub.sqlite"
    revision, digest = file_digest(saved)
    assert revision == HEADS[PREVIOUS_VERSION] == manifest["alembic_revision"]
    assert (manifest["from_version"], manifest["to_version"]) == (PREVIOUS_VERSION, NEW_VERSION)
    assert {t: d.model_dump() for t, d in digest.items()} == manifest["digest"]
    assert differences(digest_before, digest, ignore_columns=VOLATILE_COLUMNS) == []
    with sqlite3.connect(saved) as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == len(users_before)
    assert f"jupyterhub=={PREVIOUS_VERSION}" in (
        tmp_path / "download" / "pip-freeze.txt").read_text()

    # Users were told, of the exact release, and `hubshift backups` lists the backup.
    assert f"[physics] upgrade to JupyterHub {NEW_VERSION} starting" in notices
    assert f"[physics] upgraded to JupyterHub {NEW_VERSION}" in notices
    listed = run_cli(["backups", "-f", fleet, "--json"])
    assert listed.returncode == 0, listed.stderr
    assert [b["backup_id"] for b in json.loads(listed.stdout)["backups"]] == [result["backup_id"]]

    # The token appears in no output, log line, artifact or manifest.
    flow_name, state, prefect_texts = prefect_records(result["flow_run_id"])
    assert (flow_name, state) == ("upgrade-hub", "Completed")
    assert any("# Upgrade of" in t and NEW_VERSION in t for t in prefect_texts), "no report"
    assert any(f"JupyterHub {PREVIOUS_VERSION} -> {NEW_VERSION} (latest)" in t
               for t in prefect_texts), "no plan naming the exact release"
    assert not any("latest" in t for t in prefect_texts if "# Upgrade of" in t)
    assert any("notification channel json://127.0.0.1" in t and "failed" in t
               for t in prefect_texts), "the dead channel's failure was not logged"
    outputs = {
        "stdout": done.stdout, "stderr": done.stderr, "manifest": json.dumps(manifest),
        "prefect logs and artifacts": "\n".join(prefect_texts),
        "hub log": hub.config.runtime.log_path.read_text(),
        "backups listing": listed.stdout + listed.stderr,
    }
    for where, text in outputs.items():
        assert token not in text, f"the API token leaked into {where}"
        for user_token in hub.seeded.tokens.values():
            assert user_token not in text, f"a user token leaked into {where}"


def test_a_release_that_cannot_import_jupyterhub_is_found_before_the_stop(
    running_hub, storage_config, prefect_api, tmp_path: Path
) -> None:
    """The hub's runtime environment shadows `jupyterhub` with a package that cannot be
    imported (the running hub was started without it). A cold start would find out only
    after the stop, migrated; asked about the hub in preflight, where and as the hub runs,
    the running release cannot even import itself there: refused, untouched."""
    hub = running_hub(OLD_VERSION, name="chemistry", seed_hub=False)
    pid, digest_before = hub.runtime.status().pid, database_for(hub.sandbox.db_url).digest()
    broken = tmp_path / "shadow" / "jupyterhub"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('shadowed on purpose')\n")
    entry = hub.sandbox.fleet_entry(NEW_VERSION)
    entry["runtime"]["env"] = {"PYTHONPATH": str(broken.parent)}
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config, [entry])

    done = run_cli(["upgrade", "-f", fleet, "--hub", "chemistry", "--json"],
                   prefect_api=prefect_api)
    assert done.returncode == 2, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("refused", "preflight")
    assert (f"JupyterHub {OLD_VERSION}, which the hub runs, cannot import JupyterHub where "
            "and as the hub runs (its next start would fail too)") in result["error"]
    assert "shadowed on purpose" in result["error"]
    assert hub.runtime.status().pid == pid
    assert hub.api.version() == OLD_VERSION
    assert hub.sandbox.venv_link.resolve().name != f"venv-{NEW_VERSION}"
    assert differences(digest_before, database_for(hub.sandbox.db_url).digest(),
                       ignore_columns=VOLATILE_COLUMNS) == []
    assert commands_running_from(hub.sandbox.workdir / f"venv-{NEW_VERSION}") == []


def test_an_upgrade_with_its_backups_in_a_folder(
    running_hub, prefect_api, tmp_path: Path
) -> None:
    """A hub with no S3 (TLJH on one VM): `storage.url: file:///...`. The backup lands in the
    folder, private, is read back and listed; prune keeps it (the newest)."""
    hub = running_hub(PREVIOUS_VERSION, name="geology", seed_hub=False,
                      ready=NEW_VERSION)
    folder = tmp_path / "backups"
    folder.mkdir(mode=0o700)
    storage = StorageConfig(url=f"file://{folder}")
    fleet = write_fleet(tmp_path / "fleet.yaml", storage,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])

    done = run_cli(["upgrade", "-f", fleet, "--hub", "geology", "--json"],
                   prefect_api=prefect_api)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "upgraded" and hub.api.version() == NEW_VERSION

    backup = folder / "geology" / result["backup_id"]
    manifest = json.loads((backup / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert sha256_file(backup / entry["name"]) == entry["sha256"], entry["name"]
        assert stat.S_IMODE((backup / entry["name"]).stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    assert not list(folder.rglob(".hubshift-part-*"))  # no temporary file left
    listed = run_cli(["backups", "-f", fleet, "--json"])
    assert [b["backup_id"] for b in json.loads(listed.stdout)["backups"]] == [
        result["backup_id"]]

    document = yaml.safe_load(fleet.read_text())
    fleet.write_text(yaml.safe_dump({**document, "retention": {"keep_last": 1}}))
    pruned = run_cli(["prune", "-f", fleet, "--yes", "--json"])
    assert pruned.returncode == 0, pruned.stderr
    [geology] = json.loads(pruned.stdout)["hubs"]
    assert geology["deleted"] == [] and geology["removed"] == []
    assert (backup / "manifest.json").exists() and hub.api.version() == NEW_VERSION
