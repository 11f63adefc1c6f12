"""`hubshift upgrade` SIGKILLed after every other step, with no PREFECT_API_URL (its own
temporary Prefect server dies with it): after each, the documented recovery leaves the hub
healthy, and a following upgrade succeeds. The other steps are in
test_killed_runs_temporary_server_other_steps.py (see tests/support/kills.py)."""

from __future__ import annotations

import pytest

from tests.support.kills import STEPS, TEMPORARY_SERVER, kill_and_recover
from tests.support.lab import Lab

pytestmark = pytest.mark.integration


def test_a_run_killed_after_a_step_on_a_temporary_server_is_recovered(kill_lab: Lab) -> None:
    kill_and_recover(kill_lab, STEPS[0::2], TEMPORARY_SERVER)
