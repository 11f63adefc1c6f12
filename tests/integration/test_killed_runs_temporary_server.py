"""`hubshift upgrade` SIGKILLed after every other step, with no PREFECT_API_URL (its own
temporary Prefect server dies with it): after each, the documented recovery leaves the hub
healthy, and a following upgrade succeeds. The other steps are killed under a real server
(test_killed_runs_prefect_server.py; see tests/support/kills.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubshift_lab.s3server import S3Server
from tests.support.hubs import OLD_VERSION, jupyterhub_venv
from tests.support.kills import STEPS, kill_and_recover
from tests.support.lab import Lab, open_lab

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
        prefect_api: str) -> Iterator[Lab]:
    with open_lab(tmp_path_factory.mktemp("killed-temporary"), "physics",
                  jupyterhub_venv(OLD_VERSION), endpoint_url=s3_server.endpoint_url,
                  prefect_api=prefect_api) as lab:
        yield lab


def test_a_run_killed_after_a_step_on_a_temporary_server_is_recovered(lab: Lab) -> None:
    kill_and_recover(lab, STEPS[0::2], {"PREFECT_API_URL": None})
