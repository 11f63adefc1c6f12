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

pytest_plugins = ["tests.support.s3", "tests.support.hubs", "tests.support.managed",
                  "tests.support.systemd", "tests.support.supervisor"]


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
