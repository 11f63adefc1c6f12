"""The rehearsal's pieces without a hub: the config that isolates the rehearsal hub (as a
real JupyterHub release's traitlets loads it, from its cached venv), the removal of a killed
run's leftovers, and how the result and the report give the rehearsal apart from the
downtime."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from hubshift.config import HubConfig
from hubshift.plan import rehearsal
from hubshift.report import render_markdown
from hubshift.result import Rehearsal, Status, UpgradeResult
from hubshift.system import paths
from hubshift.system.execute import run
from hubshift.window.owner import Owner
from tests.support.hubs import NEW_VERSION, jupyterhub_venv

#: A hub config as operators write them: an external proxy whose pid file sits in the hub's
#: working directory, a managed service (the idle culler), a real authenticator.
HUB_CONFIG = """\
c = get_config()  # noqa: F821
c.JupyterHub.db_url = "sqlite:///live.sqlite"
c.JupyterHub.port = 8000
c.JupyterHub.hub_port = 8081
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:8001"
c.JupyterHub.cleanup_servers = True
c.JupyterHub.authenticator_class = "jupyterhub.auth.DummyAuthenticator"
c.JupyterHub.services = [
    {"name": "idle-culler", "command": ["python3", "-m", "jupyterhub_idle_culler"],
     "environment": {"X": "1"}},
    {"name": "hubshift", "api_token": "t"},
]
"""

#: Prints what the release's own traitlets loader makes of a config file.
LOAD = """\
import json, sys
from traitlets.config.loader import PyFileConfigLoader
config = PyFileConfigLoader(sys.argv[1]).load_config()
jh, chp = config.JupyterHub, config.ConfigurableHTTPProxy
print(json.dumps({
    "db_url": jh.db_url, "port": jh.port, "hub_port": jh.hub_port, "bind_url": jh.bind_url,
    "should_start": chp.should_start, "api_url": chp.api_url, "pid_file": chp.pid_file,
    "cleanup_servers": jh.cleanup_servers, "services": jh.services,
    "authenticator_class": jh.authenticator_class, "hub_pid_file": jh.pid_file,
}))
"""


def _hub(tmp_path: Path) -> HubConfig:
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(HUB_CONFIG)
    return HubConfig.model_validate({
        "name": "physics", "config_file": str(config),
        "db_url": f"sqlite:///{tmp_path / 'live.sqlite'}",
        "api_url": "http://127.0.0.1:8000/jhub/hub/api", "api_token": "t",
        "install": {"kind": "venv", "venv": str(tmp_path / "venv")},
        "runtime": {"kind": "process", "workdir": str(tmp_path)}})


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HUBSHIFT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.mark.integration  # loads the config with a real release's traitlets
def test_the_rehearsal_hub_gets_its_own_proxy_ports_and_files_and_starts_no_service(
        tmp_path: Path, home: Path) -> None:
    hub = _hub(tmp_path)
    scratch = rehearsal._Scratch.create(hub)
    copy_url = f"sqlite:///{scratch.folder / 'copy.sqlite'}"
    config = scratch.write_config(hub, copy_url, {
        "public_port": 40001, "hub_port": 40002, "proxy_port": 40003, "base_url": "/jhub/"})
    assert config.stat().st_mode & 0o077 == 0  # the copy's URL may hold a password
    python = jupyterhub_venv(NEW_VERSION) / "bin" / "python"
    done = run([python, "-c", LOAD, config], cwd=tmp_path, timeout=60, output_is_data=True)
    assert done.returncode == 0, done.output
    loaded = json.loads(done.output.strip().splitlines()[-1])
    assert loaded["db_url"] == copy_url
    assert (loaded["port"], loaded["hub_port"]) == (40001, 40002)
    assert loaded["bind_url"] == "http://127.0.0.1:40001/jhub/"
    assert loaded["should_start"] is True
    assert loaded["api_url"] == "http://127.0.0.1:40003"
    assert loaded["pid_file"] == str(scratch.folder / "proxy.pid")
    assert loaded["hub_pid_file"] == str(scratch.folder / "hub.pid")
    assert loaded["cleanup_servers"] is False
    assert loaded["services"] == [{"name": "idle-culler"},
                                  {"name": "hubshift", "api_token": "t"}]
    # The hub's own settings are kept.
    assert loaded["authenticator_class"] == "jupyterhub.auth.DummyAuthenticator"


def test_the_next_rehearsal_removes_a_killed_ones_folder_and_spares_a_live_one(
        tmp_path: Path, home: Path) -> None:
    hub = _hub(tmp_path)
    gone = subprocess.Popen(["sleep", "0"])
    gone.wait()
    dead_owner = Owner.this_process().model_copy(update={"pid": gone.pid})
    root = paths.home() / "rehearse" / hub.name
    root.mkdir(parents=True)
    killed = root / f"{gone.pid}_abcdef"
    killed.mkdir()
    (killed / "copy.sqlite").write_text("")
    (killed / "state.json").write_text(json.dumps({"owner": dead_owner.model_dump()}))
    live = rehearsal._Scratch.create(hub)  # this process: alive

    cleaned = rehearsal.clean_leftovers(hub)
    assert cleaned == [f"folder {killed.name}"]
    assert not killed.exists() and live.folder.exists()


def test_the_result_and_the_report_give_the_rehearsal_apart_from_the_downtime() -> None:
    rehearsed = Rehearsal(seconds=20.5, copy_seconds=0.1, migrate_seconds=12.0,
                          start_seconds=7.9, engine="sqlite", hops=["6.1.1"])
    result = UpgradeResult(hub="physics", status=Status.UPGRADED, from_version="5.5.4",
                           to_version="6.1.1", downtime_seconds=3.2, rehearsal=rehearsed)
    report = render_markdown(result)
    assert ("| rehearsal (hub up) | rehearsed in 20.5 s (copy 0.1 s, migrate 12.0 s, "
            "start 7.9 s) |") in report
    assert "| downtime | 3.2 s |" in report
    assert result.model_dump()["rehearsal"]["migrate_seconds"] == 12.0
    failed = Rehearsal(status="failed", failed_at="migrate 6.1.1", seconds=3.0,
                       copy_seconds=0.1)
    assert failed.summary() == "failed at migrate 6.1.1 in 3.0 s (copy 0.1 s)"


def test_the_hubs_base_url_comes_from_its_api_url() -> None:
    assert rehearsal._base_url("http://h:8000/hub/api") == "/"
    assert rehearsal._base_url("http://h:8000/jhub/hub/api/") == "/jhub/"
