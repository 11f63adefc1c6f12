"""Entry point of the compose stack's hub host: two demo hubs, their deployments, a worker.

Makes (once) two JupyterHub 4.1.6 hubs under /srv/hubs with hubshift's sandbox code, writes
the fleet file for them and the MinIO store, registers the deployments with the work pool,
then becomes the Prefect worker that runs their upgrades when the UI's Run button is pressed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from deployments.build import deploy
from hubshift.backends.hubapi import HubAPI, wait_healthy
from hubshift.backends.installers.pip import create_venv, requirements_for
from hubshift.backends.runtimes import runtime_for
from hubshift.config import load_fleet
from hubshift_lab.sandbox import make_hub, seed

ROOT = Path(os.environ.get("HUBS_ROOT", "/srv/hubs"))
OLD = os.environ.get("HUBS_FROM_VERSION", "4.1.6")
TARGET = os.environ.get("HUBS_TARGET_VERSION", "6.1.1")
POOL = os.environ.get("HUBSHIFT_POOL", "hubshift")
HUBS = {"physics": "staging", "chemistry": "production"}


def main() -> None:
    venv = ROOT / f"jupyterhub-{OLD}"
    if not (venv / "bin" / "jupyterhub").exists():
        create_venv(venv, requirements_for(OLD))
    fleet_file = ROOT / "fleet.yaml"
    if not fleet_file.exists():
        hubs = [{**make_hub(ROOT, name, venv).fleet_entry(TARGET), "environment": env}
                for name, env in HUBS.items()]
        fleet = {"storage": {"url": os.environ["HUBSHIFT_STORAGE_URL"],
                             "endpoint_url": os.environ["HUBSHIFT_S3_ENDPOINT"]},
                 "notify": {"urls": [], "lead_time": 0}, "hubs": hubs}
        fleet_file.write_text(yaml.safe_dump(fleet, sort_keys=False))
    for hub in load_fleet(fleet_file).hubs:
        if not runtime_for(hub).status().running:
            runtime_for(hub).start()
        with HubAPI(hub.api_url, hub.api_token.get_secret_value()) as api:
            wait_healthy(api, 120)
            seed(api)
    for name in deploy(fleet_file, POOL):
        print(f"deployment {name} -> work pool {POOL}", flush=True)
    os.execvp("prefect", ["prefect", "worker", "start", "--pool", POOL, "--type", "process"])


if __name__ == "__main__":
    sys.exit(main())
