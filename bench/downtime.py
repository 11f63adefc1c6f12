"""What users feel of an upgrade: downtime, measured from outside, three ways.

1. manual   - the guide's procedure, in place: back up, stop, `pip install -U jupyterhub`,
              `jupyterhub upgrade-db`, start.
2. hubshift - `hubshift upgrade`.
3. floor    - what a cold upgrade cannot avoid: `upgrade-db` of a ready 6.1.1 venv, then its
              start, each started inside the window (hubshift preloads both, so it can go
              under this floor).

With `--runtime process,systemd` and `--install venv,inplace`, hubshift's run is repeated
for each runtime and installer (systemd: a unit of a `systemd --user` manager the bench
starts; inplace: the hub's own env upgraded in place), reported beside the process runtime
with side-by-side venvs. With `--interruption`, it also measures what a user with a running
server feels: a real `jupyterhub-singleuser` server asked for `/api/status` through the
proxy every 50 ms while `hubshift upgrade` runs, on a hub set up to keep servers (the proxy
on its own, `cleanup_servers = False`) and on one set up the default way.

Every run starts from the same generated hub database (a real JupyterHub 4.1.6 database made
through JupyterHub's own ORM: 2,000 users, 200 groups, 5,000 API tokens). A poller asks the
hub's `/hub/api/` every 50 ms; downtime runs from the last answer of the old version to the
first answer of the new one. Each procedure runs `--repeat` times; the table shows medians.
All three jump 4.1.6 -> 6.1.1 (the newest release) directly, as the guide's `pip install -U`
does, so they run the same migrations. hubshift rehearses each upgrade on a copy first (its
default), with the hub up: the table gives that rehearsal's time apart, and the downtime,
measured from outside, shows it adds nothing to it.

With `--scale 1,10`, everything is measured again on databases with ten times the rows, and
a last table gives hubshift's downtime and its steps at each size, against the default size.

    .venv/bin/python bench/downtime.py [--repeat 3] [--engine sqlite|postgres|all]
        [--scale 1,10] [--runtime process,systemd] [--install venv,inplace] [--interruption]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hubshift.backends.hubapi import HubAPI, wait_healthy  # noqa: E402
from hubshift.backends.installers.pip import create_venv, requirements_for  # noqa: E402
from hubshift.backends.runtimes import Runtime, runtime_for  # noqa: E402
from hubshift.backends.storage import BackupStore  # noqa: E402
from hubshift.config import HubConfig, StorageConfig  # noqa: E402
from hubshift.system.execute import child_env, run  # noqa: E402
from hubshift_lab import s3server  # noqa: E402
from hubshift_lab.poller import ServerPoller  # noqa: E402
from hubshift_lab.proxy import start_proxy, stop_proxy  # noqa: E402
from hubshift_lab.sandbox import (  # noqa: E402
    SandboxHub,
    find_proxy,
    make_hub,
    seed,
    stop_users_servers,
)
from hubshift_lab.systemd import UserManager, hub_unit, start_user_manager  # noqa: E402

OLD, NEW = "4.1.6", "6.1.1"
#: The set-up every figure but the per-set-up table is measured with.
BASE_SETUP = "process/venv"
#: The steps between the stop and the first answer of the new version, in order.
DOWNTIME_STEPS = ("stop", "backup", "switch", "migrate", "start", "wait-healthy")
POLL = 0.05
#: Seconds a hub's first start (before any clock runs) may take.
FIRST_START = 900
CACHE = REPO / ".cache" / "bench-venvs"

POPULATE = """
import sys
from jupyterhub import orm
url, n_users, n_groups, n_tokens = sys.argv[1], *map(int, sys.argv[2:5])
db = orm.new_session_factory(url)()
users = [orm.User(name=f"user{i:05}") for i in range(n_users)]
db.add_all(users)
db.commit()
groups = [orm.Group(name=f"group{i:03}") for i in range(n_groups)]
for j, group in enumerate(groups):
    group.users = users[j * 10:(j + 1) * 10]
