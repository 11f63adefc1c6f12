"""Fleet files and CLI runs for tests: the same YAML an operator writes, the same command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from hubshift.config import StorageConfig


def write_fleet(path: Path, storage: StorageConfig, hubs: list[dict[str, Any]],
                notify_urls: list[str] | None = None) -> Path:
    """Write a fleet file with `hubs` (SandboxHub.fleet_entry dicts) and return its path."""
    document = {
        "storage": storage.model_dump(mode="json", exclude_none=True),
        "notify": {"urls": notify_urls or [], "lead_time": 0},
        "hubs": hubs,
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def run_cli(args: list[str | Path], *, prefect_api: str | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `hubshift ARGS` as its own process (as an operator would), output captured."""
    env = dict(os.environ)
    if prefect_api:
        env["PREFECT_API_URL"] = prefect_api
    return subprocess.run(
        [sys.executable, "-m", "hubshift.cli", *map(str, args)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )
