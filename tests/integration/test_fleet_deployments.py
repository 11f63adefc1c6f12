"""A fleet upgraded through its deployments on a real Prefect worker, as the
`fleet-upgrade/fleet` deployment does by default: each hub's result comes back as the JSON
its run kept in the backup store, so an up-to-date hub is a success and a refused one is
"refused" (exit 2), never "needs operator"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from hubshift.backends.storage import BackupStore
from hubshift.backup import results
from hubshift.result import Status
from tests.support import prefect_worker
from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import NEW_VERSION, OLD_VERSION

pytestmark = pytest.mark.integration

POOL = "hubshift-fleet"
#: Below the production hub's installed release: its preflight refuses, before any downtime.
TOO_OLD = "4.1.0"


@pytest.fixture(scope="module")
def server_and_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with prefect_worker.server_and_worker(tmp_path_factory.mktemp("prefect-fleet"),
                                          POOL) as both:
        yield both


def _fleet_table(api: str) -> list[dict]:
    """The rows of the newest `fleet-upgrade` table artifact, as the UI shows them."""
    response = httpx.post(f"{api}/artifacts/filter", timeout=10, json={
        "artifacts": {"key": {"any_": ["fleet-upgrade"]}}, "sort": "CREATED_DESC", "limit": 1})
    [artifact] = response.json()
    data = artifact["data"]
    return data if isinstance(data, list) else httpx.Response(200, text=data).json()


def test_up_to_date_staging_lets_production_go_and_a_refusal_is_exit_2(
        server_and_worker, running_hub, storage_config, tmp_path: Path) -> None:
    api, worker_log = server_and_worker
    staging = running_hub(NEW_VERSION, name="physics", seed_hub=False)
    production = running_hub(OLD_VERSION, name="chem", seed_hub=False)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config, [
        {**staging.sandbox.fleet_entry(NEW_VERSION), "environment": "staging"},
        {**production.sandbox.fleet_entry(TOO_OLD), "environment": "production"},
    ])
    deployed = run_cli(["deploy", "-f", fleet, "--pool", POOL], prefect_api=api)
    assert deployed.returncode == 0, deployed.stderr[-3000:]

    done = run_cli(["fleet-upgrade", "-f", fleet, "--use-deployments"], prefect_api=api)
    # README: a fleet exits with its most serious hub's code; a refusal is 2.
    assert done.returncode == 2, (done.stdout[-2000:], done.stderr[-3000:],
                                  worker_log.read_text()[-3000:])
    table = {line.split()[0]: line for line in done.stdout.splitlines()[1:]}
    assert "up to date" in table["physics"] and "canary" in table["physics"]
    assert "refused" in table["chem"]  # started: the up-to-date canary did not stop it
    assert "needs operator" not in done.stdout and "skipped" not in done.stdout
    assert "REFUSED chem at preflight" in done.stderr and "older than the installed" in (
        done.stderr)

    rows = {row["hub"]: row for row in _fleet_table(api)}
    assert {hub: row["outcome"] for hub, row in rows.items()} == {
        "physics": "up to date", "chem": "refused"}
    # Each hub's run kept its result in the backup store, found by its flow run id.
    store = BackupStore(storage_config)
    for hub, status in (("physics", Status.UP_TO_DATE), ("chem", Status.REFUSED)):
        run_id = rows[hub]["flow_run"].rsplit("/", 1)[-1]
        kept = results.read(store, hub, run_id)
        assert kept is not None and kept.status is status and kept.flow_run_id == run_id
        state = httpx.get(f"{api}/flow_runs/{run_id}", timeout=10).json()["state"]["type"]
        assert state == ("COMPLETED" if hub == "physics" else "FAILED")
    assert kept.failed_step == "preflight" and kept.to_version == TOO_OLD
    # Neither hub was touched.
    assert staging.api.version() == NEW_VERSION and production.api.version() == OLD_VERSION


def test_a_run_that_kept_no_result_is_refused_only_when_its_state_proves_it() -> None:
    from prefect.states import Completed, Crashed, Failed, format_exception

    from hubshift.errors import ConfigError, PreflightError, StorageError
    from tasks.fleet import _from_state

    def failed_by(err: Exception) -> Failed:  # the message a flow run's failure carries
        return Failed(message=f"Flow run encountered an exception: {format_exception(err)}")

    def status(state) -> Status:
        return _from_state("chem", "6.1.1", "run-1", state).status

    assert status(failed_by(PreflightError("refusing to upgrade", hub="chem"))) is (
        Status.REFUSED)
    assert status(failed_by(ConfigError("chem: unknown key"))) is Status.REFUSED
    # Anything else may have left the hub half-way: an operator looks.
    assert status(failed_by(StorageError("the store went away"))) is Status.NEEDS_OPERATOR
    assert status(Crashed(message="PreflightError: the worker's process died")) is (
        Status.NEEDS_OPERATOR)
    assert status(Completed()) is Status.NEEDS_OPERATOR
    assert status(None) is Status.NEEDS_OPERATOR
    crashed = _from_state("chem", "6.1.1", "run-1", Crashed(message="killed"))
    assert (crashed.flow_run_id, crashed.to_version, crashed.error) == ("run-1", "6.1.1",
                                                                        "killed")


def test_a_result_that_cannot_be_kept_is_a_warning_never_a_change_of_outcome(
        prefect_api, running_hub, storage_config, tmp_path: Path) -> None:
    import json

    hub = running_hub(NEW_VERSION, name="bio", seed_hub=False)
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    done = run_cli(["upgrade", "-f", fleet, "--hub", "bio", "--json"], prefect_api=prefect_api,
                   fault="publish-result:raise")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["status"] == "up-to-date"
    [warning] = result["warnings"]
    assert "its result could not be kept in the backup store" in warning
    assert BackupStore(storage_config).list("bio/results/") == []
