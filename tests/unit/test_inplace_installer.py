"""The in-place installer's own reading of the world: pip's conflict sentences, a package
list read back from a backup, where its installs live, and what can be preloaded.
(Real envs, real pip: tests/contract/test_installer_contract.py.)"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hubshift.backends.installers import Install, installer_for
from hubshift.backends.installers.inplace import (
    InplaceInstaller,
    StagedTarget,
    _write,
    packages_from_freeze,
)
from hubshift.backends.installers.pip import conflicts_in
from hubshift.config import HubConfig
from hubshift.errors import InstallError

PIP_CONFLICT = """\
Requirement already satisfied: site-authenticator==1.0 in ./env/lib/python3.11/site-packages
INFO: pip is looking at multiple versions of site-authenticator to determine which version is compatible
ERROR: Cannot install jupyterhub==5.5.4 and site-authenticator==1.0 because these package versions have conflicting dependencies.

The conflict is caused by:
    The user requested jupyterhub==5.5.4
    site-authenticator 1.0 depends on jupyterhub<5

To fix this you could try to:
"""  # noqa: E501 - pip's own lines


def _hub(tmp_path: Path, env: Path) -> HubConfig:
    return HubConfig.model_validate({
        "name": "physics", "config_file": str(tmp_path / "jupyterhub_config.py"),
        "db_url": "sqlite:////srv/x.sqlite", "api_url": "http://127.0.0.1:1/hub/api",
        "api_token": "t0ken", "install": {"kind": "inplace", "venv": str(env)},
        "runtime": {"kind": "process", "workdir": str(tmp_path)}})


def _env(path: Path, packages: dict[str, str]) -> Path:
    """A real (pip-less) venv whose metadata folders say it holds `packages`."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", path], check=True)
    site = next(path.glob("lib/python*/site-packages"))
    for name, version in packages.items():
        info = site / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    return path


def test_a_conflict_is_read_from_pips_own_sentence_naming_the_package() -> None:
    assert conflicts_in(PIP_CONFLICT) == ["site-authenticator 1.0 depends on jupyterhub<5"]


def test_a_package_list_from_a_backup_pins_what_it_can_and_keeps_the_rest() -> None:
    freeze = ("alembic==1.20.1\nJinja2==3.1.6\n"
              "site-authenticator @ file:///srv/wheels/site_authenticator-1.0-py3-none-any.whl\n"
              "# Editable install with no version control (hub-tweaks==0.1)\n-e /srv/tweaks\n"
              "-e git+https://example.org/x.git@abc#egg=x_plugin\n")
    assert packages_from_freeze(freeze) == {
        "alembic": "1.20.1", "jinja2": "3.1.6", "site-authenticator": None,
        "hub-tweaks": None, "x-plugin": None,
        "pip": None, "setuptools": None, "wheel": None, "distribute": None}


def test_a_missing_env_is_an_install_error_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(InstallError, match=rf"env {tmp_path / 'hub'} does not exist"):
        installer_for(_hub(tmp_path, tmp_path / "hub")).current()


def test_the_current_install_names_the_env_and_its_package_set(tmp_path: Path) -> None:
    env = _env(tmp_path / "hub", {"jupyterhub": "4.1.6", "alembic": "1.20.1"})
    installer = installer_for(_hub(tmp_path, env))
    current = installer.current()
    assert current.version == "4.1.6"
    assert current.location.startswith(f"{env} (packages: ")
    assert installer.holds(current)
    assert installer.current() == current  # the same set, the same location


def test_the_hubs_start_is_preloaded_only_from_the_set_the_env_holds(tmp_path: Path) -> None:
    env = _env(tmp_path / "hub", {"jupyterhub": "4.1.6"})
    installer = installer_for(_hub(tmp_path, env))
    assert isinstance(installer, InplaceInstaller)
    current = installer.current()
    folder = installer.root / "staged" / "5.5.4-x"
    _write(folder / "plan.json", StagedTarget(
        version="5.5.4", env=str(env), base="x", target="y", install=["jupyterhub==5.5.4"],
        packages={"jupyterhub": "5.5.4"}))
    staged = Install("5.5.4", f"{env} (staged: {folder})")

    assert installer.hub_command(current).warmable
    before_switch = installer.hub_command(staged)
    assert before_switch.script == env / "bin" / "jupyterhub"
    assert not before_switch.warmable
    assert before_switch.warm(["-f", "x.py"], cwd=tmp_path) is None
    with pytest.raises(InstallError, match="not prepared"):
        installer.command(staged)  # no staging venv was built
