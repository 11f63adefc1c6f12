"""Bad input exits 2 with a message naming what is wrong, and the running hub is untouched."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from hubshift.backends.databases import database_for
from hubshift.integrity.digest import VOLATILE_COLUMNS
from hubshift.system.execute import child_env, run
from hubshift_lab.sandbox import free_port
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import HEADS, NEW_VERSION, OLD_VERSION, jupyterhub_venv

pytestmark = pytest.mark.integration


@pytest.fixture
def hub_and_fleet(running_hub, storage_config, tmp_path: Path):
    hub = running_hub(OLD_VERSION, name="physics", seed_hub=False)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    return hub, fleet


def _fingerprint(hub) -> tuple:
    """What must not change: the process, the answer, the data, the install.

    The database file itself may change: the running hub records `last_activity` when
    preflight calls its API, which is the hub's doing, not hubshift's.
    """
    digest = database_for(hub.sandbox.db_url).digest()
    kept = {table: {c: h for c, h in d.columns.items() if c not in VOLATILE_COLUMNS}
            for table, d in digest.items()}
    return (hub.runtime.status().pid, hub.api.version(), kept,
            hub.sandbox.venv_link.resolve(), sorted(p.name for p in hub.sandbox.workdir.iterdir()))


def _refused(done, *needles: str) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr[-2000:])


def test_malformed_fleet_file_exits_2_naming_the_file(hub_and_fleet, tmp_path: Path) -> None:
    hub, _ = hub_and_fleet
    before = _fingerprint(hub)
    broken = tmp_path / "broken.yaml"
    broken.write_text("hubs: [\n  - name: physics\n    api_url: {unclosed\n")
    _refused(run_cli(["upgrade", "-f", broken, "--hub", "physics"]), "broken.yaml",
             "not valid YAML")
    assert _fingerprint(hub) == before


def test_fleet_file_with_a_bad_key_names_the_hub_and_the_key(hub_and_fleet,
                                                              tmp_path: Path) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    document = yaml.safe_load(fleet.read_text())
    del document["hubs"][0]["api_url"]
    document["hubs"][0]["runtime"]["stop_timout"] = 5
    bad = tmp_path / "bad-keys.yaml"
    bad.write_text(yaml.safe_dump(document))
    done = run_cli(["upgrade", "-f", bad, "--hub", "physics"])
    _refused(done, "bad-keys.yaml", "hub 'physics'", "key hubs[0].api_url",
             "key hubs[0].runtime.stop_timout: unknown key")
    assert _fingerprint(hub) == before


def test_unknown_hub_exits_2_listing_the_known_ones(hub_and_fleet) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    _refused(run_cli(["upgrade", "-f", fleet, "--hub", "chemistry"]),
             "no hub named 'chemistry'", "physics")
    assert _fingerprint(hub) == before


def test_target_version_that_does_not_exist_exits_2_in_preflight(hub_and_fleet,
                                                                  prefect_api) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    done = run_cli(["upgrade", "-f", fleet, "--hub", "physics", "--to", "99.0.1", "--json"],
                   prefect_api=prefect_api)
    _refused(done, "JupyterHub 99.0.1 does not exist on the package index")
    assert '"status": "refused"' in done.stdout
    assert _fingerprint(hub) == before
    assert not (hub.sandbox.workdir / "venv-99.0.1").exists()


def test_version_that_is_not_a_version_exits_2_before_anything(hub_and_fleet) -> None:
    hub, fleet = hub_and_fleet
    _refused(run_cli(["upgrade", "-f", fleet, "--hub", "physics", "--to", "newest"]),
             "--to", "'newest' is not a JupyterHub version number")


def _one_error_line(done) -> str:
    """The refusal, which must be one line of stderr saying `REFUSED at <step>: ...`, the
    first of the three last lines (where the hub stands and what to run come after)."""
    errors = [line for line in done.stderr.splitlines() if line.startswith("REFUSED at ")]
    assert len(errors) == 1, done.stderr[-3000:]
    assert done.stderr.rstrip().splitlines()[-3] == errors[0], done.stderr[-3000:]
    return errors[0]


def test_a_major_version_without_releases_exits_2_in_one_line(hub_and_fleet,
                                                              prefect_api) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    done = run_cli(["upgrade", "-f", fleet, "--hub", "physics", "--to", "99"],
                   prefect_api=prefect_api)
    _refused(done)
    assert "--to 99: the package index has no final release of JupyterHub 99.x" in (
        _one_error_line(done))
    assert _fingerprint(hub) == before


def test_latest_with_the_package_index_unreachable_exits_2_in_one_line(hub_and_fleet,
                                                                       prefect_api) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    closed = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": f"http://127.0.0.1:{free_port()}/",
              "PIP_EXTRA_INDEX_URL": None, "PIP_FIND_LINKS": None}
    done = run_cli(["upgrade", "-f", fleet, "--hub", "physics", "--to", "latest"],
                   prefect_api=prefect_api, env_changes=closed)
    _refused(done)
    line = _one_error_line(done)
    assert "cannot ask the package index which release jupyterhub means" in line, line
    assert "hub physics: refused" in done.stdout
    assert _fingerprint(hub) == before


def test_a_config_class_the_target_cannot_import_is_refused_before_the_window(
        hub_and_fleet, prefect_api) -> None:
    """The admin pointed the config at an authenticator the new install does not have (the
    running hub read its config before): the target release itself cannot import it."""
    hub, fleet = hub_and_fleet
    with hub.sandbox.config_file.open("a") as config:
        config.write('\nc.JupyterHub.authenticator_class = "hubshift_gone.GoneAuthenticator"\n')
    before = _fingerprint(hub)
    done = _upgrade(fleet, prefect_api)
    _refused(done, "cannot import the configured authenticator_class",
             "'hubshift_gone.GoneAuthenticator'", "No module named 'hubshift_gone'")
    result = json.loads(done.stdout)
    assert (result["status"], result["failed_step"]) == ("refused", "check-target")
    assert [s["name"] for s in result["steps"]] == ["preflight", "prepare", "check-target"]
    assert result["backup_id"] is None and result["downtime_seconds"] is None
    # Untouched but for the new venv built beside it; the hub never stopped.
    assert _fingerprint(hub)[:4] == before[:4]


def _fleet_with(path: Path, fleet: Path, **changes) -> Path:
    """A copy of `fleet` with top-level keys or the first hub's keys changed."""
    document = yaml.safe_load(fleet.read_text())
    for key, value in changes.items():
        if key in ("storage", "disk_reserve_mb"):
            document[key] = value
        else:
            document["hubs"][0][key] = value
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _upgrade(fleet: Path, prefect_api: str, *args: str):
    return run_cli(["upgrade", "-f", fleet, "--hub", "physics", "--json", *args],
                   prefect_api=prefect_api)


