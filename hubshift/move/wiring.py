"""Where the hub's config takes its `db_url` from: the one thing hubshift may change is an
environment variable, so a config that spells the URL out is refused before the window.

The config file is parsed, never run: running it would start the side effects of a hub's
config (reading secrets, importing spawners) inside hubshift.
"""

from __future__ import annotations

import ast
from pathlib import Path

from hubshift.errors import PreflightError

#: How the refusal names the ways a config can take its URL from the environment.
OPTIONS = ('c.JupyterHub.db_url = os.environ["JUPYTERHUB_DB_URL"], or '
           'os.environ.get("JUPYTERHUB_DB_URL", "sqlite:///..."), or os.getenv(...)')


def _is_db_url_target(node: ast.expr) -> bool:
    """`c.JupyterHub.db_url` (any name for `c`)."""
    return (isinstance(node, ast.Attribute) and node.attr == "db_url"
            and isinstance(node.value, ast.Attribute) and node.value.attr == "JupyterHub")


def _env_name(value: ast.expr) -> str | None:
    """NAME of `os.environ["NAME"]`, `os.environ.get("NAME", ...)`, `os.getenv("NAME", ...)`,
    or of the first of these in `... or default`."""
    if isinstance(value, ast.BoolOp) and isinstance(value.op, ast.Or):
        return _env_name(value.values[0])
    if isinstance(value, ast.Subscript) and _is_environ(value.value):
        key = value.slice
        return key.value if isinstance(key, ast.Constant) and isinstance(key.value, str) else None
    if isinstance(value, ast.Call) and value.args:
        first = value.args[0]
        name = first.value if isinstance(first, ast.Constant) else None
        func = value.func
        is_get = (isinstance(func, ast.Attribute) and func.attr == "get"
                  and _is_environ(func.value))
        is_getenv = isinstance(func, ast.Attribute) and func.attr == "getenv"
        if (is_get or is_getenv) and isinstance(name, str):
            return name
    return None


def _is_environ(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" or (
        isinstance(node, ast.Name) and node.id == "environ")


def db_url_variable(config_file: Path, *, hub: str | None = None) -> str:
    """The environment variable the config file reads its `c.JupyterHub.db_url` from.

    Raises PreflightError (exit 2) when the file cannot be parsed, sets no db_url, sets it
    to a literal (hard-coded) or from anything else hubshift cannot change safely; the
    message names the options.
    """
    try:
        tree = ast.parse(config_file.read_text(encoding="utf-8"), filename=str(config_file))
    except (OSError, SyntaxError, UnicodeDecodeError) as err:
        raise PreflightError(f"cannot read {config_file} to see where it takes db_url: {err}",
                             hub=hub, step="move-check") from None
    found: list[tuple[int, ast.expr]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(_is_db_url_target(t) for t in node.targets):
            found.append((node.lineno, node.value))
    if not found:
        why = "sets no c.JupyterHub.db_url"
    else:
        line, value = max(found, key=lambda f: f[0])  # the last assignment wins
        name = _env_name(value)
        if name is not None:
            return name
        literal = isinstance(value, (ast.Constant, ast.JoinedStr))
        why = (f"hard-codes c.JupyterHub.db_url at line {line}" if literal
               else f"sets c.JupyterHub.db_url at line {line} from something hubshift cannot "
                    "change")
    raise PreflightError(
        f"{config_file} {why}: the hub must take its database URL from an environment "
        f"variable set by its runtime, e.g. {OPTIONS}", hub=hub, step="move-check",
        hint="hubshift then sets that variable for the hub through its runtime (kind "
             "process: in hubshift-env.json of its workdir, mode 0600)")


def same_database(a: str, b: str) -> bool:
    """Whether two URLs name the same database, however each spells its driver."""
    from hubshift.backends.databases.sqlite import sqlite_path
    from hubshift.backends.databases.urls import engine_of, parse_server_url

    if engine_of(a) is not None and engine_of(b) is not None:
        x, y = parse_server_url(a), parse_server_url(b)
        return (x.engine, x.host, x.port, x.database) == (y.engine, y.host, y.port, y.database)
    if a.startswith("sqlite") and b.startswith("sqlite"):
        return sqlite_path(a).resolve() == sqlite_path(b).resolve()
    return False


def db_url_mismatch(config_file: Path, db_url: str, env: dict[str, str]) -> str | None:
    """Why the fleet file's `db_url` is not the database the hub opens (None: it is, or
    the config does not read it from `env`): after a `hubshift move-db`, an upgrade with the
    old db_url would back up and restore the old database. Never raises."""
    try:
        variable = db_url_variable(config_file)
    except PreflightError:
        return None
    value = env.get(variable)
    try:
        if value is None or same_database(value, db_url):
            return None
    except Exception:  # a value that does not parse: not ours to judge here
        return None
    return (f"the hub's config takes its database from ${variable}, which its runtime sets to "
            "another database than db_url (after `hubshift move-db`?): set db_url to the "
            "database the hub uses")
