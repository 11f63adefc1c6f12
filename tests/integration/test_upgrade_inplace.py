"""A hub whose JupyterHub is upgraded inside its own env (`install: {kind: inplace}`, as TLJH
runs), on PostgreSQL, under the `process` runtime, by `hubshift upgrade` run as a process.

One hub goes through every test of this module, in order: a package pinned to an older
JupyterHub is refused first (the hub untouched), then faults after the switch (the env's
`pip freeze` back byte for byte, the config folder back as it was), then the upgrade that
succeeds. The hub also has a `config_files` folder; during `upgrade-db` its config (loaded
by the new release) changes that folder, as anything could once the backup is taken.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from hubshift.backends.databases import database_for
from hubshift.backends.hubapi import HubAPI
from hubshift.backends.installers.pip import installed_distributions, requirements_for
from hubshift.integrity.digest import VOLATILE_COLUMNS, differences
from hubshift.system import procs
from hubshift_lab.s3server import S3Server
from tests.support.databases import require_service, server_database
from tests.support.envs import build_env
from tests.support.fleet import write_fleet
from tests.support.hubs import (
    HEADS,
    OLD_VERSION,
    PREVIOUS_VERSION,
    assert_everyone_kept,
    commands_running_from,
)
from tests.support.lab import (
    Lab,
    assert_back_as_before,
    baseline,
    open_lab,
)
from tests.support.wheels import make_wheel

pytestmark = pytest.mark.integration

#: A one-major hop: what this module tests is the runtime or the installer, not a release.
TARGET = PREVIOUS_VERSION

NEW_REVISION = HEADS[TARGET]
#: Set for the CLI: the hub's config then changes the config folder when `upgrade-db` loads it.
TOUCH = "HUBSHIFT_TEST_TOUCH_CONFIG_FOLDER"
CONFIG_FOLDER_FILES = {"announcement.yaml": "text: Upgrade on Sunday\n",
                       "limits.py": "c.Spawner.mem_limit = '2G'\n"}

_TOUCH_SNIPPET = '''
# hubshift tests: when upgrade-db (of the new release, inside the window) loads this config,
# change the config folder, so a rollback has something to put back.
import os as _os
import sys as _sys
if _os.environ.get({touch!r}) and "upgrade-db" in _sys.argv:
    _folder = Path({folder!r})
    (_folder / "added-after-backup.py").write_text("raise SystemExit('not restored')\\n")
    (_folder / "announcement.yaml").write_text("text: changed after the backup\\n")
'''


@dataclass
class InplaceLab(Lab):
    env: Path
    config_folder: Path

    def freeze(self) -> str:
        """`pip freeze` of the hub's env, stdout only, as an admin would read it."""
        return subprocess.run([self.env / "bin" / "python", "-m", "pip", "freeze"],
                              capture_output=True, text=True, check=True).stdout

    def pip(self, *args: str | Path) -> None:
        subprocess.run([self.env / "bin" / "python", "-m", "pip", "--quiet", *args],
                       capture_output=True, check=True)

    def staging_venvs(self) -> list[Path]:
        home = Path(os.environ["HUBSHIFT_HOME"])
        return sorted(home.glob("installs/inplace-*/staged/*/venv"))


