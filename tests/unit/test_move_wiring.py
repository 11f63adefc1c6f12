"""Where a hub's config takes its db_url from, read without running it; the new URL as a
${VAR} reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubshift.errors import ConfigError, PreflightError
from hubshift.move.url import expand_url
from hubshift.move.wiring import db_url_mismatch, db_url_variable, same_database


def _config(tmp_path: Path, line: str) -> Path:
    path = tmp_path / "jupyterhub_config.py"
    path.write_text(f"import os\nfrom os import environ\nc = get_config()\n{line}\n")
    return path


@pytest.mark.parametrize("line", [
    'c.JupyterHub.db_url = os.environ["HUB_DB"]',
    'c.JupyterHub.db_url = os.environ.get("HUB_DB", "sqlite:///x.sqlite")',
    'c.JupyterHub.db_url = os.environ.get("HUB_DB") or "sqlite:///x.sqlite"',
    'c.JupyterHub.db_url = os.getenv("HUB_DB", "sqlite:///x.sqlite")',
    'c.JupyterHub.db_url = environ["HUB_DB"]',
])
def test_the_variable_a_config_reads_its_db_url_from(tmp_path: Path, line: str) -> None:
    assert db_url_variable(_config(tmp_path, line)) == "HUB_DB"


@pytest.mark.parametrize(("line", "said"), [
    ('c.JupyterHub.db_url = "sqlite:///jupyterhub.sqlite"', "hard-codes"),
    ('c.JupyterHub.db_url = f"sqlite:///{1}.sqlite"', "hard-codes"),
    ('c.JupyterHub.db_url = open("/srv/url").read()', "cannot change"),
    ('c.JupyterHub.admin_users = {"a"}', "sets no c.JupyterHub.db_url"),
])
def test_a_db_url_hubshift_cannot_change_is_refused_naming_the_options(
        tmp_path: Path, line: str, said: str) -> None:
    with pytest.raises(PreflightError) as refused:
        db_url_variable(_config(tmp_path, line), hub="physics")
    assert refused.value.exit_code == 2
    assert said in refused.value.message and 'os.environ["JUPYTERHUB_DB_URL"]' in \
        refused.value.message


def test_the_last_assignment_wins(tmp_path: Path) -> None:
    path = _config(tmp_path, 'c.JupyterHub.db_url = "sqlite:///a.sqlite"\n'
                             'c.JupyterHub.db_url = os.environ["HUB_DB"]')
    assert db_url_variable(path) == "HUB_DB"


def test_same_database_whatever_the_driver() -> None:
    assert same_database("postgresql://u:p@h:5432/hub", "postgresql+psycopg2://u@h/hub")
    assert not same_database("postgresql://u@h/hub", "postgresql://u@h/other")
    assert not same_database("sqlite:////srv/hub.sqlite", "postgresql://u@h/hub")
    assert same_database("sqlite:////srv/./hub.sqlite", "sqlite:////srv/hub.sqlite")


def test_a_db_url_the_runtime_overrides_is_a_mismatch(tmp_path: Path) -> None:
    config = _config(tmp_path, 'c.JupyterHub.db_url = os.environ.get("HUB_DB", "x")')
    sqlite = "sqlite:////srv/hub.sqlite"
    assert db_url_mismatch(config, sqlite, {}) is None
    assert db_url_mismatch(config, sqlite, {"HUB_DB": sqlite}) is None
    said = db_url_mismatch(config, sqlite, {"HUB_DB": "postgresql://u:secret@h/hub"})
    assert said is not None and "$HUB_DB" in said and "secret" not in said


def test_the_new_url_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEW_DB", "postgresql://hub:s3cret@db/hub")
    assert expand_url("${NEW_DB}") == "postgresql://hub:s3cret@db/hub"
    assert expand_url("postgresql://hub@db/hub") == "postgresql://hub@db/hub"
    with pytest.raises(ConfigError, match="must be given as"):
        expand_url("postgresql://hub:s3cret@db/hub")
    with pytest.raises(ConfigError, match="is not set"):
        expand_url("${NOT_SET_ANYWHERE}")
