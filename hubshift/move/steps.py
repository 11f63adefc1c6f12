"""The steps of a move that do more than one call, as the tasks run them: each says what it
changes, and `undo` is the compensation of all of them (safe to run twice)."""

from __future__ import annotations

from hubshift.backends.databases import database_for
from hubshift.backends.databases.sqlite import SQLiteDatabase
from hubshift.backends.installers import installer_for
from hubshift.backends.runtimes import runtime_for
from hubshift.backup.manifest import Manifest
from hubshift.config import HubConfig
from hubshift.errors import DatabaseError, PreflightError
from hubshift.integrity.digest import Digest
from hubshift.move.copy import Copied, copy_rows
from hubshift.move.plan import MovePlan
from hubshift.move.schema import create_schema
from hubshift.move.target import drop_tables
from hubshift.system import paths

#: The staging folder of a rehearsal's snapshot (removed at its end).
REHEARSAL = "move-rehearsal"


def make_schema(hub: HubConfig, plan: MovePlan, url: str) -> tuple[list[str], str | None]:
    """Drop what --replace discards, then let the hub's release create its schema at `url`;
    its revision must be the hub's. Returns the tables dropped and the revision. Raises
    PreflightError (exit 2)."""
    dropped = drop_tables(plan.target) if plan.found_tables else []
    installer = installer_for(hub)
    create_schema(installer.hub_command(installer.current()), url,
                  cwd=runtime_for(hub).environment().cwd, password=plan.target.password,
                  hub=hub.name)
    made = database_for(url, hub=hub.name).revision()
    mine = database_for(hub.db_url.get_secret_value(), hub=hub.name).revision()
    if made != mine:
        raise PreflightError(f"JupyterHub {plan.version} stamped the target with revision "
                             f"{made}, the hub's database has {mine}: run `hubshift upgrade` "
                             "(or upgrade-db) first", hub=hub.name, step="move-schema")
    return dropped, made


def rehearse(hub: HubConfig, plan: MovePlan) -> Copied:
    """The copy from a consistent snapshot of the running hub's database, compared, then
    rolled back: a problem shows before the stop, the target's schema stays empty. Raises
    PreflightError (exit 2) when the copy would not hold the hub's rows."""
    source = hub.db_url.get_secret_value()
    try:
        if plan.source_engine == "sqlite":
            snapshot = SQLiteDatabase(source).dump(paths.staging(hub.name, REHEARSAL)
                                                   / "snapshot.sqlite")
            source = f"sqlite:///{snapshot}"
            expected: Digest = SQLiteDatabase(source).digest()
        else:  # a server source: its digest and the copy are two reads of a running hub
            expected = database_for(source).digest()
        copied = copy_rows(source, plan.target, commit=False)
    finally:
        paths.discard_staging(hub.name, REHEARSAL)
    problems = copied.problems(expected)
    if problems:
        raise PreflightError("the rehearsed copy does not hold the hub's rows: "
                             + "; ".join(problems), hub=hub.name, step="move-rehearse")
    return copied


def copy_checked(hub: HubConfig, plan: MovePlan, manifest: Manifest) -> Copied:
    """The stopped hub's database, read only, into the target in one committed
    transaction; DatabaseError unless its digest is the backup's."""
    copied = copy_rows(hub.db_url.get_secret_value(), plan.target, commit=True)
    problems = copied.problems(manifest.digest)
    if problems:
        raise DatabaseError("the copy does not hold the backup's rows: " + "; ".join(problems),
                            hub=hub.name, step="move-copy")
    return copied


def undo(hub: HubConfig, plan: MovePlan) -> list[str]:
    """The move's compensation: the hub stopped, the variable unset (its config falls back
    to the old database), the target's tables dropped (returned). Safe to run twice."""
    runtime = runtime_for(hub)
    runtime.stop()
    runtime.unset_env(plan.variable)
    return drop_tables(plan.target)
