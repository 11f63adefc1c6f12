"""`hubshift demo`, the command behind `make demo`, run as a newcomer would run it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.support.fleet import run_cli

pytestmark = pytest.mark.integration


def test_demo_upgrades_its_hub_and_lists_the_backup(tmp_path: Path, prefect_api) -> None:
    demo = tmp_path / "demo"
    try:
        done = run_cli(["demo", "--dir", demo], prefect_api=prefect_api, timeout=900)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        out = done.stdout
        # The plan first (what the target release itself said included), then the upgrade.
        assert out.index("hub demo: JupyterHub 4.1.6 -> 6.1.1") < out.index("upgrading to")
        assert "hops:              4.1.6 -> 5.5.4 -> 6.1.1" in out
        assert "(hops 5.5.4 -> 6.1.1)" in out
        assert "the hub now answers version 6.1.1" in out
        before = re.search(r"before: (users \d+, groups \d+, tokens \d+)", out)
        after = re.search(r"after:  (users \d+, groups \d+, tokens \d+)", out)
        assert before and after and before.group(1) == after.group(1), out
        assert "tokens 0" not in before.group(1)
        assert "a token made before the upgrade still authenticates as 'alice'" in out

        listed = run_cli(["backups", "-f", demo / "fleet.yaml", "--json"])
        assert listed.returncode == 0, listed.stderr
        [backup] = json.loads(listed.stdout)["backups"]
        assert backup["from_version"] == "4.1.6" and backup["to_version"] == "6.1.1"
        assert f"backup {backup['backup_id']}" in out
    finally:
        stopped = run_cli(["demo", "--stop", "--dir", demo])
    assert stopped.returncode == 0, stopped.stderr
