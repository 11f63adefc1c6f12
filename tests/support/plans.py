"""Helpers of the plan-and-hops tests: rows of a SQLite table, a plan as JSON."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.support.fleet import run_cli


def rows(db_file: Path, table: str) -> int:
    with sqlite3.connect(db_file) as conn:
        return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def plan_json(fleet: Path, *args: str) -> dict:
    done = run_cli(["plan", "-f", fleet, "--json", *args])
    assert done.returncode == 0, done.stderr[-3000:]
    [plan] = json.loads(done.stdout)["plans"]
    return plan