def _config_folder_tree(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def lab(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
        s3_server: S3Server, prefect_api: str) -> Iterator[InplaceLab]:
    """A seeded 4.1.6 hub on PostgreSQL running from an env of its own, upgraded in place;
    run by hubshift as a process, or by the service manager a module names in MANAGER (the
    same tests, another runtime: see test_upgrade_inplace_systemd.py)."""
    require_service("postgres")
    manager_fixture = getattr(request.module, "MANAGER", None)
    manager = request.getfixturevalue(manager_fixture) if manager_fixture else None
    hub = "hub-inplace"
    root = tmp_path_factory.mktemp(hub)
    with server_database("postgres") as database:
        # The hub's own env: this module changes it, so it is built here, not shared.
        env = root / "hub-env"
        build_env(env, requirements_for(OLD_VERSION, database_for(database.url())
                                          .driver_packages))
        folder = root / "site-config"
        folder.mkdir()
        for name, text in CONFIG_FOLDER_FILES.items():
            (folder / name).write_text(text)
        with open_lab(root, hub, env, endpoint_url=s3_server.endpoint_url,
                      prefect_api=prefect_api, db_url=database.url(), manager=manager,
                      to_version=TARGET, ready=False) as lab:
            config = lab.sandbox.config_file
            config.write_text(config.read_text()
                              + _TOUCH_SNIPPET.format(touch=TOUCH, folder=str(folder)))
            entry = lab.entry | {
                "install": {"kind": "inplace", "venv": str(env)},
                "config_files": [str(folder)]}
            write_fleet(lab.fleet, lab.storage, [entry], [lab.inbox.url])
            yield InplaceLab(**vars(lab), env=env, config_folder=folder)


def test_a_package_pinned_to_an_older_jupyterhub_is_refused_by_name_with_the_hub_untouched(
    lab: InplaceLab, tmp_path: Path
) -> None:
    before = baseline(lab)
    freeze_before = lab.freeze()
    lab.pip("install", "--no-index", make_wheel(tmp_path, "site-authenticator", "1.0",
                                                requires=["jupyterhub<5"]))
    try:
        with_conflict = lab.freeze()
        assert "site-authenticator" in with_conflict
        pid = lab.runtime.status().pid

        done = lab.hubshift("upgrade", "--json")
        assert done.returncode == 2, (done.returncode, done.stderr[-3000:])
        result = json.loads(done.stdout)
        assert result["status"] == "refused"
        assert "site-authenticator 1.0 depends on jupyterhub<5" in result["error"]

        # Untouched: the same process, version, env, rows; no backup, no record.
        assert lab.runtime.status().pid == pid
        assert lab.freeze() == with_conflict
        with lab.api() as api:
            assert api.version() == OLD_VERSION
        assert differences(before, lab.db().digest(), ignore_columns=VOLATILE_COLUMNS) == []
        assert lab.backups() == []
        assert not lab.record_exists()
    finally:
        lab.pip("uninstall", "--yes", "site-authenticator")
    assert lab.freeze() == freeze_before


@pytest.mark.parametrize("fault", [
    "migrate:after",  # the env switched to 5.5.4, the database migrated, then a failure
    "start:raise",    # everything done but the start
])
def test_a_failure_after_the_switch_puts_the_env_back_byte_for_byte_and_the_config_folder(
    lab: InplaceLab, fault: str
) -> None:
    before = baseline(lab)
    freeze_before = lab.freeze()
    folder_before = _config_folder_tree(lab.config_folder)

    done = lab.hubshift("upgrade", "--json", fault=fault, env_changes={TOUCH: "1"})
    assert done.returncode == 1, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("rolled-back", fault.split(":")[0])
    assert [s["name"] for s in result["steps"] if s["name"] in ("switch", "switch-back")] == [
        "switch", "switch-back"]

    assert_back_as_before(lab, before, lab.env)
    assert lab.freeze() == freeze_before
    assert installed_distributions(lab.env)["jupyterhub"].version == OLD_VERSION
    # The folder as the backup holds it: the file added meanwhile gone, the changed one back.
    assert _config_folder_tree(lab.config_folder) == folder_before
    for venv in lab.staging_venvs():
        assert commands_running_from(venv) == []


def test_upgrade_in_place_keeps_users_groups_and_tokens_and_backs_up_the_config_folder(
    lab: InplaceLab, tmp_path: Path
) -> None:
    with lab.api() as api:
        users_before = sorted(u["name"] for u in api.users())
        groups_before = {g["name"]: sorted(g["users"]) for g in api.groups()}
    before = baseline(lab)
    folder_before = _config_folder_tree(lab.config_folder)

    done = lab.hubshift("upgrade", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "upgraded"
    assert (result["from_version"], result["to_version"]) == (OLD_VERSION, TARGET)

    # Upgraded inside the env itself: no new venv, the hub runs the env's own jupyterhub.
    assert installed_distributions(lab.env)["jupyterhub"].version == TARGET
    assert lab.sandbox.venv_link.resolve() == lab.env.resolve()
    pid = lab.runtime.status().pid
    assert pid is not None and f"{lab.env}/bin/" in (procs.cmdline(pid) or "")
    db = lab.db()
    assert db.revision() == NEW_REVISION
    assert differences(before, db.digest(), ignore_columns=VOLATILE_COLUMNS) == []
    with HubAPI(lab.sandbox.api_url, lab.sandbox.token) as api:
        assert_everyone_kept(api, TARGET, (users_before, groups_before), lab.seeded.tokens)

    # The backup holds the config folder as a tar with its sha256, and the old package set.
    s3 = boto3.client("s3", endpoint_url=lab.storage.endpoint_url)
    prefix = f"{lab.storage.prefix}/{lab.hub}/{result['backup_id']}"
    manifest = json.loads(
        s3.get_object(Bucket=lab.storage.bucket, Key=f"{prefix}/manifest.json")["Body"].read())
    [saved] = manifest["config_files"]
    assert (saved["path"], saved["kind"]) == (str(lab.config_folder), "folder")
    entry = next(f for f in manifest["files"] if f["name"] == saved["name"])
    archive = tmp_path / saved["name"]
    s3.download_file(lab.storage.bucket, f"{prefix}/{saved['name']}", str(archive))
    assert hashlib.sha256(archive.read_bytes()).hexdigest() == entry["sha256"]
    assert manifest["from_install"].startswith(f"{lab.env} (packages: ")
    assert _config_folder_tree(lab.config_folder) == folder_before