db.add_all(groups)
db.commit()
for k in range(n_tokens):
    token = orm.APIToken(user=users[k % n_users], note="bench", scopes=["inherit"])
    token.token = orm.new_token()
    db.add(token)
db.commit()
"""


@dataclass
class Run:
    procedure: str
    engine: str
    downtime: float
    wall: float
    overhead: float | None = None
    peak_rss_mib: float | None = None
    steps: dict[str, float] = field(default_factory=dict)
    #: How hubshift's hub runs and is installed: "process/venv", "systemd/inplace", ...
    setup: str = "process/venv"
    #: hubshift's rehearsal on a copy, before the stop: seconds, copy/migrate/start seconds.
    rehearsal: dict[str, float] = field(default_factory=dict)
    #: How many times the default rows the hub's database holds (`--scale`).
    scale: int = 1


class Poller:
    """Asks `/hub/api/` every 50 ms and remembers when each version answered."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.seen: list[tuple[float, str | None]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(timeout=0.5) as client:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    response = client.get(self.api_url + "/")
                    version = response.json().get("version") if response.status_code == 200 \
                        else None
                except (httpx.HTTPError, ValueError):
                    version = None
                self.seen.append((time.monotonic(), version))
                self._stop.wait(max(0.0, POLL - (time.monotonic() - began)))

    def __enter__(self) -> Poller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def wait_for(self, version: str, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        while not any(v == version for _, v in self.seen):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.api_url} never answered {version}")
            time.sleep(POLL)

    def downtime(self, old: str, new: str) -> float:
        first_new = next(t for t, v in self.seen if v == new)
        last_old = max(t for t, v in self.seen if v == old and t < first_new)
        return first_new - last_old


def release_venv(version: str, extra: tuple[str, ...] = ()) -> Path:
    """A cached venv of a release, built once (the hubs run from it, never change it)."""
    venv = CACHE / "-".join([f"jupyterhub-{version}", *extra])
    if not (venv / ".complete").exists():
        shutil.rmtree(venv, ignore_errors=True)
        create_venv(venv, requirements_for(version, list(extra)))
        (venv / ".complete").write_text(version)
    return venv


