"""A warm command (hubshift.system.warm) runs a script exactly as a cold start would, only with
JupyterHub imported already; and it never runs when nobody says go. Real interpreters of the
newest JupyterHub release (6.1.1), real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubshift.system import procs
from hubshift.system.execute import child_env
from hubshift.system.warm import WarmCommand, WarmError
from tests.support.hubs import NEW_VERSION, jupyterhub_venv

pytestmark = pytest.mark.integration

#: A script that tells how it was run: what `python <script> ARGS` would see, and more.
PROBE = """\
import json, os, sys
json.dump({"argv": sys.argv, "path0": sys.path[0], "main": __name__,
           "loaded": "jupyterhub.app" in sys.modules, "stdin": sys.stdin.read(),
           "cwd": os.getcwd()}, open(sys.argv[1], "w"))
"""


@pytest.fixture
def python() -> Path:
    return jupyterhub_venv(NEW_VERSION) / "bin" / "python"


@pytest.fixture
def probe(tmp_path: Path) -> Path:
    scripts = tmp_path / "bin"
    scripts.mkdir()
    script = scripts / "probe"
    script.write_text(PROBE)
    return script


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    # A module in the working directory that shadows one JupyterHub imports: a cold start
    # (`python <script>`) never sees it, so a warm one must not either.
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "traitlets.py").write_text("raise ImportError('the cwd is on sys.path')\n")
    return workdir


def test_a_warm_command_runs_its_script_as_a_cold_start_would(
        python: Path, probe: Path, workdir: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = WarmCommand(python, probe, [report, "-f", "x.py"], env=child_env(), cwd=workdir)
    command.wait_ready(120)
    assert command.proc.poll() is None  # loaded, waiting, nothing run yet
    assert not report.exists()

    result = command.finish(60)
    assert result.returncode == 0, result.output
    seen = json.loads(report.read_text())
    assert seen["argv"] == [str(probe), str(report), "-f", "x.py"]
    assert seen["path0"] == str(probe.parent)
    assert seen["main"] == "__main__"
    assert seen["loaded"] is True  # JupyterHub was imported before the script ran
    assert seen["stdin"] == ""  # stdin is empty, as for a detached process
    assert seen["cwd"] == str(workdir)


def test_the_real_jupyterhub_script_runs_warm(python: Path, workdir: Path) -> None:
    command = WarmCommand(python, python.parent / "jupyterhub", ["--version"],
                          env=child_env(), cwd=workdir)
    command.wait_ready(120)
    result = command.finish(60)
    assert (result.returncode, result.output.strip()) == (0, NEW_VERSION)


def test_a_discarded_command_runs_nothing(python: Path, probe: Path, workdir: Path,
                                          tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    command = WarmCommand(python, probe, [report], env=child_env(), cwd=workdir)
    command.wait_ready(120)
    command.discard()
    assert command.proc.returncode == 0
    assert not report.exists()
    command.discard()  # twice is fine


def test_a_warm_command_exits_when_its_orchestrator_dies(
        python: Path, probe: Path, workdir: Path, tmp_path: Path) -> None:
    """Killed with SIGKILL, the orchestrator cannot discard anything: the command must see
    its stdin close and go, without running its script."""
    report, log = tmp_path / "report.json", tmp_path / "hub.log"
    orchestrator = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys, time\n"
            "from pathlib import Path\n"
            "from hubshift.system.execute import child_env\n"
            "from hubshift.system.warm import WarmCommand\n"
            f"c = WarmCommand(Path({str(python)!r}), Path({str(probe)!r}), [{str(report)!r}],"
            f" env=child_env(), cwd=Path({str(workdir)!r}), log_path=Path({str(log)!r}))\n"
            "c.wait_ready(120)\n"
            "print(c.pid, flush=True)\n"
            "time.sleep(600)\n")],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    assert orchestrator.stdout is not None
    warm_pid = int(orchestrator.stdout.readline())
    assert procs.alive(warm_pid)
    os.kill(orchestrator.pid, signal.SIGKILL)
    orchestrator.wait()
    deadline = time.monotonic() + 10
    while procs.alive(warm_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not procs.alive(warm_pid), "the warm command outlived its orchestrator"
    assert not report.exists()


def test_a_release_that_cannot_import_jupyterhub_fails_before_it_is_ready(
        python: Path, probe: Path, workdir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken" / "jupyterhub"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise ImportError('broken on purpose')\n")
    command = WarmCommand(python, probe, [], cwd=workdir,
                          env=child_env(extra={"PYTHONPATH": str(broken.parent)}))
    with pytest.raises(WarmError) as failed:
        command.wait_ready(120)
    assert "broken on purpose" in str(failed.value)
    assert str(python) in str(failed.value)
    command.discard()
