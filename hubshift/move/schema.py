"""The target's schema, created by the hub's own JupyterHub release as at its first start.

`jupyterhub.orm.new_session_factory(url)` (the same in 4.x, 5.x and 6.x) creates every
table of that release's ORM and stamps alembic's head on an empty database: the types,
indexes and revision are then exactly those the release expects, which a schema hubshift
wrote itself could only imitate. The URL reaches the script through the environment, never
its arguments.
"""

from __future__ import annotations

from pathlib import Path

from hubshift.backends.installers.base import HubCommand
from hubshift.errors import PreflightError

#: The variable the script reads the target URL from.
URL_ENV = "HUBSHIFT_MOVE_DB_URL"
#: Seconds JupyterHub's import and the schema's creation may take.
TIMEOUT = 300

SCRIPT = f"""\
import os
from jupyterhub import orm
factory = orm.new_session_factory(os.environ[{URL_ENV!r}])
factory.kw["bind"].dispose()
"""


def create_schema(command: HubCommand, url: str, *, cwd: Path, password: str | None,
                  hub: str | None = None) -> None:
    """Create JupyterHub's schema at `url` (as the hub spells it: the hub's own driver) with
    the release `command` runs. Raises PreflightError (exit 2) quoting the release's own
    words (redacted), e.g. a driver its environment lacks."""
    done = command.python_run(["-c", SCRIPT], cwd=cwd, extra_env={URL_ENV: url},
                              timeout=TIMEOUT, secrets=[password or "", url])
    if done.returncode != 0:
        raise PreflightError(
            f"the hub's JupyterHub could not create its schema in the target database: "
            f"{done.tail}", hub=hub, step="move-schema",
            hint="its environment needs the target's driver (psycopg or psycopg2 for "
                 "PostgreSQL, pymysql or mysqlclient for MySQL) as the URL names it")