class Bench:
    def __init__(self, root: Path, engine: str, sizes: tuple[int, int, int],
                 storage: StorageConfig, logs: Path | None = None,
                 systemd: UserManager | None = None, scale: int = 1) -> None:
        self.systemd = systemd
        self.scale = scale
        self.root, self.engine, self.sizes, self.storage = root, engine, sizes, storage
        self.logs = logs
        self.extra = ("psycopg2-binary",) if engine == "postgres" else ()
        self.counter = 0
        self.template: Path | None = None

    # -- one hub per run, each with the same generated database --------------------------
    def _database(self, name: str) -> str:
        if self.engine == "sqlite":
            return f"sqlite:///{self.root / name / 'jupyterhub.sqlite'}"
        database = f"hubshift_bench_x{self.scale}_{name.replace('-', '_')}"
        run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c",
             f"DROP DATABASE IF EXISTS {database}"], timeout=60)
        run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", f"CREATE DATABASE {database}"],
            timeout=60)
        return f"postgresql+psycopg2://postgres@127.0.0.1:5432/{database}"

    def new_hub(self, procedure: str, venv: Path) -> SandboxHub:
        self.counter += 1
        name = f"{procedure}-{self.counter}"
        db_url = self._database(name)
        hub = make_hub(self.root, name, venv, db_url=db_url)
        if self.engine == "sqlite" and self.template is not None:
            shutil.copy(self.template, self.root / name / "jupyterhub.sqlite")
        else:
            result = run([venv / "bin" / "python", "-c", POPULATE, db_url,
                          *map(str, self.sizes)], timeout=600)
            assert result.returncode == 0, result.tail
            if self.engine == "sqlite":
                self.template = self.root / "template.sqlite"
                shutil.copy(self.root / name / "jupyterhub.sqlite", self.template)
        return hub

    def start(self, hub: SandboxHub, entry: dict | None = None) -> Runtime:
        """Start the hub before the clock runs. Its first start on a generated database gives
        every user its default role (minutes at --scale 10 on a busy machine): not timed."""
        entry = entry or hub.fleet_entry(NEW)
        runtime = runtime_for(HubConfig.model_validate(
            {**entry, "runtime": {**entry["runtime"], "start_timeout": FIRST_START}}))
        runtime.start()
        with HubAPI(hub.api_url) as api:
            wait_healthy(api, FIRST_START)
        return runtime

    def entry(self, hub: SandboxHub, runtime: str, install: str) -> dict:
        """The hub's fleet entry run by `runtime` (process, or a unit of the bench's systemd
        user manager) from `install` (venv: the shared release venvs; inplace: its own env)."""
        entry = hub.fleet_entry(NEW)
        if runtime == "systemd":
            assert self.systemd is not None, "--runtime systemd needs a systemd user manager"
            unit = f"bench-{hub.name}.service"
            self.systemd.add_unit(unit, hub_unit(hub))
            entry["runtime"] = {"kind": "systemd", "unit": unit, "user": True}
        if install == "inplace":
            entry["install"] = {"kind": "inplace", "venv": str(hub.venv_link.resolve())}
        return entry

    # -- the three procedures ----------------------------------------------------------------
    def manual(self) -> Run:
        venv = self.root / f"manual-venv-{self.counter + 1}"
        create_venv(venv, requirements_for(OLD, list(self.extra)))
        hub = self.new_hub("manual", venv)
        runtime = self.start(hub)
        began = time.monotonic()
        with Poller(hub.api_url) as poller:
            time.sleep(0.5)
            # The guide: back up the database and the config, then stop, upgrade, migrate.
            if self.engine == "sqlite":
                shutil.copy(self.root / hub.name / "jupyterhub.sqlite",
                            self.root / hub.name / "jupyterhub.sqlite.bak")
            shutil.copy(hub.config_file, hub.config_file.with_suffix(".py.bak"))
            runtime.stop()
            env = child_env(path_first=[venv / "bin"])
            for argv in ([venv / "bin" / "pip", "install", "-q", "-U", f"jupyterhub=={NEW}"],
                         [venv / "bin" / "jupyterhub", "upgrade-db", "-f", hub.config_file]):
                result = run(argv, env=env, cwd=hub.workdir, timeout=900)
                assert result.returncode == 0, result.tail
            runtime.start()
            poller.wait_for(NEW)
        wall = time.monotonic() - began
        runtime.stop()
        return Run("manual", self.engine, poller.downtime(OLD, NEW), wall, scale=self.scale)

    def floor(self) -> Run:
        hub = self.new_hub("floor", release_venv(OLD, self.extra))
        runtime = self.start(hub)
        new_venv = release_venv(NEW, self.extra)
        began = time.monotonic()
        steps = _Steps()
        with Poller(hub.api_url) as poller:
            time.sleep(0.5)
            with steps("stop"):
                runtime.stop()
            with steps("migrate"):
                result = run([new_venv / "bin" / "jupyterhub", "upgrade-db", "-f",
                              hub.config_file], env=child_env(path_first=[new_venv / "bin"]),
                             cwd=hub.workdir, timeout=900)
            assert result.returncode == 0, result.tail
            hub.venv_link.unlink()
            hub.venv_link.symlink_to(new_venv)
            with steps("start"):
                runtime.start()
            with steps("wait-healthy"):
                poller.wait_for(NEW)
        wall = time.monotonic() - began
        runtime.stop()
        return Run("floor", self.engine, poller.downtime(OLD, NEW), wall, steps=steps.seconds,
                   scale=self.scale)

    def hubshift(self, runtime_kind: str = "process", install: str = "venv") -> Run:
        if install == "inplace":
            # Upgraded in place: an env of its own, built before the clock starts.
            venv = self.root / f"inplace-env-{self.counter + 1}"
            create_venv(venv, requirements_for(OLD, list(self.extra)))
        else:
            venv = release_venv(OLD, self.extra)
        hub = self.new_hub("hubshift", venv)
        entry = self.entry(hub, runtime_kind, install)
        runtime = self.start(hub, entry)
        fleet = self.root / f"fleet-{hub.name}.yaml"
        fleet.write_text(yaml.safe_dump({
            "storage": self.storage.model_dump(mode="json", exclude_none=True),
            "hubs": [entry]}))
        began = time.monotonic()
        with Poller(hub.api_url) as poller:
            time.sleep(0.5)
            with _log_file(self.logs, hub.name) as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "hubshift_cli", "upgrade", "-f", fleet, "--hub",
                     hub.name, "--json"], stdout=subprocess.PIPE, stderr=log, text=True,
                    env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
                peak = _peak_rss(proc)
                out = proc.stdout.read() if proc.stdout else ""
                assert proc.wait() == 0, out
            poller.wait_for(NEW)
        wall = time.monotonic() - began
        runtime.stop()
        result = json.loads(out)
        steps = {s["name"]: s["seconds"] for s in result["steps"]}
        overhead = result["wall_seconds"] - sum(steps.values())
        rehearsed = result.get("rehearsal") or {}
        rehearsal = {k: rehearsed[k] for k in ("seconds", "copy_seconds", "migrate_seconds",
                                               "start_seconds") if rehearsed.get(k) is not None}
        return Run("hubshift", self.engine, poller.downtime(OLD, NEW), wall, overhead,
                   peak / 1024, steps, setup=f"{runtime_kind}/{install}", rehearsal=rehearsal,
                   scale=self.scale)


