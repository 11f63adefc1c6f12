"""`hubshift upgrade` SIGKILLed under a temporary Prefect server after each step that
test_killed_runs_temporary_server.py does not kill (see tests/support/kills.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hubshift_lab.s3server import S3Server
from tests.support.kills import STEPS, TEMPORARY_SERVER, kill_and_recover, kill_lab
from tests.support.lab import Lab

pytestmark = pytest.mark.integration


@pytest.fixture
def lab(tmp_path_factory: pytest.TempPathFactory, s3_server: S3Server,
        prefect_api: str) -> Iterator[Lab]:
    with kill_lab(tmp_path_factory.mktemp("killed-temporary-other"), s3_server.endpoint_url,
                  prefect_api) as lab:
        yield lab


def test_a_run_killed_after_another_step_on_a_temporary_server_is_recovered(
        lab: Lab) -> None:
    kill_and_recover(lab, STEPS[1::2], TEMPORARY_SERVER)
