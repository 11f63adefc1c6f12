"""`hubshift upgrade` SIGKILLed at each step, with no PREFECT_API_URL (its own temporary
Prefect server dies with it): after each, the documented recovery leaves the hub healthy,
and a following upgrade succeeds (see tests/support/kills.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubshift_lab.s3server import S3Server
from tests.support.hubs import OLD_VERSION, jupyterhub_venv
from tests.support.kills import kill_at_every_step_and_recover
from tests.support.lab import Lab, open_lab

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
        prefect_api: str) -> Iterator[Lab]:
    with open_lab(tmp_path_factory.mktemp("killed-temporary"), "physics",
                  jupyterhub_venv(OLD_VERSION), endpoint_url=s3_server.endpoint_url,
                  prefect_api=prefect_api) as lab:
        yield lab


def test_a_run_killed_at_any_step_on_a_temporary_server_is_recovered(lab: Lab) -> None:
    kill_at_every_step_and_recover(lab, {"PREFECT_API_URL": None})
