"""A fleet at scale: how long 10 real hubs take, and what Prefect costs on the way.

Each mode upgrades its own 10 fresh sandbox hubs (JupyterHub 4.1.6 on SQLite, a few users,
groups and tokens: small databases) to 6.1.1 with `hubshift fleet-upgrade`, run as its own
process against a real `prefect server start`:

- one hub      - a fleet of one hub: the baseline every wall time is divided by;
- in-process   - every hub a subflow of the fleet's process, `--max-parallel` 1 and 4;
- deployments  - every hub through its `upgrade-hub/<hub>` deployment, picked up by one of
                 two process workers (`--use-deployments`), `--max-parallel` 1 and 4.

Two hubs are staging (the canary wave), eight production (the ramp of 1, 5, then 20 %), so
`--max-parallel 4` cannot go below the waves' rounds (printed as "rounds"). The target
release is installed beside each hub before the clock starts (one shared venv, marked as
hubshift's prepare marks the ones it builds), so the figures hold no package download.

Reported per mode: the fleet's wall time and its ratio to one hub's; the peak resident
memory of the orchestrator (the `hubshift fleet-upgrade` process); and Prefect's overhead
per hub: the fleet's wall time less the hubshift work of its hubs (the sum of their steps,
read from the results each run keeps in the backup store), divided by the hubs, at
`--max-parallel 1` where hubs do not overlap; the in-flow part (a hub's flow wall time less
its steps) for every mode. Targets, reported and not asserted: with `--max-parallel 4`,
wall <= 3x one hub's; overhead per hub <= 2 s.

    .venv/bin/python bench/fleet.py [--hubs 10] [--modes one,process-1,process-4,deploy-1,deploy-4]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hubshift.backends.hubapi import wait_healthy  # noqa: E402
from hubshift.backends.installers.pip import requirements_for  # noqa: E402
from hubshift.backends.installers.venv import COMPLETE_MARKER  # noqa: E402
from hubshift.backends.runtimes import Runtime, runtime_for  # noqa: E402
from hubshift.backends.storage import BackupStore, store_for  # noqa: E402
from hubshift.backup import results  # noqa: E402
from hubshift.config import HubConfig, StorageConfig  # noqa: E402
from hubshift.fleet.waves import plan_waves  # noqa: E402
from hubshift_lab import s3server  # noqa: E402
from hubshift_lab.sandbox import SandboxHub, free_port, make_hub, seed  # noqa: E402
from tests.support.envs import build_env  # noqa: E402
from tests.support.hubs import jupyterhub_venv  # noqa: E402

OLD, NEW = "4.1.6", "6.1.1"
MODES = ("one", "process-1", "process-4", "deploy-1", "deploy-4")
STAGING = 2
POOL = "bench-fleet"
PREFECT = Path(sys.executable).parent / "prefect"
CACHE = REPO / ".cache" / "bench-venvs"


@dataclass
class FleetRun:
    mode: str
    hubs: int
    max_parallel: int
    deployments: bool
    wall: float
    peak_rss_mib: float
    #: Sum over hubs of hubshift's own steps (preflight ... verify), from their results.
    steps_seconds: float
    #: Sum over hubs of each hub flow's wall time (upgrade_hub, as it measured itself).
    flow_wall_seconds: float
    #: The least number of hub-after-hub rounds the waves allow at this max_parallel.
    rounds: int
    outcomes: dict[str, int]


def target_venv() -> Path:
    """JupyterHub NEW built once (uv) and marked complete as hubshift's prepare marks its
    own, so that every hub's prepare finds its target ready and downloads nothing."""
    venv = CACHE / f"fleet-jupyterhub-{NEW}"
    if not (venv / COMPLETE_MARKER).exists():
        build_env(venv, requirements_for(NEW, []))
        (venv / COMPLETE_MARKER).write_text(NEW + "\n")
    return venv


