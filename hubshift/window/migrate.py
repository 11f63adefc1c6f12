"""Run the target release's own `jupyterhub upgrade-db`, then check where it left the schema.

It runs as the installer says that release runs (`alembic` from its PATH) where the runtime
says the hub runs (its working directory and environment, so the config loads alike); the
database URL stays inside the hub's config file, never on a command line. The command can be
loaded before the downtime (`preload_upgrade_db`): the same command, its imports done early.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from hubshift.backends.databases import Database, database_for
from hubshift.backends.installers import Install
from hubshift.backends.runtimes import runtime_for
from hubshift.config import HubConfig
from hubshift.errors import CommandError, MigrationError
from hubshift.system.execute import Result
from hubshift.system.warm import WarmCommand

UPGRADE_DB_TIMEOUT = 1800

#: alembic's log line for each revision it applies: "Running upgrade 0eee -> 3c23, title".
_RAN = re.compile(r"Running upgrade (?:\w+)? ?-> (\w+)")


def revisions_run(output: str) -> list[str]:
    """The revisions alembic's log says it applied, in order."""
    return _RAN.findall(output)


def _args(hub: HubConfig, config_file: Path | None = None) -> list[str | os.PathLike[str]]:
    """The arguments of `jupyterhub` for the migration, run cold or preloaded."""
    return ["upgrade-db", "-f", config_file or hub.config_file]


def preload_upgrade_db(hub: HubConfig, install: Install) -> WarmCommand | None:
    """`install`'s `jupyterhub upgrade-db`, loaded now and run by `upgrade_db` later, where
    and with the variables the hub runs with (its config must load as the hub's does);
    None when the installer says that command cannot be loaded ahead."""
    runtime = runtime_for(hub)
    where = runtime.environment()
    return runtime.installer.command(install).warm(_args(hub), cwd=where.cwd,
                                                   extra_env=where.env)


def upgrade_db(hub: HubConfig, install: Install, expected_revision: str,
               warm: WarmCommand | None = None,
               timeout: float = UPGRADE_DB_TIMEOUT, *, config_file: Path | None = None,
               database: Database | None = None, step: str = "migrate") -> list[str]:
    """Migrate the hub database with `install`'s JupyterHub; return the revisions alembic
    ran, as its log tells them (the plan's list, checked against what really happened).
    `warm` is that same command from `preload_upgrade_db`, if one was loaded.

    Raises MigrationError (with upgrade-db's redacted output) when it fails, cannot run,
    runs past `timeout`, or stops short of `expected_revision`, the head the target release
    ships. A rehearsal runs the same command on its copy: `config_file` is a config that
    loads the hub's own and points it at `database`, the copy whose revision is checked.
    """
    result: Result
    try:
        if warm is not None:
            result = warm.finish(timeout)
        else:
            runtime = runtime_for(hub)
            where = runtime.environment()
            result = runtime.installer.command(install).run(
                _args(hub, config_file), cwd=where.cwd, extra_env=where.env, timeout=timeout)
    except CommandError as err:  # it never ran, or was killed at `timeout`
        raise MigrationError(f"jupyterhub upgrade-db: {err.message}", hub=hub.name,
                             step=step) from err
    if result.returncode != 0:
        # alembic logs each revision before it runs it: the last one logged is where it broke.
        began = revisions_run(result.output)
        where = f" in revision {began[-1]}" if began else ""
        raise MigrationError(f"jupyterhub upgrade-db exited {result.returncode}{where}: "
                             f"{result.tail}", hub=hub.name, step=step)
    db = database or database_for(hub.db_url.get_secret_value())
    reached = db.revision()
    if reached != expected_revision:
        raise MigrationError(
            f"upgrade-db left the database at revision {reached}, expected {expected_revision}",
            hub=hub.name, step=step,
        )
    return revisions_run(result.output)