@dataclass
class Interruption:
    """What a user with a running server felt of one `hubshift upgrade`."""

    setup: str
    requests: int
    failed: int
    longest_gap: float
    downtime: float


def interruption(root: Path, storage: StorageConfig, keep: bool) -> Interruption:
    """Upgrade a small hub with alice's real server running; poll it through the proxy."""
    name = "kept" if keep else "default"
    hub = make_hub(root, f"servers-{name}", release_venv(OLD, ("jupyter_server",)),
                   jupyter_servers=True, keep_servers=keep)
    if keep:
        assert hub.proxy_token_file is not None
        start_proxy(find_proxy(), hub.workdir, public_port=hub.port,
                    api_port=hub.proxy_api_port, hub_port=hub.hub_port,
                    token_file=hub.proxy_token_file)
    config = HubConfig.model_validate(hub.fleet_entry(NEW))
    runtime = runtime_for(config)
    runtime.start()
    try:
        # A spawn answers once the server is up or after JupyterHub's slow_spawn_timeout.
        with hub.api(timeout=60) as api:
            wait_healthy(api, 120)
            token = seed(api).tokens["alice"]
            api.request("POST", "/users/alice/server")
            deadline = time.monotonic() + 120
            while not (api.request("GET", "/users/alice").get("servers") or {}).get(
                    "", {}).get("ready"):
                assert time.monotonic() < deadline, "alice's server did not start"
                time.sleep(0.5)
        fleet = root / f"fleet-{hub.name}.yaml"
        fleet.write_text(yaml.safe_dump({
            "storage": storage.model_dump(mode="json", exclude_none=True),
            "hubs": [hub.fleet_entry(NEW)]}))
        base = hub.api_url.removesuffix("/hub/api")
        with ServerPoller(f"{base}/user/alice/api/status", token) as alice:
            done = subprocess.run(
                [sys.executable, "-m", "hubshift_cli", "upgrade", "-f", fleet, "--hub",
                 hub.name, "--json"], capture_output=True, text=True,
                env={**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"})
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads(done.stdout)
        return Interruption(name, alice.requests, len(alice.failures), alice.longest_gap,
                            result["downtime_seconds"])
    finally:
        runtime.stop()
        stop_proxy(hub.workdir)
        stop_users_servers(hub.workdir)


def print_interruption(rows: list[Interruption]) -> None:
    print("\nuser interruption: alice's server asked every 50 ms through the proxy")
    print(f"{'set-up':24} {'requests':>9} {'failed':>7} {'longest gap':>12} {'hub downtime':>13}")
    for r in rows:
        setup = ("proxy on its own, kept" if r.setup == "kept" else "default (hub's proxy)")
        print(f"{setup:24} {r.requests:9d} {r.failed:7d} {r.longest_gap:11.2f}s "
              f"{r.downtime:12.2f}s")


@contextlib.contextmanager
def _log_file(folder: Path | None, name: str) -> Iterator[IO[str] | int]:
    """Where a hubshift run's log (stderr) goes: `<folder>/<name>.log`, or nowhere."""
    if folder is None:
        yield subprocess.DEVNULL
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{name}.log", "w") as log:
        yield log


class _Steps:
    """Seconds per step of a procedure timed here (the floor), named as hubshift's are,
    so that the JSON result shows step by step where hubshift spends more."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        began = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(time.monotonic() - began, 3)


def _peak_rss(proc: subprocess.Popen[str]) -> float:
    """Peak resident memory (KiB) of `proc` itself, read from /proc until it exits."""
    peak = 0.0
    while proc.poll() is None:
        try:
            for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, float(line.split()[1]))
        except OSError:
            break
        time.sleep(0.1)
    return peak


def _median(runs: list[Run], attribute: str) -> float | None:
    values = [getattr(r, attribute) for r in runs if getattr(r, attribute) is not None]
    return statistics.median(values) if values else None


def label(engine: str, scale: int) -> str:
    """The summary's key: the engine, with its scale when not the default rows."""
    return engine if scale == 1 else f"{engine} x{scale}"


def report(runs: list[Run]) -> dict:
    summary: dict = {}
    for engine, scale in sorted({(r.engine, r.scale) for r in runs}):
        at = [r for r in runs if r.engine == engine and r.scale == scale]
        mine = {p: [r for r in at if r.procedure == p and r.setup == BASE_SETUP]
                for p in ("manual", "hubshift", "floor")}
        medians = {p: _median(rs, "downtime") for p, rs in mine.items()}
        summary[label(engine, scale)] = {
            "engine": engine,
            "scale": scale,
            "downtime_seconds": medians,
            "hubshift_over_manual": medians["hubshift"] / medians["manual"],
            "hubshift_over_floor": medians["hubshift"] / medians["floor"],
            "overhead_seconds": _median(mine["hubshift"], "overhead"),
            "peak_rss_mib": _median(mine["hubshift"], "peak_rss_mib"),
            "wall_seconds": {p: _median(rs, "wall") for p, rs in mine.items()},
            "steps_seconds": {p: _median_steps(mine[p]) for p in ("hubshift", "floor")},
            # Before the stop, the hub up: the downtime above does not hold it.
            "rehearsal_seconds": _median_rehearsal(mine["hubshift"]),
            # Also before the stop: the backup of the running hub the window may reuse.
            "snapshot_seconds": _median_step(mine["hubshift"], "snapshot"),
            "setups": _setups([r for r in at if r.procedure == "hubshift"], medians["hubshift"]),
        }
    return summary


def _setups(runs: list[Run], base: float) -> dict[str, dict]:
    """hubshift's median downtime and steps per set-up (runtime/install), and its ratio to
    the process runtime with side-by-side venvs."""
    out = {}
    for setup in sorted({r.setup for r in runs}, key=lambda s: (s != BASE_SETUP, s)):
        mine = [r for r in runs if r.setup == setup]
        downtime = _median(mine, "downtime")
        out[setup] = {"downtime_seconds": downtime, "over_process_venv": downtime / base,
                      "steps_seconds": _median_steps(mine)}
    return out


def _median_rehearsal(runs: list[Run]) -> dict[str, float]:
    """Median seconds of hubshift's rehearsal (all of it, its copy, migrate and start)."""
    names = ("seconds", "copy_seconds", "migrate_seconds", "start_seconds")
    return {n: statistics.median(r.rehearsal[n] for r in runs if n in r.rehearsal)
            for n in names if any(n in r.rehearsal for r in runs)}


def _median_step(runs: list[Run], name: str) -> float | None:
    values = [r.steps[name] for r in runs if name in r.steps]
    return statistics.median(values) if values else None


def _median_steps(runs: list[Run]) -> dict[str, float]:
    """Median seconds of each step of the downtime, over the runs that have it."""
    names = [n for n in DOWNTIME_STEPS if any(n in r.steps for r in runs)]
    return {n: statistics.median(r.steps[n] for r in runs if n in r.steps) for n in names}


def print_setups(summary: dict) -> None:
    if all(len(s["setups"]) <= 1 for s in summary.values()):
        return
    print("\nhubshift by runtime/install, medians (targets: systemd/venv <= 1.2x process/venv;"
          " */inplace <= 2x */venv):")
    print(f"{'engine':8} {'set-up':16} {'downtime':>9} {'x process/venv':>15}"
          + "".join(f" {n:>13}" for n in DOWNTIME_STEPS))
    for engine, s in summary.items():
        for setup, row in s["setups"].items():
            steps = row["steps_seconds"]
            print(f"{engine:8} {setup:16} {row['downtime_seconds']:8.2f}s "
                  f"{row['over_process_venv']:15.2f}" + "".join(
                      f" {steps[n]:13.2f}" if n in steps else f" {'-':>13}"
                      for n in DOWNTIME_STEPS))


def print_table(summary: dict) -> None:
    print(f"{'engine':10} {'manual':>8} {'hubshift':>9} {'floor':>7} {'hs/manual':>10} "
          f"{'hs/floor':>9} {'overhead':>9} {'peak RSS':>9}")
    for engine, s in summary.items():
        d = s["downtime_seconds"]
        print(f"{engine:10} {d['manual']:7.2f}s {d['hubshift']:8.2f}s {d['floor']:6.2f}s "
              f"{s['hubshift_over_manual']:10.2f} {s['hubshift_over_floor']:9.2f} "
              f"{s['overhead_seconds']:8.2f}s {s['peak_rss_mib']:6.0f} MiB")
    print("\nhubshift before the stop (hub up: not downtime), medians: the snapshot (the "
          "backup the window reuses when nothing was written since), the rehearsal on a copy:")
    for engine, s in summary.items():
        snapshot = s.get("snapshot_seconds")
        if snapshot is not None:
            print(f"{engine:10} snapshot {snapshot:.2f}s")
        r = s.get("rehearsal_seconds") or {}
        if not r:
            print(f"{engine:10} rehearsal: none (rehearse: false, or skipped)")
            continue
        down = s["downtime_seconds"]["hubshift"]
        print(f"{engine:10} rehearsal {r.get('seconds', 0):.2f}s in all: "
              f"copy {r.get('copy_seconds', 0):.2f}s, migrate {r.get('migrate_seconds', 0):.2f}s,"
              f" start {r.get('start_seconds', 0):.2f}s (the window's estimate; measured "
              f"downtime {down:.2f}s)")
    print("\nsteps of the downtime, medians (s):")
    print(f"{'engine':10} {'':9}" + "".join(f" {n:>13}" for n in DOWNTIME_STEPS))
    for engine, s in summary.items():
        for procedure, steps in s["steps_seconds"].items():
            print(f"{engine:10} {procedure:9}" + "".join(
                f" {steps[n]:13.2f}" if n in steps else f" {'-':>13}" for n in DOWNTIME_STEPS))


def print_growth(summary: dict) -> None:
    """hubshift's downtime and window backup at each scale against the default rows."""
    engines = {s["engine"] for s in summary.values() if s["scale"] != 1}
    if not engines:
        return
    print("\ngrowth with the rows (targets at the largest scale: downtime <= 1.3x the default "
          "rows', hs/manual <= 0.25, hs/floor <= 0.5; backup step <= 0.3 s when nothing was "
          "written after the snapshot):")
    print(f"{'engine':10} {'downtime':>9} {'x default':>10} {'hs/manual':>10} {'hs/floor':>9} "
          f"{'snapshot':>9} {'backup':>7} {'migrate':>8} {'start':>7}")
    for engine in sorted(engines):
        rows = sorted((s for s in summary.values() if s["engine"] == engine),
                      key=lambda s: s["scale"])
        base = next((s for s in rows if s["scale"] == 1), rows[0])["downtime_seconds"]["hubshift"]
        for s in rows:
            down = s["downtime_seconds"]["hubshift"]
            steps = s["steps_seconds"]["hubshift"]
            print(f"{label(engine, s['scale']):10} {down:8.2f}s {down / base:10.2f} "
                  f"{s['hubshift_over_manual']:10.2f} {s['hubshift_over_floor']:9.2f} "
                  f"{s['snapshot_seconds'] or 0:8.2f}s {steps.get('backup', 0):6.2f}s "
                  f"{steps.get('migrate', 0):7.2f}s {steps.get('start', 0):6.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", choices=["sqlite", "postgres", "all"], default="all")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--scale", default="1",
                        help="row counts to measure at, as multiples of --users/--groups/"
                        "--tokens, comma-separated (e.g. 1,10): downtime and steps at each, "
                        "and their growth")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "downtime.json")
    parser.add_argument("--logs", type=Path, default=None,
                        help="keep the log of each hubshift run in this folder")
    parser.add_argument("--runtime", default="process",
                        help="runtimes hubshift's hub runs under, comma-separated: process, "
                        "systemd (a systemd user manager the bench starts)")
    parser.add_argument("--install", default="venv",
                        help="installers, comma-separated: venv (side by side), inplace")
    parser.add_argument("--interruption", action="store_true",
                        help="also measure what a user with a running server feels, on a "
                        "hub set up to keep servers and on one set up the default way")
    args = parser.parse_args()
    engines = ["sqlite", "postgres"] if args.engine == "all" else [args.engine]
    scales = [int(n) for n in args.scale.split(",")]
    os.environ.setdefault("HUBSHIFT_HOME", str(REPO / ".cache" / "bench-home"))
    setups = [(r, i) for r in args.runtime.split(",") for i in args.install.split(",")]
    setups = [("process", "venv"), *(s for s in setups if s != ("process", "venv"))]
    systemd = None
    if any(runtime == "systemd" for runtime, _ in setups):
        started = start_user_manager()
        if not isinstance(started, UserManager):
            sys.exit(f"--runtime systemd: no systemd user manager: {started}")
        systemd = started
        os.environ.update(systemd.environ())
    runs: list[Run] = []
    felt: list[Interruption] = []
    with contextlib.ExitStack() as cleanup, \
            tempfile.TemporaryDirectory(prefix="hubshift-bench-") as tmp:
        if systemd is not None:
            cleanup.callback(systemd.stop)
        root = Path(tmp)
        server = s3server.start_s3_server(root / "s3")
        os.environ.update(s3server.DUMMY_CREDENTIALS)
        storage = StorageConfig(url="s3://bench/hubshift", endpoint_url=server.endpoint_url,
                                region=s3server.DEMO_REGION)
        BackupStore(storage).ensure_bucket()
        try:
            for scale, engine in ((n, e) for n in scales for e in engines):
                sizes = (args.users * scale, args.groups * scale, args.tokens * scale)
                where = root / f"{engine}-x{scale}"
                bench = Bench(where, engine, sizes, storage, args.logs, systemd, scale)
                where.mkdir()
                for i in range(args.repeat):
                    procedures = [bench.floor, bench.manual] + [
                        functools.partial(bench.hubshift, r, s) for r, s in setups]
                    for procedure in procedures:
                        done = procedure()
                        runs.append(done)
                        print(f"[{label(engine, scale)} {i + 1}/{args.repeat}] "
                              f"{done.procedure:8} "
                              f"{done.setup:16} downtime {done.downtime:6.2f} s  "
                              f"wall {done.wall:6.1f} s", flush=True)
            if args.interruption:
                (root / "servers").mkdir()
                felt = [interruption(root / "servers", storage, keep) for keep in (True, False)]
        finally:
            s3server.stop_s3_server(root / "s3")
    summary = report(runs)
    if runs:
        print_table(summary)
        print_setups(summary)
        print_growth(summary)
    if felt:
        print_interruption(felt)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "system": platform.platform()},
        "sizes": {"users": args.users, "groups": args.groups, "tokens": args.tokens},
        "scales": scales,
        "summary": summary, "runs": [asdict(r) for r in runs],
        "interruption": [asdict(r) for r in felt]}, indent=2))
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