def test_storage_it_cannot_write_is_refused_before_the_window(hub_and_fleet, storage_config,
                                                               prefect_api, tmp_path) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    storage = storage_config.model_dump(mode="json", exclude_none=True)
    storage["url"] = "s3://no-such-bucket-for-hubshift/backups"
    done = _upgrade(_fleet_with(tmp_path / "nobucket.yaml", fleet, storage=storage), prefect_api)
    _refused(done, "backup storage", "no-such-bucket-for-hubshift")
    assert _fingerprint(hub) == before


def test_a_disk_without_room_is_refused_naming_the_folder(hub_and_fleet, prefect_api,
                                                          tmp_path) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    tight = _fleet_with(tmp_path / "tight.yaml", fleet, disk_reserve_mb=1024 ** 3)
    done = _upgrade(tight, prefect_api)
    _refused(done, "disk space:", str(hub.sandbox.workdir), "disk_reserve_mb")
    assert _fingerprint(hub) == before
    assert not (hub.sandbox.workdir / f"venv-{NEW_VERSION}").exists()


def test_an_older_target_is_refused_as_a_downgrade(hub_and_fleet, prefect_api) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    done = _upgrade(fleet, prefect_api, "--to", "3.1.1")
    _refused(done, "3.1.1 is older than the installed 4.1.6", "hubshift rollback")
    assert _fingerprint(hub) == before


def test_a_database_newer_than_the_target_is_refused(hub_and_fleet, prefect_api,
                                                     tmp_path) -> None:
    hub, fleet = hub_and_fleet
    # Someone ran 6.1.1's upgrade-db on the database of the hub, which still runs 4.1.6.
    config = tmp_path / "migrate_config.py"
    config.write_text(f"c.JupyterHub.db_url = {hub.sandbox.db_url!r}\n")
    venv = jupyterhub_venv(NEW_VERSION)
    migrated = run([venv / "bin" / "jupyterhub", "upgrade-db", "-f", config],
                   env=child_env(path_first=[venv / "bin"]), cwd=tmp_path, timeout=600)
    assert migrated.returncode == 0, migrated.tail
    before = _fingerprint(hub)
    done = _upgrade(fleet, prefect_api, "--to", OLD_VERSION)
    _refused(done, HEADS[NEW_VERSION], "written by a newer JupyterHub (a downgrade is refused)")
    assert _fingerprint(hub) == before


@pytest.mark.parametrize("via", ["latest", "3.1.1;4.1.6"])
def test_a_via_that_names_no_versions_exits_2_before_anything(hub_and_fleet, via) -> None:
    hub, fleet = hub_and_fleet
    done = run_cli(["upgrade", "-f", fleet, "--hub", "physics", "--via", via])
    _refused(done, "--via", "is not a release version")


def test_every_reason_is_listed_at_once(hub_and_fleet, storage_config, prefect_api,
                                        tmp_path) -> None:
    hub, fleet = hub_and_fleet
    before = _fingerprint(hub)
    storage = storage_config.model_dump(mode="json", exclude_none=True)
    storage["url"] = "s3://no-such-bucket-for-hubshift/backups"
    broken = _fleet_with(tmp_path / "broken.yaml", fleet, storage=storage,
                         disk_reserve_mb=1024 ** 3, api_token="not-the-token-" + "0" * 20,
                         config_file=str(tmp_path / "gone_config.py"))
    done = _upgrade(broken, prefect_api, "--to", "99.0.1")
    _refused(done, "refusing to upgrade", "gone_config.py does not exist", "API token",
             "backup storage", "disk space:",
             "JupyterHub 99.0.1 does not exist on the package index")
    assert "not-the-token-" not in done.stdout + done.stderr
    assert _fingerprint(hub) == before
