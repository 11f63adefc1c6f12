"""`hang` blocks a step until its Prefect timeout ends it: the seam works inside real tasks."""

from __future__ import annotations

import time

import pytest
from prefect import flow

from tasks import step

pytestmark = pytest.mark.integration


@step("probe", timeout_seconds=2)
def probe() -> str:
    return "done"


@flow(name="probe-flow")
def probe_flow() -> str:
    return probe()


def test_a_hanging_step_is_ended_by_its_timeout(prefect_api, monkeypatch) -> None:
    monkeypatch.setenv("HUBSHIFT_FAULT", "probe:hang")
    begin = time.monotonic()
    with pytest.raises(TimeoutError):
        probe_flow()
    assert time.monotonic() - begin < 30
    monkeypatch.delenv("HUBSHIFT_FAULT")
    assert probe_flow() == "done"