class Hubs:
    """Fresh sandbox hubs for one mode: started, seeded, their target beside them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtimes: list[Runtime] = []

    def make(self, prefix: str, count: int) -> list[dict]:
        entries = []
        target = target_venv()
        for i in range(count):
            hub = make_hub(self.root, f"{prefix}-{i:02d}", jupyterhub_venv(OLD))
            hub.venv_link.with_name(f"{hub.venv_link.name}-{NEW}").symlink_to(target)
            self._start(hub)
            environment = "staging" if count > 1 and i < STAGING else "production"
            entries.append({**hub.fleet_entry(NEW), "environment": environment,
                            "rehearse": False})
        return entries

    def _start(self, hub: SandboxHub) -> None:
        runtime = runtime_for(HubConfig.model_validate(hub.fleet_entry(NEW)))
        self.runtimes.append(runtime)
        runtime.start()
        with hub.api() as api:
            wait_healthy(api, 120)
            seed(api)

    def stop(self) -> None:
        for runtime in self.runtimes:
            with contextlib.suppress(Exception):
                runtime.stop()
        self.runtimes.clear()


@contextlib.contextmanager
def prefect(root: Path, workers: int) -> Iterator[tuple[str, dict[str, str]]]:
    """A Prefect server and `workers` process workers of POOL; yields the API URL and the
    environment the CLI runs with. Workers run flow runs from temporary folders, so
    PYTHONPATH names this checkout."""
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect-home"), "PREFECT_API_URL": api,
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
           "PREFECT_WORKER_QUERY_SECONDS": "2", "PREFECT_WORKER_PREFETCH_SECONDS": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO),
                                                       os.environ.get("PYTHONPATH")]))}
    procs = [_start([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port",
                     str(port)], env, root / "server.log")]
    try:
        deadline = time.monotonic() + 180
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text()[-2000:])
            time.sleep(0.5)
        for n in range(workers):
            procs.append(_start([str(PREFECT), "worker", "start", "--pool", POOL, "--type",
                                 "process", "--name", f"bench-worker-{n}"], env,
                                root / f"worker-{n}.log"))
        yield api, env
    finally:
        for proc in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait(10)


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def _peak_rss(proc: subprocess.Popen[str]) -> float:
    """Peak resident memory (KiB) of `proc` itself, read from /proc until it exits."""
    peak = 0.0
    while proc.poll() is None:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, float(line.split()[1]))
        time.sleep(0.1)
    return peak


def hubshift(args: list[str], env: dict[str, str], log: Path) -> tuple[str, float, float]:
    """Run `hubshift ARGS`: its stdout, wall seconds and peak RSS (KiB)."""
    began = time.monotonic()
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "hubshift_cli", *args], env=env,
                                stdout=subprocess.PIPE, stderr=err, text=True)
        peak = _peak_rss(proc)
        out = proc.stdout.read() if proc.stdout else ""
        proc.wait()
    return out, time.monotonic() - began, peak


def rounds(entries: list[dict], max_parallel: int) -> int:
    """Hub-after-hub rounds the waves need at `max_parallel` (a wave waits for the last)."""
    waves = plan_waves([HubConfig.model_validate(e) for e in entries])
    return sum(math.ceil(len(w.hubs) / max_parallel) for w in waves)


def run_mode(mode: str, count: int, root: Path, storage: StorageConfig, api: str,
             env: dict[str, str]) -> FleetRun:
    parallel = 1 if mode in ("one", "process-1", "deploy-1") else 4
    deployments = mode.startswith("deploy")
    hubs = Hubs(root / mode)
    try:
        entries = hubs.make(mode, 1 if mode == "one" else count)
        fleet = root / f"fleet-{mode}.yaml"
        fleet.write_text(yaml.safe_dump({
            "storage": storage.model_dump(mode="json", exclude_none=True),
            "notify": {"urls": [], "lead_time": 0}, "hubs": entries}, sort_keys=False))
        if deployments:
            done = subprocess.run([sys.executable, "-m", "hubshift_cli", "deploy", "-f",
                                   str(fleet), "--pool", POOL], env=env, capture_output=True,
                                  text=True, check=False)
            assert done.returncode == 0, done.stderr[-2000:]
        argv = ["fleet-upgrade", "-f", str(fleet), "--max-parallel", str(parallel), "--json"]
        out, wall, peak = hubshift(argv + (["--use-deployments"] if deployments else []), env,
                                   root / f"{mode}.log")
        rows = json.loads(out)["hubs"]
    finally:
        hubs.stop()
    store = store_for(storage)
    steps = flow_wall = 0.0
    outcomes: dict[str, int] = {}
    for row in rows:
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
        kept = results.read(store, row["hub"], (row["flow_run"] or "").rsplit("/", 1)[-1])
        if kept is not None:
            steps += sum(s.seconds for s in kept.steps)
            flow_wall += kept.wall_seconds or 0.0
    return FleetRun(mode, len(rows), parallel, deployments, round(wall, 2),
                    round(peak / 1024, 1), round(steps, 2), round(flow_wall, 2),
                    rounds(entries, parallel), outcomes)


def summary(runs: list[FleetRun]) -> dict[str, dict]:
    one = next((r.wall for r in runs if r.mode == "one"), None)
    out = {}
    for r in runs:
        n = max(r.hubs, 1)
        out[r.mode] = {
            "wall_seconds": r.wall,
            "over_one_hub": r.wall / one if one else None,
            "rounds": r.rounds,
            "peak_rss_mib": r.peak_rss_mib,
            # Hubs do not overlap at max_parallel 1: all that is not a step is Prefect's
            # (the fleet's flow, task and subflow runs, or a deployment's run and worker).
            "overhead_per_hub_seconds": (r.wall - r.steps_seconds) / n
            if r.max_parallel == 1 else None,
            "in_flow_overhead_per_hub_seconds": (r.flow_wall_seconds - r.steps_seconds) / n,
            "outcomes": r.outcomes,
        }
    return out


def print_table(table: dict[str, dict]) -> None:
    print("\nfleet of hubs, 4.1.6 -> 6.1.1 (targets, not asserted: max_parallel 4 wall <= 3x "
          "one hub's; overhead per hub <= 2 s)")
    print(f"{'mode':11} {'wall':>8} {'x one hub':>10} {'rounds':>7} {'peak RSS':>9} "
          f"{'overhead/hub':>13} {'in-flow/hub':>12}  outcomes")
    for mode, s in table.items():
        ratio = f"{s['over_one_hub']:10.2f}" if s["over_one_hub"] is not None else f"{'-':>10}"
        overhead = s["overhead_per_hub_seconds"]
        over = f"{overhead:12.2f}s" if overhead is not None else f"{'-':>13}"
        print(f"{mode:11} {s['wall_seconds']:7.1f}s {ratio} {s['rounds']:7d} "
              f"{s['peak_rss_mib']:5.0f} MiB {over} {s['in_flow_overhead_per_hub_seconds']:11.2f}s"
              f"  {', '.join(f'{k} {v}' for k, v in s['outcomes'].items())}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hubs", type=int, default=10)
    parser.add_argument("--modes", default=",".join(MODES),
                        help=f"comma-separated, of: {', '.join(MODES)}")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "fleet.json")
    args = parser.parse_args()
    modes = args.modes.split(",")
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")
    os.environ.setdefault("HUBSHIFT_HOME", str(REPO / ".cache" / "bench-home"))
    runs: list[FleetRun] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hubshift-bench-fleet-") as tmp:
        root = Path(tmp)
        server = s3server.start_s3_server(root / "s3")
        os.environ.update(s3server.DUMMY_CREDENTIALS)
        try:
            storage = StorageConfig(url="s3://bench/hubshift", endpoint_url=server.endpoint_url,
                                    region=s3server.DEMO_REGION)
            BackupStore(storage).ensure_bucket()
            with prefect(root, workers=2) as (api, env):
                for mode in modes:
                    done = run_mode(mode, args.hubs, root, storage, api, env)
                    runs.append(done)
                    print(f"[{mode}] {done.hubs} hub(s), max_parallel {done.max_parallel}: "
                          f"wall {done.wall:.1f} s, {done.outcomes}", flush=True)
        finally:
            s3server.stop_s3_server(root / "s3")
    table = summary(runs)
    print_table(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.platform(),
                    "load_average_before": load_before, "load_average_after": os.getloadavg()},
        "hubs": args.hubs, "summary": table, "runs": [asdict(r) for r in runs]}, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
