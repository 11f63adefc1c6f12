"""Session-wide test setup: isolated homes for Prefect and hubshift, and one Prefect harness.

Set before Prefect is imported: PREFECT_HOME decides where its database goes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

_SESSION_HOME = tempfile.mkdtemp(prefix="hubshift-tests-")
os.environ["PREFECT_HOME"] = os.path.join(_SESSION_HOME, "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_LOGGING_TO_API_BATCH_INTERVAL"] = "0.3"
os.environ.pop("PREFECT_API_URL", None)
os.environ["HUBSHIFT_HOME"] = os.path.join(_SESSION_HOME, "hubshift")

from tests.support.envs import venv_cache  # noqa: E402  (after the homes are set)

# Every worker and every run of the suite share one wheelhouse (hubshift locks it while it
# fills it): a release's ~60 wheels cost ~20 s of CPU to download, once per machine.
os.environ["HUBSHIFT_WHEELHOUSE"] = str(venv_cache() / "wheelhouse")

pytest_plugins = ["tests.support.s3", "tests.support.hubs", "tests.support.managed",
                  "tests.support.systemd", "tests.support.supervisor", "tests.support.kills"]


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """One Prefect server for the whole session (~12 s to start); yields its API URL."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120), temporary_settings(
        {PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
    ):
        yield str(PREFECT_API_URL.value())


#: The test files that take longest, started first by `make test`'s parallel workers, so
#: that none of them runs alone at the end (measured: `pytest --durations`). Only with
#: `--no-loadscope-reorder`: pytest-xdist otherwise starts the files with most tests first.
SLOW_FIRST = ("test_killed_runs_temporary_server.py",
              "test_killed_runs_temporary_server_other_steps.py",
              "test_killed_runs_prefect_server.py",
              "test_killed_runs_prefect_server_other_steps.py",
              "test_move_db.py", "test_fleet_gates.py", "test_window_backup.py",
              "test_rehearsal_databases.py", "test_rehearsal.py",
              "test_upgrade_server_databases.py", "test_keep_servers.py", "test_rollback.py",
              "test_upgrade_inplace.py", "test_upgrade_inplace_systemd.py",
              "test_via_auto_2_3_1.py", "test_upgrade_tljh.py", "test_fleet_upgrade.py",
              "test_plan_and_hops.py", "test_demo.py", "test_offline_wheelhouse.py",
              "test_upgrade_command.py", "test_upgrade_systemd.py",
              "test_installer_contract.py", "test_terminal.py", "test_manual_rollback.py",
              "test_cli_hub_and_plan.py",
              "test_named_servers_plan.py", "test_upgrade_hub.py", "test_finished_record.py",
              "test_worker_e2e.py", "test_fleet_deployments.py", "test_windows_and_blocks.py",
              "test_prefect_ui_browser.py",
              "test_cli_refusals.py", "test_bad_input_corpus.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow files first (in SLOW_FIRST's order), the rest as collected; a file's tests keep
    their order (module-scoped hubs go through them one after the other)."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))
