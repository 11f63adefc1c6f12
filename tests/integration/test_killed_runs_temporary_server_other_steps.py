"""`hubshift upgrade` SIGKILLed under a temporary Prefect server after each step that
test_killed_runs_temporary_server.py does not kill (see tests/support/kills.py)."""

from __future__ import annotations

import pytest

from tests.support.kills import STEPS, TEMPORARY_SERVER, kill_and_recover
from tests.support.lab import Lab

pytestmark = pytest.mark.integration


def test_a_run_killed_after_another_step_on_a_temporary_server_is_recovered(kill_lab: Lab) -> None:
    kill_and_recover(kill_lab, STEPS[1::2], TEMPORARY_SERVER)
