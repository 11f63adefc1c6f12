"""The `Installer` contract (hubshift/backends/installers/base.py), run against every
installer with real JupyterHub environments: 4.1.6 installed, 5.5.4 prepared beside it
(or staged for it), switched to and back.

Each installer gets one fresh hub environment for the whole module (a venv cannot be
copied: its scripts hold absolute paths), and every test leaves it on 4.1.6 as it found it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hubshift.backends.installers import INSTALLERS, Install, Installer, installer_for
from hubshift.backends.installers.inplace import InplaceInstaller
from hubshift.backends.installers.pip import requirements_for
from hubshift.config import HubConfig
from hubshift.errors import InstallError
from hubshift.system import paths
from tests.support.envs import build_env
from tests.support.hubs import NEW_VERSION, OLD_VERSION

pytestmark = pytest.mark.integration


def _config(kind: str, env: Path, root: Path) -> HubConfig:
    return HubConfig.model_validate({
        "name": f"contract-{kind}", "config_file": str(root / "jupyterhub_config.py"),
        "db_url": f"sqlite:///{root / 'jupyterhub.sqlite'}",
        "api_url": "http://127.0.0.1:1/hub/api", "api_token": "t0ken",
        "install": {"kind": kind, "venv": str(env)},
        "runtime": {"kind": "process", "workdir": str(root)}})


@dataclass
class Prepared:
    installer: Installer
    before: Install          #: what the hub ran from when the test began
    freeze: str              #: its package list then
    target: Install          #: 5.5.4, prepared and not switched to
    root: Path


def _version(installer: Installer, install: Install, root: Path) -> str:
    answer = installer.command(install).run(["--version"], cwd=root, timeout=120)
    assert answer.returncode == 0, answer.tail
    return answer.output.strip().splitlines()[-1]


@pytest.fixture(scope="module", params=sorted(INSTALLERS))
def prepared(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prepared]:
    """A hub env with JupyterHub 4.1.6 and, ready for it, 5.5.4 (downloaded, checked,
    prepared as preflight and the prepare step do)."""
    kind = request.param
    root = tmp_path_factory.mktemp(f"installer-{kind}")
    env = root / "hub-env"
    build_env(env, requirements_for(OLD_VERSION))
    installer = installer_for(_config(kind, env, root))
    wheelhouse = paths.wheelhouse()
    installer.download(NEW_VERSION, wheelhouse)
    assert installer.check(NEW_VERSION, wheelhouse) == []
    before = installer.current()
    target = installer.prepare(NEW_VERSION, wheelhouse=wheelhouse)
    yield Prepared(installer, before, installer.package_list(before), target, root)


@pytest.fixture
def on_old(prepared: Prepared) -> Prepared:
    """The module's env, checked to be on 4.1.6 with its package list as at the start."""
    current = prepared.installer.current()
    assert current.version == OLD_VERSION
    assert prepared.installer.package_list(current) == prepared.freeze
    return prepared


def test_prepare_makes_the_target_runnable_before_the_switch(on_old: Prepared) -> None:
    installer = on_old.installer
    assert on_old.target.version == NEW_VERSION
    assert _version(installer, on_old.target, on_old.root) == NEW_VERSION
    # The hub still runs its old version, untouched.
    assert installer.current().version == OLD_VERSION
    assert _version(installer, installer.current(), on_old.root) == OLD_VERSION
    # Prepared twice: the same install, reused.
    assert installer.prepare(NEW_VERSION, wheelhouse=paths.wheelhouse()) == on_old.target


def test_switch_and_its_undo_are_each_safe_twice(on_old: Prepared) -> None:
    installer = on_old.installer
    previous = installer.switch(on_old.target)
    assert previous.version == OLD_VERSION
    installer.switch(on_old.target)
    assert installer.current().version == NEW_VERSION
    hub = installer.hub_command(installer.current()).run(["--version"], cwd=on_old.root,
                                                         timeout=120)
    assert hub.output.strip().splitlines()[-1] == NEW_VERSION

    installer.switch(previous)
    installer.switch(previous)
    assert installer.current().version == OLD_VERSION
    assert installer.package_list(installer.current()) == on_old.freeze
    assert _version(installer, installer.current(), on_old.root) == OLD_VERSION


def test_recover_gives_back_the_install_a_backup_names(on_old: Prepared) -> None:
    """What a rollback does: the backup recorded `current()` and its package list; after the
    switch, `recover` of that record is an install that switching to restores exactly."""
    installer = on_old.installer
    recorded, package_list = installer.current(), on_old.freeze
    installer.switch(on_old.target)
    recovered = installer.recover(recorded.version, recorded.location, package_list)
    installer.switch(recovered)
    assert installer.current().version == OLD_VERSION
    assert installer.package_list(installer.current()) == on_old.freeze


@pytest.mark.parametrize("prepared", ["inplace"], indirect=True)
def test_inplace_recover_rebuilds_a_lost_package_list_from_the_backup(
    on_old: Prepared
) -> None:
    """$HUBSHIFT_HOME lost between the switch and the rollback (another orchestrator, a
    wiped cache): the backup's `pip freeze` is enough to go back exactly."""
    installer = on_old.installer
    assert isinstance(installer, InplaceInstaller)
    recorded = installer.current()
    installer.switch(on_old.target)
    kept = installer.where(recorded).path
    assert kept is not None and kept.exists()
    kept.unlink()
    with pytest.raises(InstallError, match="gone"):
        installer.recover(recorded.version, recorded.location, None)
    recovered = installer.recover(recorded.version, recorded.location, on_old.freeze)
    installer.switch(recovered)
    assert installer.package_list(installer.current()) == on_old.freeze


@pytest.mark.parametrize("kind", sorted(INSTALLERS))
def test_a_missing_env_is_an_install_error_naming_the_path(kind: str, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-env"
    with pytest.raises(InstallError) as failed:
        installer_for(_config(kind, missing, tmp_path)).current()
    assert str(missing) in str(failed.value)
