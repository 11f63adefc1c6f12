"""`hubshift upgrade` SIGKILLed under a real Prefect server after each step that
test_killed_runs_prefect_server.py does not kill (see tests/support/kills.py)."""

from __future__ import annotations

import pytest

from tests.support.kills import REAL_SERVER, STEPS, kill_and_recover
from tests.support.lab import Lab

pytestmark = pytest.mark.integration


def test_a_run_killed_after_another_step_on_a_prefect_server_is_recovered(kill_lab: Lab) -> None:
    kill_and_recover(kill_lab, STEPS[0::2], REAL_SERVER)
