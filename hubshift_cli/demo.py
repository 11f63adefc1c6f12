"""`hubshift demo`: a real JupyterHub 4.1.6 hub, a local S3 store, its plan, and a real upgrade
to the newest release, 6.1.1.

Everything is made here from nothing (a release venv, a hub seeded through its REST API, an
S3 server, a notification inbox), planned as `hubshift plan` plans it, and then upgraded by
the same flow an operator runs, so the demo shows the product, not a mock-up of it.

Only the backups outlive a demo, as an operator's would: the S3 server is rclone's `serve s3`,
whose objects are files under `<dir>/s3/objects`, signed for with a key pair made once per
demo folder. A second demo lists the first one's backups beside its own.

4.1.6 -> 6.1.1 crosses two major versions, so the demo climbs with `--via auto` (through
5.5.4, each release running its own `upgrade-db` in the one window): what hubshift's own
plan recommends for such a jump, since JupyterHub's data migrations are safest one major
version at a time. It costs one more venv before the window, not more downtime to speak of.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import yaml

from hubshift.backends.installers.pip import create_venv, requirements_for
from hubshift.backends.runtimes import runtime_for
from hubshift.backends.storage import store_for
from hubshift.backup.store import list_backups
from hubshift.config import load_fleet
from hubshift.errors import HubshiftError
from hubshift.plan.upgrade import render
from hubshift.window import inprogress
from hubshift.window.verify import wait_for_version
from hubshift_cli.terminal import Terminal, failure_lines, prefect_api
from hubshift_lab import s3server
from hubshift_lab.inbox import Inbox
from hubshift_lab.sandbox import SandboxHub, counts, make_hub, seed

FROM_VERSION = "4.1.6"
TO_VERSION = "6.1.1"
VIA = "auto"
HUB = "demo"
BUCKET = "jupyterhub-backups"
#: The S3 server's folder in the demo's: its state, its key pair and the objects it keeps.
S3_DIR = "s3"


def _say(text: str) -> None:
    print(f"[demo] {text}", flush=True)


def _release_venv(directory: Path, version: str) -> Path:
    """A venv with JupyterHub `version`, built once and kept between demos."""
    venv = directory / "releases" / f"jupyterhub-{version}"
    marker = venv / ".complete"
    if not marker.exists():
        shutil.rmtree(venv, ignore_errors=True)
        _say(f"installing JupyterHub {version} for the demo hub (about a minute the first time)")
        create_venv(venv, requirements_for(version))
        marker.write_text(version)
    return venv


def stop_demo(directory: Path) -> None:
    """Stop the demo hub and S3 server if they run; safe to call twice."""
    fleet_file = directory / "fleet.yaml"
    if fleet_file.exists():
        fleet = load_fleet(fleet_file)
        for hub in fleet.hubs:
            runtime_for(hub).stop()
    s3server.stop_s3_server(directory / S3_DIR)


def _write_fleet(directory: Path, hub: SandboxHub, endpoint: str, notify_url: str) -> Path:
    keys = s3server.credentials(directory / S3_DIR)
    fleet = {
        "storage": {"url": f"s3://{BUCKET}/hubshift", "endpoint_url": endpoint,
                    "region": s3server.DEMO_REGION,
                    "access_key_id": keys["AWS_ACCESS_KEY_ID"],
                    "secret_access_key": keys["AWS_SECRET_ACCESS_KEY"]},
        "notify": {"urls": [notify_url], "lead_time": 0},
        "hubs": [{**hub.fleet_entry(TO_VERSION), "environment": "staging"}],
    }
    path = directory / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    path.chmod(0o600)  # it holds the demo hub's admin token and the store's key pair
    return path


def run_demo(directory: Path, term: Terminal | None = None) -> int:
    """Build and upgrade the demo hub, showing the upgrade on `term` (default: stdout);
    return the exit code of the upgrade."""
    term = term or Terminal(sys.stdout)
    # The demo's Prefect runs on a temporary local server: no telemetry from a demo.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from flows.upgrade_hub import UpgradeFailed, upgrade_hub
    from hubshift_cli.app import plan_hub

    directory = directory.absolute()
    directory.mkdir(parents=True, exist_ok=True)
    stop_demo(directory)
    # The hub is made anew; the store's objects (the backups of earlier demos) are kept.
    shutil.rmtree(directory / HUB, ignore_errors=True)
    os.environ.setdefault("HUBSHIFT_HOME", str(directory / "home"))

    old_venv = _release_venv(directory, FROM_VERSION)
    server = s3server.start_s3_server(directory / S3_DIR, kind="rclone")
    _say(f"S3-compatible store (rclone serve s3) at {server.endpoint_url}, its objects kept "
         f"in {directory / S3_DIR / s3server.OBJECTS_DIR}")

    hub = make_hub(directory, HUB, old_venv)
    with Inbox() as inbox:
        fleet_file = _write_fleet(directory, hub, server.endpoint_url, inbox.url)
        fleet = load_fleet(fleet_file)
        store = store_for(fleet.storage)
        store.ensure_bucket()
        # A record left by an earlier demo stopped in its window names a hub made anew here.
        inprogress.clear(store, HUB)
        config = fleet.hub(HUB)
        runtime_for(config).start()
        wait_for_version(config, FROM_VERSION, config.runtime.start_timeout)
        with hub.api() as api:
            seeded = seed(api)
            before = counts(api)
        _say(f"hub {HUB!r} runs JupyterHub {FROM_VERSION} at {hub.api_url.removesuffix('/api')}")
        _say(f"before: users {before['users']}, groups {before['groups']}, "
             f"tokens {before['tokens']}")

        _say(f"the plan (`hubshift plan --hub {HUB} --via {VIA}`; it installs the target "
             "beside the hub, which keeps running):")
        with term:
            prefect_api(term)
            term.status(f"plan of hub {HUB}")
            try:
                _, plan, _ = plan_hub(fleet, HUB, TO_VERSION, VIA, False)
            except HubshiftError as err:
                _say(f"the plan was refused: {err}")
                return err.exit_code
        for line in render(plan).splitlines():
            _say(f"  {line}")
        _say(f"upgrading to {TO_VERSION} through the upgrade_hub flow (--via {VIA})")
        with term:
            term.status(f"upgrade of hub {HUB}")
            try:
                result = upgrade_hub(hub=HUB, target_version=TO_VERSION,
                                     fleet_file=str(fleet_file), via=VIA)
            except UpgradeFailed as err:
                result = err.result
            except HubshiftError as err:
                _say(f"the upgrade was refused: {err}")
                return err.exit_code
        notices = inbox.titles()

    with hub.api() as api:
        version = api.version()
        after = counts(api)
        alice = api.whoami(seeded.tokens["alice"])["name"]
    _say(f"result: {result.status}, JupyterHub {result.from_version} -> {result.to_version} "
         f"(hops {' -> '.join(result.hops)}), backup {result.backup_id}, downtime "
         f"{result.downtime_seconds} s")
    _say(f"the hub now answers version {version}")
    _say(f"after:  users {after['users']}, groups {after['groups']}, tokens {after['tokens']}")
    _say(f"a token made before the upgrade still authenticates as {alice!r}")
    for title in notices:
        _say(f"notification sent: {title}")
    for manifest in list_backups(store, HUB):
        _say(f"backup {manifest.backup_id} in {store.describe()} "
             f"({', '.join(f.name for f in manifest.files)})")
    python = Path(sys.executable).parent
    _say("where to look:")
    _say(f"  the hub:        {hub.api_url.removesuffix('/hub/api')}/hub/ "
         f"(log: {config.runtime.log_path})")
    _say(f"  the fleet file: {fleet_file}")
    _say(f"  the backups:    {python / 'hubshift'} backups -f {fleet_file}")
    _say(f"  their files:    {directory / S3_DIR / s3server.OBJECTS_DIR} (kept by the next demo)")
    _say(f"  the runs:       {python / 'prefect'} server start, then http://127.0.0.1:4200")
    _say(f"  stop the demo:  {python / 'hubshift'} demo --stop --dir {directory}")
    term.last_lines(failure_lines(result))
    return result.exit_code
