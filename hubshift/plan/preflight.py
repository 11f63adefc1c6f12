"""Everything checked before any downtime, and the plan it yields.

All reasons to refuse are gathered and reported together: an operator fixing them one run
at a time at 3 a.m. loses the window. Nothing here changes a hub.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from packaging.version import Version

from hubshift.backends.databases import Database, database_for
from hubshift.backends.hubapi import HubAPI
from hubshift.backends.installers import Install, Installer
from hubshift.backends.runtimes import Runtime, runtime_for
from hubshift.backends.storage import store_for
from hubshift.backends.store_base import Store
from hubshift.config import FleetConfig, HubConfig
from hubshift.errors import HubshiftError, PreflightError
from hubshift.integrity.digest import counts
from hubshift.move.wiring import db_url_mismatch
from hubshift.plan.hops import choose_hops, parse_via
from hubshift.plan.migrations import RevisionGraph, graph_from_wheel
from hubshift.plan.releases import newest_of_majors, resolve_target
from hubshift.plan.settings import HubSettings, read_settings
from hubshift.plan.target_checks import python_refusal
from hubshift.plan.upgrade import UpgradePlan, plan_upgrade
from hubshift.plan.wheelhouse import fetch_jupyterhub, requires_python
from hubshift.system import paths
from hubshift.system.diskspace import shortfalls
from hubshift.system.redact import redact
from hubshift.tljh import layout_problems
from hubshift.window import inprogress

T = TypeVar("T")

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
    #: Every wheel every hop installs: the window needs no package index.
    wheelhouse: Path
    #: The hub's settings as its running release reads its config (None: unreadable).
    settings: HubSettings | None = None


def target_of(hub: HubConfig, requested: str | None) -> str:
    target = requested or hub.target_version
    if not target:
        raise PreflightError("no target version: set target_version in the fleet file or "
                             "pass --to", hub=hub.name, step="preflight")
    return target


class _Reasons(list[str]):
    """Every reason to refuse, gathered rather than raised one at a time."""

    def check(self, what: str, action: Callable[[], T]) -> T | None:
        """`action()`, or None with its failure noted under `what`: any failure, a bug in a
        check included, is one more reason to refuse, never a crash of the whole preflight
        that would hide the other reasons (and nothing has been touched yet)."""
        try:
            return action()
        except HubshiftError as err:
            self.append(f"{what}: {err.message}")
        except OSError as err:
            self.append(f"{what}: {err}")
        except Exception as err:  # noqa: BLE001 - see the docstring
            self.append(f"{what}: unexpected {type(err).__name__}: {redact(str(err))}")
        return None

    def refusal(self, hub: str) -> PreflightError:
        """The refusal listing every reason: on one line when there is one."""
        if len(self) == 1:
            return PreflightError(f"refusing to upgrade: {self[0]}", hub=hub,
                                  step="preflight")
        return PreflightError("refusing to upgrade:\n  - " + "\n  - ".join(self), hub=hub,
                              step="preflight")


def run_preflight(fleet: FleetConfig, hub_name: str, requested: str | None,
                  via: str | None = None, pre: bool = False) -> Preflight:
    """Check the hub, its database, the backup store and the target; return the plan.

    `requested` (default: the hub's target_version) may be `latest` or a major version
    (`6`): it is resolved here, once, to the exact release everything after names; `pre`
    lets that be a pre-release. `via` is `direct` (default), `auto` or a list of
    stepping-stone versions (see hops.py). Everything each hop installs is downloaded here,
    into the wheelhouse. Raises PreflightError listing every reason to refuse (an index
    that cannot say what `latest` means is refused at once). Reads only (the wheelhouse
    aside).
    """
    hub = fleet.hub(hub_name)
    asked = target_of(hub, requested)
    via = via or hub.via
    parse_via(via, hub=hub.name)  # a malformed --via is refused before anything is asked
    target = resolve_target(asked, pre=pre, hub=hub.name)
    reasons = _Reasons()
    if not hub.config_file.is_file():
        reasons.append(f"config_file {hub.config_file} does not exist")
    reasons += [f"config_files: {path} does not exist" for path in hub.config_files
                if not path.exists()]
    if hub.tljh is not None:
        reasons += [f"tljh.prefix: {problem}" for problem in layout_problems(hub.tljh.prefix)]
    db = reasons.check("database", lambda: database_for(hub.db_url.get_secret_value(),
                                                        hub=hub.name))
    revision = reasons.check("database", lambda: _read_revision(db)) if db else None
    running, servers = _ask_hub(hub, reasons)
    runtime = reasons.check(f"runtime ({hub.runtime.kind})", lambda: runtime_for(hub))
    if runtime is None:  # nothing below can be asked without it
        raise reasons.refusal(hub.name)
    installer = runtime.installer
    reasons += [f"runtime ({hub.runtime.kind}): {problem}"
                for problem in reasons.check(f"runtime ({hub.runtime.kind})", runtime.check)
                or []]
    moved = _moved_elsewhere(hub, runtime)
    if moved:
        reasons.append(f"db_url: {moved}")
    current = reasons.check("install", installer.current)
    settings = None
    if current is not None and hub.config_file.is_file():
        settings = reasons.check("hub config", lambda: read_settings(hub, current))
    if settings is not None and not settings.proxy_should_start and hub.hub_api_url is None:
        reasons.append("hub_api_url: the proxy runs on its own (ConfigurableHTTPProxy."
                       "should_start = False), so its port stays open while the hub is down; "
                       f"set hub_api_url: {settings.own_api_url()} (the hub's own API)")
    store = reasons.check("backup storage", lambda: store_for(fleet.storage))
    if store is not None:
        reasons.check(f"backup storage {store.describe()}", store.check_writable)
        reasons.check("upgrade in progress",
                      lambda: inprogress.refuse_if_present(store, hub.name))
    wheelhouse = paths.wheelhouse()
    hops = _hops(target, via, current, hub.name, reasons)
    graphs = _fetch(hops, current, installer, wheelhouse, hub.name, reasons)
    plan = None
    if current is not None and db is not None:
        reasons += [f"disk space: {problem}" for problem in reasons.check(
            "disk space", lambda: _disk_shortfalls(fleet, installer, current, hops, db)) or []]
        if hops and len(graphs) == len(hops) and (revision is not None or not reasons):
            plan = reasons.check("database revision", lambda: plan_upgrade(
                hub=hub.name,
                engine=db.engine,
                can_downgrade=db.can_downgrade,
                running_version=running,
                installed_version=current.version,
                target_version=target,
                current_revision=revision,
                graphs=graphs,
                new_install=installer.target_location(target),
                running_servers=servers or [],
                keeps_servers=settings.keeps_servers if settings is not None else None,
                servers_stopper=_servers_stopper(runtime, settings),
                row_counts=counts(db.digest()),
                requested_version=asked,
            ))
    if reasons or current is None or plan is None or db is None:
        raise reasons.refusal(hub.name)
    if store is not None and not _honours_conditional_writes(store):
        plan.warnings.append(
            f"backup storage {store.describe()} ignores conditional writes (If-None-Match), "
            "so two orchestrators on two hosts are kept apart only by the Prefect "
            "concurrency limit: run one orchestrator per hub, or use a store that honours "
            "them (AWS S3, MinIO, Ceph, file://)")
    return Preflight(hub=hub, fleet=fleet, plan=plan, current=current,
                     package_list=installer.package_list(current), wheelhouse=wheelhouse,
                     settings=settings)


def _honours_conditional_writes(store: Store) -> bool:
    """Whether the store keeps two orchestrators apart (see `inprogress.claim`); a probe
    that fails after the store passed its write check is not worth a warning."""
    try:
        return store.honours_conditional_writes()
    except HubshiftError:
        return True


def _disk_shortfalls(fleet: FleetConfig, installer: Installer, current: Install,
                     hops: list[str], db: Database) -> list[str]:
    """What the installer builds, and the staged backup in HUBSHIFT_HOME, against the free
    room of each disk."""
    needs = installer.disk_needs(current, hops)
    needs[paths.home()] = needs.get(paths.home(), 0) + 2 * db.size_bytes()
    return shortfalls(needs, reserve_mib=fleet.disk_reserve_mb)


def _moved_elsewhere(hub: HubConfig, runtime: Runtime) -> str | None:
    """Why db_url is not the database the hub opens (a `move-db` whose db_url was not
    updated); None when it is, or when the runtime cannot tell (its own check says why)."""
    try:
        env = runtime.environment().env
    except HubshiftError:
        return None
    return db_url_mismatch(hub.config_file, hub.db_url.get_secret_value(), env)


def _servers_stopper(runtime: Runtime, settings: HubSettings | None) -> str | None:
    """What stops the users' servers of a hub that keeps them: a runtime that stops the
    hub's children too, where the spawner runs servers as the hub's own processes."""
    if settings is None or not settings.keeps_servers:
        return None
    if not settings.spawner_class.endswith("LocalProcessSpawner"):
        return None
    return runtime.stops_hub_children()


def _ask_hub(hub: HubConfig, reasons: _Reasons) -> tuple[str | None, list[str] | None]:
    """The version the hub answers and its running servers, if its token may see them."""
    active = None
    with HubAPI(hub.api_url, hub.api_token.get_secret_value()) as api:
        running = reasons.check(f"hub API {hub.api_url}", api.version)
        if running is not None:
            scopes = reasons.check("API token", api.token_scopes)
            missing = sorted(NEEDED_SCOPES - scopes) if scopes is not None else []
            if missing:
                reasons.append(f"API token: it lacks the scopes {', '.join(missing)}, which "
                               "hubshift needs to see users and their running servers")
            else:
                active = reasons.check("API token", lambda: [
                    f"{user}/{name}" if name else user for user, name in api.active_servers()])
    return running, active


def _hops(target: str, via: str | None, current: Install | None, hub: str,
          reasons: _Reasons) -> list[str]:
    """The releases whose upgrade-db will run; none for a downgrade, which is refused."""
    if current is None:
        return [target]
    if Version(target) < Version(current.version):
        reasons.append(f"target version: {target} is older than the installed "
                       f"{current.version}; hubshift does not downgrade (to undo an "
                       "upgrade, run `hubshift rollback`)")
        return []
    return reasons.check("--via", lambda: choose_hops(
        current.version, target, via, lambda majors: newest_of_majors(majors, hub=hub),
        hub=hub)) or [target]


def _fetch(hops: list[str], current: Install | None, installer: Installer, wheelhouse: Path,
           hub: str, reasons: _Reasons) -> list[tuple[str, RevisionGraph]]:
    """Each hop's wheel (proof it exists, and its migration scripts) and everything its
    venv installs, into the wheelhouse; the revision graph of each hop found."""
    graphs: list[tuple[str, RevisionGraph]] = []
    python = None
    if current is not None:
        python = reasons.check(f"install ({installer.kind})",
                               lambda: installer.python_version(current))
    for version in hops:
        what = "target version" if version == hops[-1] else f"stepping stone {version}"
        wheel = reasons.check(what, lambda v=version: fetch_jupyterhub(v, wheelhouse, hub=hub))
        if wheel is None:
            continue
        graphs.append((version, graph_from_wheel(wheel)))
        refusal = python and python_refusal(version, requires_python(wheel), python,
                                            installer.describe(current))
        if refusal:
            reasons.append(f"{what}: {refusal}")
            continue  # its wheels would not install on that Python
        if current is not None and version != current.version:
            before = len(reasons)
            reasons.check(f"wheels of JupyterHub {version}",
                          lambda v=version: installer.download(v, wheelhouse))
            if len(reasons) == before:  # what the installer checks needs the wheels
                reasons += [f"install ({installer.kind}) of JupyterHub {version}: {problem}"
                            for problem in installer.check(version, wheelhouse)]
    return graphs


def _read_revision(db: Database) -> str | None:
    problems = db.preflight_problems()
    if problems:
        raise PreflightError("; ".join(problems))
    return db.revision()
