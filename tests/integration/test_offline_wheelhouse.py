"""An upgrade planned earlier completes from the wheelhouse with the package index down; the
same index down without a wheelhouse is refused in preflight.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.fleet import run_cli, write_fleet
from tests.support.hubs import (
    NEW_VERSION,
    OLD_VERSION,
)

pytestmark = pytest.mark.integration


class _DeadIndex:
    """A package index that answers 503 to everything and counts who asked."""

    def __init__(self) -> None:
        hits: list[str] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                hits.append(self.path)
                self.send_error(503, "index down for the test")

            def log_message(self, *args: object) -> None:
                pass

        self.hits = hits
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple"

    def __enter__(self) -> _DeadIndex:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def dead_index() -> Iterator[_DeadIndex]:
    with _DeadIndex() as index:
        yield index


def test_an_upgrade_planned_earlier_completes_from_the_wheelhouse_with_the_index_down(
    running_hub, storage_config, prefect_api: str, tmp_path: Path, dead_index: _DeadIndex
) -> None:
    hub = running_hub(OLD_VERSION, name="offline")
    fleet = write_fleet(tmp_path / "fleet.yaml", storage_config,
                        [hub.sandbox.fleet_entry(NEW_VERSION)])
    # A wheelhouse of its own, in its own home.
    home = {"HUBSHIFT_HOME": str(tmp_path / "home"), "HUBSHIFT_WHEELHOUSE": None}
    planned = run_cli(["plan", "-f", fleet], env_changes=home)  # the day before: index up
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert list((tmp_path / "home" / "wheelhouse").glob(f"jupyterhub-{NEW_VERSION}-*.whl"))

    # The night of the window: pip's only index answers 503, and pip reads no config file.
    offline = {**home, "PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": dead_index.url,
               "PIP_EXTRA_INDEX_URL": None, "PIP_FIND_LINKS": None}
    done = run_cli(["upgrade", "-f", fleet, "--hub", "offline", "--json"],
                   prefect_api=prefect_api, env_changes=offline)
    result = json.loads(done.stdout)
    assert done.returncode == 0, (result.get("error"), done.stderr[-3000:])
    assert result["status"] == "upgraded" and hub.api.version() == NEW_VERSION
    assert dead_index.hits == []

    # The same index down without a wheelhouse: refused in preflight, the hub untouched.
    other = running_hub(OLD_VERSION, name="unplanned")
    fleet = write_fleet(tmp_path / "fleet-unplanned.yaml", storage_config,
                        [other.sandbox.fleet_entry(NEW_VERSION)])
    done = run_cli(["upgrade", "-f", fleet, "--hub", "unplanned", "--json"],
                   prefect_api=prefect_api,
                   env_changes={**offline, "HUBSHIFT_HOME": str(tmp_path / "empty-home"),
                                "HUBSHIFT_WHEELHOUSE": None})
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"cannot download JupyterHub {NEW_VERSION}" in json.loads(done.stdout)["error"]
    assert dead_index.hits and other.api.version() == OLD_VERSION
