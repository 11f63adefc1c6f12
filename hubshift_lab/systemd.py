"""A real systemd on machines whose PID 1 is not systemd: a `systemd --user` manager in a
private mount namespace, and sandbox hubs written as its units.

A user manager runs once it believes the system was booted with systemd: it gets a private
mount namespace with its own /run/systemd/system and a cgroup of its own. Any process whose
XDG_RUNTIME_DIR is the manager's then drives it with `systemctl --user`, as an operator's
shell drives its own user manager. The tests start one per session; the bench one per run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from hubshift_lab.sandbox import SandboxHub

SYSTEMD = Path("/usr/lib/systemd/systemd")
CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Seconds the manager gets to answer after its start (it needs about 0.5 s).
READY_TIMEOUT = 20.0

# Runs inside the private mount namespace: join the cgroups given as arguments, pretend the
# system booted with systemd (a tmpfs over /run/systemd, private to the namespace), then
# become the manager.
_BOOT = """\
set -e
for dir in "$@"; do mkdir -p "$dir"; echo $$ > "$dir/cgroup.procs"; done
mount -t tmpfs -o mode=755 hubshift-systemd /run/systemd
mkdir -p /run/systemd/system
exec "$HUBSHIFT_SYSTEMD" --user
"""


@dataclass
class UserManager:
    """A running `systemd --user`, its folders, and the cgroups it lives in."""

    process: subprocess.Popen[bytes]
    root: Path
    cgroups: list[Path]
    units: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def runtime_dir(self) -> Path:
        return self.root / "run"

    @property
    def config_dir(self) -> Path:
        return self.root / "config"

    @property
    def unit_dir(self) -> Path:
        return self.config_dir / "systemd" / "user"

    @property
    def log(self) -> Path:
        return self.root / "manager.log"

    def environ(self) -> dict[str, str]:
        return {"XDG_RUNTIME_DIR": str(self.runtime_dir),
                "XDG_CONFIG_HOME": str(self.config_dir)}

    def systemctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["systemctl", "--user", *args], env={**os.environ,
                              **self.environ()}, capture_output=True, text=True, timeout=60,
                              check=False)

    def add_unit(self, name: str, text: str) -> None:
        """Install unit `name` and make the manager read it."""
        self.unit_dir.mkdir(parents=True, exist_ok=True)
        (self.unit_dir / name).write_text(text)
        self.units.append(name)
        reloaded = self.systemctl("daemon-reload")
        assert reloaded.returncode == 0, reloaded.stderr

    def remove_units(self) -> None:
        for name in self.units:
            self.systemctl("stop", name)
            (self.unit_dir / name).unlink(missing_ok=True)
        self.units.clear()
        self.systemctl("daemon-reload")

    def stop(self) -> None:
        """SIGTERM (the manager stops every unit first), then remove its empty cgroups."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        for cgroup in self.cgroups:
            _remove_cgroup(cgroup)
        shutil.rmtree(self.root, ignore_errors=True)


def _cgroup_parents() -> list[Path] | None:
    """Where a new cgroup for the manager goes: both hierarchies on a hybrid host (systemd
    asks both), the one on a pure cgroup2 host; None when there is neither."""
    if (CGROUP_ROOT / "unified").is_dir() and (CGROUP_ROOT / "systemd").is_dir():
        return [CGROUP_ROOT / "systemd", CGROUP_ROOT / "unified"]
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return None


def _remove_cgroup(cgroup: Path) -> None:
    """rmdir `cgroup` and the folders the manager made in it, deepest first; a process
    somehow left in one is killed first."""
    if not cgroup.is_dir():
        return
    folders = sorted((Path(d) for d, _, _ in os.walk(cgroup)), key=lambda p: len(p.parts),
                     reverse=True)
    for folder in folders:
        for _ in range(50):
            try:
                folder.rmdir()
                break
            except FileNotFoundError:
                break
            except OSError:
                for pid in _cgroup_pids(folder):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                time.sleep(0.1)


def _cgroup_pids(folder: Path) -> list[int]:
    try:
        return [int(p) for p in (folder / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def why_no_user_manager() -> str | None:
    """Why a systemd user manager cannot run here, or None."""
    if os.geteuid() != 0:
        return "starting one needs root (a mount namespace and cgroups of its own)"
    for tool in ("unshare", "systemctl"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    if not SYSTEMD.exists():
        return f"{SYSTEMD} is not installed (apt-get install systemd)"
    if _cgroup_parents() is None:
        return f"no cgroup hierarchy systemd can use under {CGROUP_ROOT}"
    return None


def start_user_manager() -> UserManager | str:
    """A running user manager, answering `systemctl --user`; or why it could not start."""
    reason = why_no_user_manager()
    if reason is not None:
        return reason
    # Short: the manager's socket path ($XDG_RUNTIME_DIR/systemd/private) must fit a sockaddr.
    root = Path(tempfile.mkdtemp(prefix="hubshift-systemd-"))
    (root / "run").mkdir(mode=0o700)
    (root / "config").mkdir()
    name = f"hubshift-test-{secrets.token_hex(4)}"
    cgroups = [parent / name for parent in _cgroup_parents() or []]
    env = {**os.environ, "HUBSHIFT_SYSTEMD": str(SYSTEMD),
           "XDG_RUNTIME_DIR": str(root / "run"), "XDG_CONFIG_HOME": str(root / "config")}
    with open(root / "manager.log", "wb") as log:
        process = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private",
             "sh", "-c", _BOOT, "sh", *map(str, cgroups)],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True)
    manager = UserManager(process, root, cgroups)
    deadline = time.monotonic() + READY_TIMEOUT
    while manager.systemctl("list-units").returncode != 0:
        if process.poll() is not None or time.monotonic() >= deadline:
            output = manager.log.read_text(errors="replace").strip()[-500:]
            code = process.poll()
            manager.stop()
            return (f"systemd --user exited with {code}" if code is not None
                    else f"systemd --user did not answer within {READY_TIMEOUT:g} s") + (
                f": {output}" if output else " (it printed nothing)")
        time.sleep(0.1)
    return manager


def _quoted(value: str) -> str:
    """`value` as one argument of a unit file's ExecStart= or Environment=."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'.replace("%", "%%")  # % starts a specifier in unit files


def hub_unit(sandbox: SandboxHub) -> str:
    """The unit an operator writes for `sandbox`: the hub from the path the installer
    switches (`<venv link>/bin/jupyterhub`), in its workdir, output appended to its log."""
    bin_dir = sandbox.venv_link / "bin"
    # The venv's bin first, as the process runtime runs the hub: the proxy is found there.
    path = os.pathsep.join([str(bin_dir), os.environ.get("PATH", "/usr/bin:/bin")])
    workdir = str(sandbox.workdir).replace("%", "%%")
    return f"""\
[Unit]
Description=JupyterHub {sandbox.name} (a hubshift test hub)

[Service]
Type=simple
ExecStart={_quoted(str(bin_dir / "jupyterhub"))} -f {_quoted(str(sandbox.config_file))}
WorkingDirectory={workdir}
Environment={_quoted(f"PATH={path}")}
StandardOutput=append:{workdir}/jupyterhub.log
StandardError=inherit
KillMode=control-group
"""
