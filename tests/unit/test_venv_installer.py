"""Side-by-side venvs: switching is a symlink flip, undone by switching back; a plain
directory is adopted at its first switch and still works afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hubshift.backends.installers import Install, installer_for
from hubshift.config import HubConfig
from hubshift.errors import InstallError


def _fake_venv(path: Path, version: str) -> Path:
    """A real (pip-less) venv that reports JupyterHub `version` to importlib.metadata."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    site = next(path.glob("lib/python*/site-packages"))
    info = site / f"jupyterhub-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: jupyterhub\nVersion: {version}\n")
    return path


def _hub(tmp_path: Path) -> HubConfig:
    return HubConfig.model_validate({
        "name": "physics", "config_file": str(tmp_path / "jupyterhub_config.py"),
        "db_url": "sqlite:////srv/x.sqlite", "api_url": "http://127.0.0.1:1/hub/api",
        "api_token": "t0ken", "install": {"kind": "venv", "venv": str(tmp_path / "venv")},
        "runtime": {"kind": "process", "workdir": str(tmp_path)},
    })


def test_switch_flips_the_symlink_and_switching_back_undoes_it(tmp_path: Path) -> None:
    old = _fake_venv(tmp_path / "venv-4.1.6", "4.1.6")
    new = _fake_venv(tmp_path / "venv-5.5.4", "5.5.4")
    (tmp_path / "venv").symlink_to(old)
    installer = installer_for(_hub(tmp_path))
    assert installer.current() == Install("4.1.6", str(old))

    previous = installer.switch(Install("5.5.4", str(new)))
    assert previous == Install("4.1.6", str(old))
    assert installer.current() == Install("5.5.4", str(new))
    installer.switch(previous)
    installer.switch(previous)  # safe twice
    assert installer.current() == Install("4.1.6", str(old))
    assert not list(tmp_path.glob(".venv.hubshift-tmp"))


def test_a_plain_venv_directory_is_adopted_at_its_first_switch(tmp_path: Path) -> None:
    _fake_venv(tmp_path / "venv", "4.1.6")
    new = _fake_venv(tmp_path / "venv-5.5.4", "5.5.4")
    installer = installer_for(_hub(tmp_path))
    recorded = installer.current()  # what a backup records: the plain directory
    assert recorded == Install("4.1.6", str(tmp_path / "venv"))

    previous = installer.switch(Install("5.5.4", str(new)))
    assert previous == Install("4.1.6", str(tmp_path / "venv-4.1.6"))
    assert (tmp_path / "venv").is_symlink()
    assert installer.current().version == "5.5.4"
    installer.switch(recorded)  # the recorded path now lives under its version
    assert installer.current() == Install("4.1.6", str(tmp_path / "venv-4.1.6"))
    # The adopted venv's own python still runs through the link.
    python = tmp_path / "venv" / "bin" / "python"
    out = subprocess.run([python, "-c", "import sys; print(sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(tmp_path / "venv")


def test_a_missing_venv_is_an_install_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=r"venv .*/venv does not exist"):
        installer_for(_hub(tmp_path)).current()


def test_new_venvs_are_made_from_the_python_of_the_hubs_venv(tmp_path: Path) -> None:
    import platform

    _fake_venv(tmp_path / "venv", "5.5.4")
    installer = installer_for(_hub(tmp_path))
    base = installer.base_python()
    assert base.is_file() and tmp_path not in base.parents
    assert installer.python_version(installer.current()) == platform.python_version()
    # A venv whose pyvenv.cfg names no interpreter that exists cannot tell: an error.
    (tmp_path / "venv" / "pyvenv.cfg").write_text("home = /nonexistent\nversion = 3.9.18\n")
    (tmp_path / "venv" / "bin" / "python").unlink()
    (tmp_path / "venv" / "bin" / "python").write_text("")
    with pytest.raises(InstallError, match="cannot tell which Python"):
        installer.base_python()
