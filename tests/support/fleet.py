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
    """Write a fleet file with `hubs` (SandboxHub.fleet_entry dicts) and return its path.

    Every hub has `rehearse: false` unless its entry says otherwise: a rehearsal costs a
    copy, an upgrade-db and a start per upgrade, which only the rehearsal's own tests pay."""
    document = {
        "storage": storage.model_dump(mode="json", exclude_none=True),
        "notify": {"urls": notify_urls or [], "lead_time": 0},
        "hubs": [{"rehearse": False, **hub} for hub in hubs],
    }
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def cli_command(args: list[str | Path], *, prefect_api: str | None = None,
                fault: str | None = None, env_changes: dict[str, str | None] | None = None,
                ) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of `hubshift ARGS` (with an injected fault, if any);
    `env_changes` sets variables, or removes those it maps to None."""
    env = dict(os.environ)
    env.pop("HUBSHIFT_FAULT", None)
    if prefect_api:
        env["PREFECT_API_URL"] = prefect_api
    if fault:
        env["HUBSHIFT_FAULT"] = fault
    for name, value in (env_changes or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return [sys.executable, "-m", "hubshift_cli", *map(str, args)], env


def run_cli(args: list[str | Path], *, prefect_api: str | None = None,
            fault: str | None = None, env_changes: dict[str, str | None] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run `hubshift ARGS` as its own process (as an operator would), output captured."""
    argv, env = cli_command(args, prefect_api=prefect_api, fault=fault,
                            env_changes=env_changes)
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)


def stop_group(proc: subprocess.Popen, signum: int = 15) -> None:
    """Stop a process started with `start_new_session=True` and everything it started."""
    from hubshift.system import procs

    procs.send(proc.pid, signum, group=True)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        procs.send(proc.pid, 9, group=True)
        proc.wait(10)
