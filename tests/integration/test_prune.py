"""`hubshift prune` against real stores (an S3 server over HTTP, a folder), with backups of
chosen ages: a dry run deletes nothing, `--yes` deletes exactly what the rules say, and the
venvs no kept backup needs go with them."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hubshift import __version__
from hubshift.backends.storage import store_for
from hubshift.backends.store_base import Store
from hubshift.backup.manifest import MANIFEST_NAME, Manifest
from hubshift.backup.safety import safety_label
from hubshift.backup.store import list_backups, upload_files
from hubshift.config import StorageConfig
from hubshift.window import inprogress
from hubshift_cli.app import app
from tests.unit.test_venv_installer import _fake_venv

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.timezone.utc)


@pytest.fixture(params=["s3", "file"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> StorageConfig:
    if request.param == "s3":
        return request.getfixturevalue("storage_config")
    config = StorageConfig(url=f"file://{tmp_path / 'backups'}")
    store_for(config).ensure_bucket()
    return config


def make_backup(store: Store, tmp_path: Path, hub: str, days: float, from_install: Path,
                *, label: str | None = None) -> str:
    """A backup of `hub` taken `days` ago: its files uploaded, its manifest written last."""
    created = NOW - dt.timedelta(days=days)
    backup_id = created.strftime("%Y%m%dT%H%M%SZ")
    dump = tmp_path / "files" / f"{hub}-{backup_id}.sqlite"
    dump.parent.mkdir(exist_ok=True)
    dump.write_bytes(os.urandom(4096))
    entries = upload_files(store, hub, backup_id, {"jupyterhub.sqlite": dump})
    version = from_install.name.split("-", 1)[1]
    manifest = Manifest(hub=hub, backup_id=backup_id, created_at=created,
                        hubshift_version=__version__, engine="sqlite", from_version=version,
                        from_install=str(from_install), to_version="5.5.4",
                        alembic_revision="abc", database_file="jupyterhub.sqlite",
                        files=entries, digest={}, label=label)
    store.put_bytes(f"{hub}/{backup_id}/{MANIFEST_NAME}", manifest.model_dump_json().encode())
    return backup_id


def hub_entry(root: Path, name: str, **extra) -> dict:
    return {"name": name, "config_file": str(root / "jupyterhub_config.py"),
            "db_url": f"sqlite:///{root}/jupyterhub.sqlite",
            "api_url": "http://127.0.0.1:1/hub/api", "api_token": "t0ken",
            "install": {"kind": "venv", "venv": str(root / "venv")},
            "runtime": {"kind": "process", "workdir": str(root)}, **extra}


def venvs(root: Path, versions: list[str], running: str) -> dict[str, Path]:
    made = {v: _fake_venv(root / f"venv-{v}", v) for v in versions}
    (root / "venv").symlink_to(made[running])
    return made


def prune(fleet: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["prune", "-f", str(fleet), *args])
    return result.exit_code, result.output


def test_prune_deletes_exactly_what_retention_says_and_a_dry_run_nothing(
    storage: StorageConfig, tmp_path: Path
) -> None:
    store = store_for(storage)
    physics, chem = tmp_path / "physics", tmp_path / "chem"
    physics.mkdir()
    chem.mkdir()
    pv = venvs(physics, ["3.1.1", "4.0.0", "4.1.6", "5.5.4", "6.1.1"], running="5.5.4")
    cv = venvs(chem, ["4.1.6", "5.5.4"], running="5.5.4")

    # physics, by the fleet's retention (keep_last 2, keep_days 30), newest first:
    b5 = make_backup(store, tmp_path, "physics", 5, pv["5.5.4"])        # the newest
    b10 = make_backup(store, tmp_path, "physics", 10, pv["5.5.4"])      # among the newest 2
    b20 = make_backup(store, tmp_path, "physics", 20, pv["4.1.6"],      # younger than 30 days
                      label=safety_label(b10))
    b40 = make_backup(store, tmp_path, "physics", 40, pv["4.1.6"])      # delete
    b200 = make_backup(store, tmp_path, "physics", 200, pv["3.1.1"],    # delete, safety or not
                       label=safety_label(b40))
    b400 = make_backup(store, tmp_path, "physics", 400, pv["3.1.1"])    # delete
    store.put_bytes("physics/results/run-1.json", b"{}")  # not a backup: never touched
    # chem, by its own retention (keep_last 1), its oldest named by an unfinished upgrade:
    c300 = make_backup(store, tmp_path, "chem", 300, cv["4.1.6"])
    c200 = make_backup(store, tmp_path, "chem", 200, cv["4.1.6"])
    c100 = make_backup(store, tmp_path, "chem", 100, cv["5.5.4"])
    inprogress.write(store, inprogress.InProgress(
        hub="chem", run_id="cli", step="migrate", backup_id=c300, from_version="4.1.6",
        from_install=str(cv["4.1.6"]), to_version="5.5.4", started_at=NOW))

    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({
        "storage": storage.model_dump(mode="json", exclude_none=True),
        "retention": {"keep_last": 2, "keep_days": 30},
        "hubs": [hub_entry(physics, "physics"),
                 hub_entry(chem, "chem", retention={"keep_last": 1})]}))
    objects_before = [o.key for o in store.list()]

    code, output = prune(fleet, "--json")
    assert code == 0, output
    report = {h["hub"]: h for h in json.loads(output)["hubs"]}
    assert json.loads(output)["dry_run"] is True
    decided = {b["backup_id"]: (b["action"], b["why"]) for b in report["physics"]["backups"]}
    assert [b["backup_id"] for b in report["physics"]["backups"]] == [
        b5, b10, b20, b40, b200, b400]
    assert decided[b5] == ("keep", "the newest backup; younger than 30 days")
    assert decided[b10] == ("keep", "among the newest 2; younger than 30 days")
    assert decided[b20] == ("keep", "a rollback's safety copy, younger than 30 days")
    assert {decided[b][0] for b in (b40, b200, b400)} == {"delete"}
    assert [i["location"] for i in report["physics"]["installs"]] == [
        str(pv["3.1.1"]), str(pv["4.0.0"])]
    chem_decided = {b["backup_id"]: b["action"] for b in report["chem"]["backups"]}
    assert chem_decided == {c100: "keep", c200: "delete", c300: "keep"}
    assert report["chem"]["installs"] == [] and "did not finish" in report["chem"]["installs_note"]
    # A dry run: every object and every venv still there.
    assert [o.key for o in store.list()] == objects_before
    assert all(p.is_dir() for p in [*pv.values(), *cv.values()])

    code, output = prune(fleet)  # the table an operator reads
    assert code == 0, output
    assert "dry run: nothing deleted" in output
    assert f"{b40}" in output and "delete (not among the newest 2, older than 30 days)" in output

    code, output = prune(fleet, "--yes", "--json")
    assert code == 0, output
    report = {h["hub"]: h for h in json.loads(output)["hubs"]}
    assert sorted(report["physics"]["deleted"]) == sorted([b40, b200, b400])
    assert [m.backup_id for m in list_backups(store, "physics")] == [b20, b10, b5]
    assert [m.backup_id for m in list_backups(store, "chem")] == [c300, c100]
    for gone in (b40, b200, b400):
        assert store.list(f"physics/{gone}/") == []
    assert store.exists("physics/results/run-1.json")
    assert store.exists(f"chem/{inprogress.RECORD_NAME}")
    assert sorted(p.name for p in physics.glob("venv-*")) == [
        "venv-4.1.6", "venv-5.5.4", "venv-6.1.1"]
    assert sorted(p.name for p in chem.glob("venv-*")) == ["venv-4.1.6", "venv-5.5.4"]
    assert (physics / "venv").resolve() == pv["5.5.4"]

    # Again: nothing more to delete.
    code, output = prune(fleet, "--yes", "--json")
    assert code == 0, output
    again = {h["hub"]: h for h in json.loads(output)["hubs"]}
    assert again["physics"]["deleted"] == [] and again["physics"]["installs"] == []


def test_prune_without_retention_or_of_an_unknown_hub_exits_2_touching_nothing(
    tmp_path: Path,
) -> None:
    storage = StorageConfig(url=f"file://{tmp_path / 'backups'}")
    store = store_for(storage)
    store.ensure_bucket()
    root = tmp_path / "physics"
    root.mkdir()
    pv = venvs(root, ["4.1.6", "5.5.4"], running="5.5.4")
    old = make_backup(store, tmp_path, "physics", 400, pv["4.1.6"])
    make_backup(store, tmp_path, "physics", 300, pv["5.5.4"])
    fleet = tmp_path / "fleet.yaml"
    document = {"storage": storage.model_dump(mode="json", exclude_none=True),
                "hubs": [hub_entry(root, "physics")]}
    fleet.write_text(yaml.safe_dump(document))

    code, output = prune(fleet, "--yes")
    assert code == 2 and "key retention: required by hubshift prune" in output, output
    fleet.write_text(yaml.safe_dump({**document, "retention": {"keep_last": 0}}))
    code, output = prune(fleet, "--yes")
    assert code == 2 and "key retention.keep_last" in output, output
    fleet.write_text(yaml.safe_dump({**document, "retention": {"keep_last": 1}}))
    code, output = prune(fleet, "--yes", "--hub", "nope")
    assert code == 2 and "no hub named 'nope'" in output, output
    assert len(list_backups(store, "physics")) == 2 and pv["4.1.6"].is_dir()

    code, output = prune(fleet, "--yes")
    assert code == 0, output
    assert old not in [m.backup_id for m in list_backups(store, "physics")]
    assert not pv["4.1.6"].exists()
