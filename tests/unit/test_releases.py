"""`latest` and major versions, resolved by pip's JSON report against a real (local) index.

The index is a folder of wheels pip reads with `--find-links` and no network, so these run
the real pip mechanism offline; an index on a closed port stands for one that is down.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from hubshift.errors import PreflightError
from hubshift.plan.releases import (
    Unreachable,
    is_symbolic,
    newest_of_majors,
    requirement_for,
    resolve_target,
)
from hubshift.plan.wheelhouse import requires_python
from hubshift_lab.sandbox import free_port

RELEASES = ["4.1.6", "5.5.3", "5.5.4", "6.0.0", "6.1.1", "7.0.0rc1"]


def _wheel(folder: Path, version: str, requires: str = ">=3.10") -> Path:
    path = folder / f"jupyterhub-{version}-py3-none-any.whl"
    info = f"jupyterhub-{version}.dist-info"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: jupyterhub\n"
                                             f"Version: {version}\nRequires-Python: {requires}\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip sees only these releases (7.0.0rc1 wants a Python nobody has: ignored on purpose)."""
    folder = tmp_path / "index"
    folder.mkdir()
    for version in RELEASES:
        _wheel(folder, version, ">=3.99" if version.startswith("7") else ">=3.10")
    for name, value in {"PIP_CONFIG_FILE": "/dev/null", "PIP_NO_INDEX": "1",
                        "PIP_FIND_LINKS": str(folder)}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    return folder


def test_what_is_symbolic() -> None:
    assert is_symbolic("latest") and is_symbolic("6") and is_symbolic(" 6 ")
    assert not is_symbolic("6.1.1") and not is_symbolic("6.1") and not is_symbolic("6.0.0b2")
    assert requirement_for("latest") == "jupyterhub"
    assert requirement_for("6") == "jupyterhub>=6,<7"


def test_latest_and_majors_resolve_to_the_newest_final_release(local_index: Path) -> None:
    assert resolve_target("latest") == "6.1.1"
    assert resolve_target("5") == "5.5.4"
    assert resolve_target("6.0.0") == "6.0.0"  # exact: the index is not even asked
    assert newest_of_majors([4, 5, 6]) == {4: "4.1.6", 5: "5.5.4", 6: "6.1.1"}
    assert newest_of_majors([]) == {}


def test_pre_releases_count_only_when_asked(local_index: Path) -> None:
    assert resolve_target("latest", pre=True) == "7.0.0rc1"
    assert resolve_target("7", pre=True) == "7.0.0rc1"
    with pytest.raises(PreflightError, match="no final release of JupyterHub 7.x"):
        resolve_target("7")


def test_a_major_version_without_releases_is_refused(local_index: Path) -> None:
    with pytest.raises(PreflightError) as caught:
        resolve_target("99", hub="physics")
    assert caught.value.exit_code == 2 and not isinstance(caught.value, Unreachable)
    assert "--to 99: the package index has no final release of JupyterHub 99.x" in str(
        caught.value)
    assert newest_of_majors([3, 5]) == {5: "5.5.4"}


def test_an_index_that_cannot_be_read_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{free_port()}/simple")
    monkeypatch.setenv("PIP_RETRIES", "0")
    for name in ("PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(Unreachable) as caught:
        resolve_target("latest", hub="physics")
    assert caught.value.exit_code == 2
    assert "cannot ask the package index which release jupyterhub means" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_requires_python_is_read_from_the_wheel(tmp_path: Path) -> None:
    assert requires_python(_wheel(tmp_path, "6.1.1", ">=3.10")) == ">=3.10"
