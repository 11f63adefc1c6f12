"""Run the target release's own `jupyterhub upgrade-db`, then check where it left the schema.

`upgrade-db` calls `alembic` from PATH, so the target venv's `bin` goes first on PATH; the
database URL stays inside the hub's config file, never on a command line.
"""

from __future__ import annotations

import re

from hubshift.config import HubConfig
from hubshift.databases import database_for
from hubshift.errors import MigrationError
from hubshift.execute import child_env, run
from hubshift.installers import Install

UPGRADE_DB_TIMEOUT = 1800

#: alembic's log line for each revision it applies: "Running upgrade 0eee -> 3c23, title".
_RAN = re.compile(r"Running upgrade (?:\w+)? ?-> (\w+)")


def revisions_run(output: str) -> list[str]:
    """The revisions alembic's log says it applied, in order."""
    return _RAN.findall(output)


def upgrade_db(hub: HubConfig, install: Install, expected_revision: str,
               timeout: float = UPGRADE_DB_TIMEOUT) -> list[str]:
    """Migrate the hub database with `install`'s JupyterHub; return the revisions alembic
    ran, as its log tells them (the plan's list, checked against what really happened).

    Raises MigrationError (with upgrade-db's redacted output) when it fails or stops short
    of `expected_revision`, the head the target release ships.
    """
    bin_dir = install.path / "bin"
    result = run(
        [bin_dir / "jupyterhub", "upgrade-db", "-f", hub.config_file],
        env=child_env(path_first=[bin_dir], extra=hub.runtime.env),
        cwd=hub.runtime.workdir,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise MigrationError(f"jupyterhub upgrade-db exited {result.returncode}: {result.tail}",
                             hub=hub.name, step="migrate")
    reached = database_for(hub.db_url.get_secret_value()).revision()
    if reached != expected_revision:
        raise MigrationError(
            f"upgrade-db left the database at revision {reached}, expected {expected_revision}",
            hub=hub.name, step="migrate",
        )
    return revisions_run(result.output)
