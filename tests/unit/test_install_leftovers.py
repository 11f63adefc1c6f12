"""Which old venvs prune may remove: releases and stepping stones older than the one the hub
runs, that no kept backup goes back to; never the running one, never a newer one."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubshift.backends.installers import Install, installer_for
from hubshift.errors import InstallError
from tests.unit.test_venv_installer import _fake_venv, _hub


def test_old_venvs_no_kept_backup_needs_are_leftovers(tmp_path: Path) -> None:
    venvs = {v: _fake_venv(tmp_path / f"venv-{v}", v)
             for v in ("3.1.1", "4.1.6", "5.5.4", "6.1.1")}
    (tmp_path / "venv").symlink_to(venvs["5.5.4"])
    (tmp_path / "venv-mine").mkdir()  # not a release: the admin's own folder
    (tmp_path / "venv-2.0.0").mkdir()  # named like one, but no venv in it
    installer = installer_for(_hub(tmp_path))

    kept_backup_target = Install("3.1.1", str(venvs["3.1.1"]))
    assert installer.leftovers([kept_backup_target]) == [Install("4.1.6", str(venvs["4.1.6"]))]
    # Nothing kept needs 3.1.1: it goes too; 6.1.1 (prepared ahead) and the running 5.5.4 never.
    assert [i.version for i in installer.leftovers([])] == ["3.1.1", "4.1.6"]

    installer.remove(Install("4.1.6", str(venvs["4.1.6"])))
    installer.remove(Install("4.1.6", str(venvs["4.1.6"])))  # safe twice
    assert not venvs["4.1.6"].exists() and (tmp_path / "venv-mine").is_dir()
    with pytest.raises(InstallError, match="the venv the hub runs from"):
        installer.remove(Install("5.5.4", str(venvs["5.5.4"])))
    with pytest.raises(InstallError, match="not a venv hubshift built"):
        installer.remove(Install("1.0", str(tmp_path / "elsewhere")))
    assert installer.current() == Install("5.5.4", str(venvs["5.5.4"]))


def test_a_backup_recorded_before_adoption_keeps_the_adopted_venv(tmp_path: Path) -> None:
    _fake_venv(tmp_path / "venv", "4.1.6")
    new = _fake_venv(tmp_path / "venv-5.5.4", "5.5.4")
    installer = installer_for(_hub(tmp_path))
    recorded = installer.current()  # <venv> itself, as the backup's manifest says
    installer.switch(Install("5.5.4", str(new)))  # adopts it as venv-4.1.6
    assert installer.leftovers([recorded]) == []
    assert installer.leftovers([]) == [Install("4.1.6", str(tmp_path / "venv-4.1.6"))]
