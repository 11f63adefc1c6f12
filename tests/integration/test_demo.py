"""`hubshift demo`, the command behind `make demo`, run as a newcomer would run it."""

from __future__ import annotations

import json
import re
import sqlite3
import stat
from pathlib import Path

import pytest
import yaml

from hubshift.backends.storage import store_for
from hubshift.backup.store import fetch_backup
from hubshift.config import load_fleet
from hubshift_lab import s3server
from tests.support.fleet import run_cli

pytestmark = pytest.mark.integration


def test_demo_upgrades_its_hub_and_keeps_the_backup(tmp_path: Path, prefect_api) -> None:
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
        before = re.search(r"before: (users (\d+), groups \d+, tokens \d+)", out)
        after = re.search(r"after:  (users \d+, groups \d+, tokens \d+)", out)
        assert before and after and before.group(1) == after.group(1), out
        assert "tokens 0" not in before.group(1)
        assert "a token made before the upgrade still authenticates as 'alice'" in out

        listed = run_cli(["backups", "-f", demo / "fleet.yaml", "--json"])
        assert listed.returncode == 0, listed.stderr
        [backup] = json.loads(listed.stdout)["backups"]
        assert backup["from_version"] == "4.1.6" and backup["to_version"] == "6.1.1"
        assert f"backup {backup['backup_id']}" in out

        # The store signs with the demo folder's own key pair, never seen in a process's argv.
        keys = s3server.credentials(demo / "s3")
        storage = yaml.safe_load((demo / "fleet.yaml").read_text())["storage"]
        assert storage["secret_access_key"] == keys["AWS_SECRET_ACCESS_KEY"] != (
            s3server.DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
        assert stat.S_IMODE((demo / "s3" / s3server.CREDENTIALS_FILE).stat().st_mode) == 0o600
        server = s3server.running_s3_server(demo / "s3")
        assert server is not None and server.kind == "rclone"
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode()
        assert keys["AWS_SECRET_ACCESS_KEY"] not in argv

        # The backup outlives the demo: stopped, its objects stay on disk, and the store
        # started again for that folder serves the same backup, whole, at the same URL.
        stopped = run_cli(["demo", "--stop", "--dir", demo])
        assert stopped.returncode == 0, stopped.stderr
        assert s3server.running_s3_server(demo / "s3") is None
        on_disk = demo / "s3" / s3server.OBJECTS_DIR / "jupyterhub-backups" / "hubshift" / "demo"
        assert (on_disk / backup["backup_id"] / "manifest.json").is_file()
        again = s3server.start_s3_server(demo / "s3", kind="rclone")
        assert again.endpoint_url == storage["endpoint_url"]
        relisted = run_cli(["backups", "-f", demo / "fleet.yaml", "--json"])
        assert relisted.returncode == 0, relisted.stderr
        assert json.loads(relisted.stdout)["backups"] == [backup]
        store = store_for(load_fleet(demo / "fleet.yaml").storage)
        manifest = fetch_backup(store, "demo", backup["backup_id"], tmp_path / "fetched")
        [database] = [f.name for f in manifest.files if f.name.endswith(".sqlite")]
        with sqlite3.connect(tmp_path / "fetched" / database) as db:
            [(users,)] = db.execute("SELECT count(*) FROM users").fetchall()
        assert users == int(before.group(2))
    finally:
        stopped = run_cli(["demo", "--stop", "--dir", demo])
    assert stopped.returncode == 0, stopped.stderr
