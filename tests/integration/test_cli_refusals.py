"""Bad input exits 2 with a message naming what is wrong, and the running hub is untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hubshift.databases import database_for
from hubshift.digest import VOLATILE_COLUMNS
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import NEW_VERSION, OLD_VERSION

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
    _refused(run_cli(["upgrade", "-f", fleet, "--hub", "physics", "--to", "latest"]),
             "--to", "'latest' is not a JupyterHub version number")
