"""Maintenance windows (hubshift.window.maintenance) at fixed instants, and the fleet file's
block references read through the core's resolver registry."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from hubshift import blocks
from hubshift.config import Schedule, load_fleet
from hubshift.errors import ConfigError
from hubshift.system.redact import redact
from hubshift.window.maintenance import decide, estimate

PARIS = ZoneInfo("Europe/Paris")
SUNDAY_3AM = "0 3 * * 0"
HOUR = dt.timedelta(hours=1)


def _at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """December 2026 in Paris (the 6th is a Sunday)."""
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=PARIS)


def test_a_run_inside_its_window_with_time_left_goes() -> None:
    verdict = decide(SUNDAY_3AM, "Europe/Paris", HOUR, _at(6, 3, 10), 30 * 60)
    assert verdict.go and verdict.reason() == ""
    assert (verdict.opened, verdict.closes) == (_at(6, 3), _at(6, 4))


def test_a_run_that_would_overrun_its_window_is_deferred_to_the_next_one() -> None:
    verdict = decide(SUNDAY_3AM, "Europe/Paris", HOUR, _at(6, 3, 40), 30 * 60)
    assert not verdict.go
    assert verdict.next_start == _at(13, 3)
    assert "closes 2026-12-06 04:00 CET" in verdict.reason()
    assert "next window opens 2026-12-13 03:00 CET" in verdict.reason()


def test_a_late_run_outside_any_window_is_deferred() -> None:
    # Queued behind a dead worker: it starts at 9 a.m., hours after the window closed.
    verdict = decide(SUNDAY_3AM, "Europe/Paris", HOUR, _at(6, 9), 60)
    assert not verdict.go and verdict.opened is None
    assert verdict.reason().startswith("outside the maintenance window")


def test_the_window_is_read_in_its_time_zone_whatever_now_is_given_in() -> None:
    now = dt.datetime(2026, 12, 6, 2, 30, tzinfo=dt.timezone.utc)  # 03:30 in Paris
    assert decide(SUNDAY_3AM, "Europe/Paris", HOUR, now, 60).go
    assert not decide(SUNDAY_3AM, "UTC", HOUR, now, 60).go
    assert decide("@daily", "UTC", dt.timedelta(hours=3), now, 60).go


def test_the_estimate_prefers_the_rehearsal_then_the_last_downtime() -> None:
    assert estimate(20.0, 10.0, 999.0, lead_time=60, margin=300) == 390
    assert estimate(None, None, 40.0, lead_time=0, margin=300) == 340
    assert estimate(None, None, None, lead_time=0, margin=300) == 300


def test_a_schedule_reads_durations_as_people_write_them() -> None:
    for written in ("2h", "120m", "1h60m", 7200, "PT2H"):
        assert Schedule(cron=SUNDAY_3AM, duration=written).duration == dt.timedelta(hours=2)
    with pytest.raises(ValueError, match="longer than 0"):
        Schedule(cron=SUNDAY_3AM, duration="0m")


@pytest.fixture
def resolvers() -> Iterator[dict[str, str]]:
    """Secret blocks by name, served by a plain resolver instead of a Prefect server; the
    registry is put back afterwards."""
    saved = dict(blocks._resolvers)
    held: dict[str, str] = {}
    blocks.register(blocks.SECRET, lambda name: held[name])
    yield held
    blocks._resolvers.clear()
    blocks._resolvers.update(saved)


def _fleet(tmp_path: Path, **hub: object) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump({"storage": {"url": "file:///srv/backups"}, "hubs": [{
        "name": "physics", "config_file": "/srv/c.py", "api_url": "http://127.0.0.1:8000",
        "api_token": "t0ken-in-file", "install": {"venv": "/srv/venv"},
        "runtime": {"workdir": "/srv"}, "db_url": "sqlite:////srv/j.sqlite", **hub}]}))
    return path


def test_secret_blocks_fill_the_token_and_the_database_password(resolvers, tmp_path) -> None:
    resolvers |= {"physics-token": "tok-from-block-7", "physics-db": "p@ss/w0rd:x"}
    fleet = load_fleet(_fleet(tmp_path, api_token={"secret_block": "physics-token"},
                              db_url="postgresql://hub@db.example.org/jupyterhub",
                              db_password={"secret_block": "physics-db"}), env={})
    hub = fleet.hub("physics")
    assert hub.api_token.get_secret_value() == "tok-from-block-7"
    assert hub.db_url.get_secret_value() == (
        "postgresql://hub:p%40ss%2Fw0rd%3Ax@db.example.org/jupyterhub")
    assert "tok-from-block-7" not in redact("token tok-from-block-7 and p@ss/w0rd:x")
    assert "p@ss/w0rd:x" not in redact("p@ss/w0rd:x")


def test_a_missing_block_names_the_key_and_the_block(resolvers, tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"key hubs\[0\]\.api_token: .*'nope'"):
        load_fleet(_fleet(tmp_path, api_token={"secret_block": "nope"}), env={})


def test_a_database_password_needs_a_server_url_without_one(resolvers, tmp_path) -> None:
    with pytest.raises(ConfigError, match="db_password: db_url must name a server"):
        load_fleet(_fleet(tmp_path, db_password="x" * 8), env={})
    with pytest.raises(ConfigError, match="holds a password already"):
        load_fleet(_fleet(tmp_path, db_url="postgresql://hub:pw@db/j", db_password="x" * 8),
                   env={})
