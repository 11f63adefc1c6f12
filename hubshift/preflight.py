"""Everything checked before any downtime, and the plan it yields.

All reasons to refuse are gathered and reported together: an operator fixing them one run
at a time at 3 a.m. loses the window. Nothing here changes a hub.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hubshift import inprogress, paths
from hubshift.config import FleetConfig, HubConfig
from hubshift.databases import Database, database_for
from hubshift.digest import counts
from hubshift.diskspace import shortfalls, tree_size
from hubshift.errors import HubshiftError, PreflightError
from hubshift.hubapi import HubAPI
from hubshift.installers import Install, installer_for
from hubshift.migrations import graph_from_wheel
from hubshift.plan import UpgradePlan, plan_upgrade
from hubshift.storage import store_for
from hubshift.wheelhouse import fetch_jupyterhub

#: What hubshift asks of a hub's API: who the users are and which servers run.
NEEDED_SCOPES = frozenset({"list:users", "read:users", "read:servers"})


@dataclass(frozen=True)
class Preflight:
    """What the steps after preflight need: the hub, where its backups go, what to do."""

    hub: HubConfig
    fleet: FleetConfig
    plan: UpgradePlan
    current: Install
    #: The running install's exact package list, for the backup (read while the hub is up).
    package_list: str
    wheelhouse: Path


def target_of(hub: HubConfig, requested: str | None) -> str:
    target = requested or hub.target_version
    if not target:
        raise PreflightError("no target version: set target_version in the fleet file or "
                             "pass --to", hub=hub.name, step="preflight")
    return target


def run_preflight(fleet: FleetConfig, hub_name: str, requested: str | None) -> Preflight:
    """Check the hub, its database, the backup store and the target; return the plan.

    Raises PreflightError listing every reason to refuse. Reads only.
    """
    hub = fleet.hub(hub_name)
    target = target_of(hub, requested)
    reasons: list[str] = []

    def check(what: str, action):  # noqa: ANN001, ANN202 - a tiny local combinator
        try:
            return action()
        except HubshiftError as err:
            reasons.append(f"{what}: {err.message}")
        except OSError as err:
            reasons.append(f"{what}: {err}")
        return None

    if not hub.config_file.is_file():
        reasons.append(f"config_file {hub.config_file} does not exist")
    db: Database = database_for(hub.db_url.get_secret_value(), hub=hub.name)
    revision = check("database", lambda: _read_revision(db))
    running = active = None
    with HubAPI(hub.api_url, hub.api_token.get_secret_value()) as api:
        running = check(f"hub API {hub.api_url}", api.version)
        if running is not None:
            scopes = check("API token", api.token_scopes)
            missing = sorted(NEEDED_SCOPES - scopes) if scopes is not None else []
            if missing:
                reasons.append(f"API token: it lacks the scopes {', '.join(missing)}, which "
                               "hubshift needs to see users and their running servers")
            else:
                active = check("API token", lambda: len(api.active_servers()))
    installer = installer_for(hub)
    current = check("install", installer.current)
    store = store_for(fleet.storage)
    check(f"backup storage {store.describe()}", store.check_writable)
    check("upgrade in progress", lambda: inprogress.refuse_if_present(store, hub.name))
    wheelhouse = paths.wheelhouse()
    wheel = check("target version", lambda: fetch_jupyterhub(target, wheelhouse, hub=hub.name))
    if current is not None:
        # The new venv goes beside the current one; the staged backup, under HUBSHIFT_HOME.
        for problem in shortfalls({hub.install.venv.parent: tree_size(current.path),
                                   paths.home(): 2 * db.size_bytes()}):
            reasons.append(f"disk space: {problem}")
    if reasons or current is None or wheel is None:
        raise PreflightError("refusing to upgrade:\n  - " + "\n  - ".join(reasons),
                             hub=hub.name, step="preflight")
    plan = plan_upgrade(
        hub=hub.name,
        engine=db.engine,
        can_downgrade=db.can_downgrade,
        running_version=running,
        installed_version=current.version,
        target_version=target,
        current_revision=revision,
        graph=graph_from_wheel(wheel),
        new_install=str(installer.path_for(target)) if hasattr(installer, "path_for") else "",
        active_servers=active or 0,
        row_counts=counts(db.digest()),
    )
    return Preflight(hub=hub, fleet=fleet, plan=plan, current=current,
                     package_list=installer.package_list(current), wheelhouse=wheelhouse)


def _read_revision(db: Database) -> str | None:
    problems = db.preflight_problems()
    if problems:
        raise PreflightError("; ".join(problems))
    return db.revision()
