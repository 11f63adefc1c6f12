"""The rehearsal: the upgrade done first on a copy of the hub, while its users keep working.

A migration that breaks on this hub's real data, a column the operator added that the new
release adds again, a config the new release cannot start with: found here, before the stop,
they are a refusal (exit 2) with the live hub never touched, instead of a rollback.

1. copy: a consistent copy of the live database, taken with the hub running, into a scratch
   place that is never the live database (`Database.online_copy`: a file in the rehearsal's
   folder, or `<db>__hubshift_rehearse_<token>` on the same server);
2. migrate: each hop's own `jupyterhub upgrade-db` on the copy, the window's very command
   (`hubshift.window.migrate.upgrade_db`) with a config that loads the hub's own and points
   it at the copy; the alembic revision checked after each, alembic's log held against the plan;
3. start: the target release started on the migrated copy with the hub's real config, on
   private ports, isolated (see `_ISOLATION`); it must answer `/hub/api/` with the target
   version, and every row of the copy must still be there (the window's verify rules);
4. everything it made is removed, also when it fails. A killed run's leftovers (its folder
   under `$HUBSHIFT_HOME/rehearse/<hub>/`, its processes, its copy on the server) are removed
   by the next rehearsal of the hub, once their owner is proven dead.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from hubshift.backends.databases import Database, database_for
from hubshift.backends.hubapi import HubAPI
from hubshift.backends.installers import Install
from hubshift.backends.runtimes import runtime_for
from hubshift.config import HubConfig
from hubshift.errors import CommandError, HubshiftError, RehearsalError, ScratchRefused
from hubshift.integrity.digest import KEPT_TABLES, VOLATILE_COLUMNS, Digest, differences
from hubshift.plan.upgrade import UpgradePlan, dropped_tables, rewritten_tables
from hubshift.result import Rehearsal
from hubshift.system import paths, procs
from hubshift.system.listeners import free_ports
from hubshift.system.redact import redact
from hubshift.window.migrate import upgrade_db
from hubshift.window.owner import Owner

#: How long the rehearsal hub may take to answer, and to stop.
START_TIMEOUT = 180.0
STOP_TIMEOUT = 20.0
#: Keys of a service entry that make JupyterHub start it: dropped, so none is started.
_MANAGED_KEYS = ("command", "cwd", "environment", "user")
#: The copy forgets users' running servers before the target starts on it, as a hub that
#: stops them would (JupyterHub's `User.stop`: the server's row, its spawner's state, its
#: OAuth client and that client's tokens): with no server row, the rehearsal hub never
#: polls, adopts, routes to or stops a real user's server. The migrations ran on those rows
#: first; the start is verified against the copy as it is after this.
_RUNNING_CLIENTS = "SELECT oauth_client_id FROM spawners WHERE server_id IS NOT NULL"
_FORGET_SERVERS = [
    f"DELETE FROM api_tokens WHERE client_id IN ({_RUNNING_CLIENTS})",
    f"DELETE FROM oauth_codes WHERE client_id IN ({_RUNNING_CLIENTS})",
    f"DELETE FROM oauth_clients WHERE identifier IN ({_RUNNING_CLIENTS})",
    "UPDATE spawners SET server_id = NULL, state = NULL",
    "DELETE FROM servers",
]

_CONFIG = '''\
"""Written by hubshift for a rehearsal: the hub's own config, pointed at a copy of its
database{isolated}. Removed with the rehearsal."""

c = get_config()  # noqa: F821
load_subconfig({config_file!r})  # noqa: F821
c.JupyterHub.db_url = {db_url!r}
'''

#: The start's isolation, after the hub's own config: nothing the rehearsal hub does can
#: reach the live hub's proxy, routes, users' servers or files.
_ISOLATION = '''
# Its own throwaway proxy on private ports, whatever proxy the hub uses: the live proxy's
# routes are never read or written. Its pid file is the rehearsal's, not the live proxy's
# (JupyterHub kills the process a proxy pid file names before it starts its own).
c.JupyterHub.proxy_class = "jupyterhub.proxy.ConfigurableHTTPProxy"
c.ConfigurableHTTPProxy.should_start = True
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_port}"
c.ConfigurableHTTPProxy.auth_token = {proxy_token!r}
c.ConfigurableHTTPProxy.pid_file = {proxy_pid_file!r}
c.JupyterHub.cleanup_proxy = True
# Private ports for the hub and the proxy's public side.
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {public_port}
c.JupyterHub.bind_url = "http://127.0.0.1:{public_port}{base_url}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.JupyterHub.hub_connect_url = "http://127.0.0.1:{hub_port}"
# Users' servers: never stopped at its shutdown (the copy holds none, see _FORGET_SERVERS).
c.JupyterHub.cleanup_servers = False
# No file of the live hub is written: pid file and cookie secret are the rehearsal's own.
c.JupyterHub.pid_file = {hub_pid_file!r}
c.JupyterHub.cookie_secret = bytes.fromhex({cookie_secret!r})
# No managed service is started: services stay known, as external ones.
if "services" in c.JupyterHub:
    c.JupyterHub.services = [
        {{k: v for k, v in dict(s).items() if k not in {managed!r}}}
        for s in c.JupyterHub.services
    ]
'''


def rehearse(hub: HubConfig, plan: UpgradePlan, installs: Sequence[Install]) -> Rehearsal:
    """Rehearse `plan` (its hops installed as `installs`, the target last) on a copy of the
    hub's database; return what it measured. Raises RehearsalError (exit 2: the live hub was
    not touched) naming where it failed and the command's redacted output. A server that
    will not create the copy (a grant missing) skips it: a warning naming the grant."""
    outcome = Rehearsal(engine=plan.engine, hops=[hop.version for hop in plan.hops])
    began = time.monotonic()
    outcome.cleaned = clean_leftovers(hub)
    db = database_for(hub.db_url.get_secret_value(), hub=hub.name)
    scratch = _Scratch.create(hub)
    try:
        _run(hub, plan, installs, db, scratch, outcome)
    finally:
        outcome.warnings += scratch.remove(db)
        outcome.seconds = round(time.monotonic() - began, 3)
    return outcome


def _run(hub: HubConfig, plan: UpgradePlan, installs: Sequence[Install], db: Database,
         scratch: _Scratch, outcome: Rehearsal) -> None:
    step = time.monotonic()
    name = db.copy_name(scratch.token)
    scratch.note(database=name)
    try:
        copy = db.online_copy(name, scratch.folder)
    except ScratchRefused as err:
        outcome.status = "skipped"
        outcome.skipped = (f"no copy of the database to rehearse on: {err.message}"
                           + (f" ({err.hint})" if err.hint else ""))
        outcome.warnings.append(f"rehearsal skipped: {outcome.skipped}")
        return
    except HubshiftError as err:
        raise _failed(hub, plan, outcome, "copy", err.message) from err
    outcome.copy_seconds = round(time.monotonic() - step, 3)
    copy_url = _copy_url(hub, copy)
    before = copy.digest()

    step = time.monotonic()
    migrate_config = scratch.write_config(hub, copy_url, None)
    for hop, install in zip(plan.hops, installs, strict=True):
        where = f"migrate {hop.version}"
        try:
            ran = upgrade_db(hub, install, hop.target_revision, config_file=migrate_config,
                             database=copy, step="rehearse")
        except HubshiftError as err:
            raise _failed(hub, plan, outcome, where,
                          f"JupyterHub {hop.version}'s upgrade-db on the copy (to revision "
                          f"{hop.target_revision}): {err.message}", secrets_of(copy_url)) from err
        outcome.migrations_run += ran
        planned = [m.revision for m in hop.migrations]
        if ran != planned:
            outcome.warnings.append(
                f"JupyterHub {hop.version}'s upgrade-db ran {', '.join(ran) or 'nothing'} on "
                f"the copy; the plan said {', '.join(planned) or 'nothing'}")
    outcome.migrate_seconds = round(time.monotonic() - step, 3)
    _verify(hub, plan, outcome, before, copy, "the migrations")

    try:
        copy.execute(_FORGET_SERVERS)
        before = copy.digest()
    except HubshiftError as err:
        raise _failed(hub, plan, outcome, "start", f"cannot prepare the copy: {err.message}") \
            from err
    step = time.monotonic()
    _start_and_check(hub, plan, installs[-1], copy_url, scratch, outcome)
    outcome.start_seconds = round(time.monotonic() - step, 3)
    scratch.stop_processes()
    _verify(hub, plan, outcome, before, copy, f"JupyterHub {plan.target_version}'s start")


def _verify(hub: HubConfig, plan: UpgradePlan, outcome: Rehearsal, before: Digest,
            copy: Database, what: str) -> None:
    """The window's verify rules on the copy: every row of `before` still there, but in the
    tables the plan's migrations drop; the tables they rewrite may gain rows."""
    kept = [t for t in KEPT_TABLES if t not in dropped_tables(plan)]
    lost = differences(before, copy.digest(), tables=kept, may_grow=rewritten_tables(plan),
                       ignore_columns=VOLATILE_COLUMNS)
    if lost:
        raise _failed(hub, plan, outcome, "verify",
                      f"{what} lost rows of the copy: " + "; ".join(lost))


def _start_and_check(hub: HubConfig, plan: UpgradePlan, target: Install, copy_url: str,
                     scratch: _Scratch, outcome: Rehearsal) -> None:
    """Start the target on the copy, isolated, and wait for `/hub/api/` to give its version."""
    runtime = runtime_for(hub)
    where = runtime.environment()
    public_port, hub_port, proxy_port = free_ports(3)
    base_url = _base_url(hub.api_url)
    config = scratch.write_config(hub, copy_url, {
        "public_port": public_port, "hub_port": hub_port, "proxy_port": proxy_port,
        "base_url": base_url})
    log = scratch.folder / "hub.log"
    try:
        pid = runtime.installer.command(target).spawn(
            ["-f", config], cwd=where.cwd, extra_env=where.env, log_path=log)
    except (CommandError, OSError) as err:
        raise _failed(hub, plan, outcome, "start", f"cannot start JupyterHub "
                      f"{plan.target_version}: {err}") from err
    scratch.note(hub_pid=pid, hub_started=procs.started(pid), proxy_port=proxy_port)
    url = f"http://127.0.0.1:{hub_port}{base_url}hub/api"
    deadline = time.monotonic() + START_TIMEOUT
    version = None
    with HubAPI(url, hub.api_token.get_secret_value(), timeout=5) as api:
        while time.monotonic() < deadline:
            if not procs.alive(pid):
                raise _failed(hub, plan, outcome, "start",
                              f"JupyterHub {plan.target_version} exited on the migrated copy:"
                              f"\n{_tail(log)}", secrets_of(copy_url))
            try:
                version = api.version()
                break
            except HubshiftError:
                time.sleep(0.3)
    if version is None:
        raise _failed(hub, plan, outcome, "start",
                      f"JupyterHub {plan.target_version} did not answer {base_url}hub/api/ "
                      f"within {START_TIMEOUT:g} s:\n{_tail(log)}", secrets_of(copy_url))
    if version != plan.target_version:
        raise _failed(hub, plan, outcome, "start",
                      f"the rehearsal hub reports version {version}, not "
                      f"{plan.target_version}")


def _failed(hub: HubConfig, plan: UpgradePlan, outcome: Rehearsal, where: str, what: str,
            extra_secrets: Sequence[str] = ()) -> RehearsalError:
    outcome.status, outcome.failed_at = "failed", where
    message = redact(f"the rehearsal on a copy of the database failed at {where}: {what}",
                     extra_secrets)
    err = RehearsalError(
        message, hub=hub.name, step="rehearse",
        hub_state=f"not touched: the live hub was not touched and runs JupyterHub "
                  f"{plan.installed_version} as before",
        hint="the live hub was not touched; fix the cause, then rehearse again "
             "(`hubshift rehearse`)")
    err.outcome = outcome  # type: ignore[attr-defined]
    return err


def outcome_of(err: BaseException) -> Rehearsal | None:
    """The partial rehearsal a RehearsalError carries, if any."""
    found = getattr(err, "outcome", None)
    return found if isinstance(found, Rehearsal) else None


# -- the scratch folder: what one rehearsal made, so that it can always be removed ---------

class _Scratch:
    """`$HUBSHIFT_HOME/rehearse/<hub>/<token>/` (mode 0700): the copy (SQLite), the configs,
    the rehearsal hub's log and pid files, and `state.json`: who owns it (pid and start time),
    the copy's database name, the processes started. What `clean_leftovers` reads."""

    def __init__(self, hub: str, token: str, folder: Path) -> None:
        self.hub, self.token, self.folder = hub, token, folder
        self.state: dict[str, object] = {"owner": Owner.this_process().model_dump()}

    @classmethod
    def create(cls, hub: HubConfig) -> _Scratch:
        token = f"{os.getpid()}_{secrets.token_hex(3)}"
        folder = _root(hub.name) / token
        folder.mkdir(mode=0o700)
        scratch = cls(hub.name, token, folder)
        scratch.note()
        return scratch

    def note(self, **facts: object) -> None:
        """Record `facts` in state.json (written beside, then renamed: never half a file)."""
        self.state.update(facts)
        tmp = self.folder / "state.json.tmp"
        tmp.write_text(json.dumps(self.state))
        os.replace(tmp, self.folder / "state.json")

    def write_config(self, hub: HubConfig, db_url: str, start: dict[str, object] | None) -> Path:
        """A config that loads the hub's own, then points it at the copy (mode 0600: the
        copy's URL may hold the password); with `start`, isolated for a start too."""
        text = _CONFIG.format(config_file=str(Path(hub.config_file).absolute()), db_url=db_url,
                              isolated=", isolated for a start" if start else "")
        name = "migrate_config.py"
        if start is not None:
            name = "start_config.py"
            text += _ISOLATION.format(
                proxy_token=secrets.token_hex(32), cookie_secret=secrets.token_hex(32),
                proxy_pid_file=str(self.folder / "proxy.pid"),
                hub_pid_file=str(self.folder / "hub.pid"), managed=_MANAGED_KEYS, **start)
        path = self.folder / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(text)
        return path

    def stop_processes(self) -> None:
        _stop_recorded(self.state, self.folder)

    def remove(self, db: Database) -> list[str]:
        """Remove everything this rehearsal made; what could not be removed, as warnings
        (never an error: the rehearsal's own outcome matters more, and the next run retries)."""
        return _remove(self.state, self.folder, db)


def _root(hub: str) -> Path:
    path = paths.home()
    for part in ("rehearse", hub):
        path = path / part
        path.mkdir(mode=0o700, exist_ok=True)
    return path


def _stop_recorded(state: dict[str, object], folder: Path) -> None:
    """Stop the rehearsal hub (its session: itself) and its throwaway proxy, each only if
    the recorded pid is still that process (a reused pid is left alone)."""
    pid, started = state.get("hub_pid"), state.get("hub_started")
    if isinstance(pid, int) and procs.alive(pid) and (started is None
                                                      or procs.started(pid) == started):
        procs.send(pid, signal.SIGTERM, group=True)
        if not procs.wait_gone(pid, STOP_TIMEOUT):
            procs.send(pid, signal.SIGKILL, group=True)
            procs.wait_gone(pid, 5)
    proxy = procs.read_pid(folder / "proxy.pid")
    port = state.get("proxy_port")
    if proxy is not None and procs.alive(proxy):
        line = procs.cmdline(proxy) or ""
        # Only our throwaway proxy: its api port is the rehearsal's private one.
        if "configurable-http-proxy" in line and f"--api-port {port}" in line:
            procs.send(proxy, signal.SIGTERM)
            if not procs.wait_gone(proxy, 5):
                procs.send(proxy, signal.SIGKILL)


def _remove(state: dict[str, object], folder: Path, db: Database) -> list[str]:
    warnings = []
    try:
        _stop_recorded(state, folder)
    except OSError as err:
        warnings.append(f"rehearsal: a process of {folder} could not be stopped: {err}")
    name = state.get("database")
    if isinstance(name, str) and name:
        try:
            db.drop_copy(name)
        except HubshiftError as err:
            warnings.append(f"rehearsal: its copy {name} could not be dropped ({err.message}); "
                            "the next rehearsal drops it")
    shutil.rmtree(folder, ignore_errors=True)
    if folder.exists():
        warnings.append(f"rehearsal: {folder} could not be removed")
    return [redact(w) for w in warnings]


def clean_leftovers(hub: HubConfig) -> list[str]:
    """Remove what killed rehearsals of `hub` left (their owner proven dead on this host):
    processes, folders, and copies on the database server that no live rehearsal holds.
    Returns what was removed. A rehearsal still running (a `plan --rehearse` beside an
    upgrade) is left alone."""
    db = database_for(hub.db_url.get_secret_value(), hub=hub.name)
    removed: list[str] = []
    live: set[str] = set()
    for folder in sorted(_root(hub.name).iterdir()):
        try:
            state = json.loads((folder / "state.json").read_text())
            owner = Owner.model_validate(state["owner"])
        except (OSError, ValueError, KeyError):
            state, owner = {}, None
        if owner is not None and (owner.is_this_process() or not owner.proven_dead_here()):
            live.add(folder.name)
            continue
        pid = _pid_of(folder.name)
        if owner is None and pid is not None and procs.alive(pid):
            live.add(folder.name)  # being created right now
            continue
        _remove(state, folder, db)
        removed.append(f"folder {folder.name}" + (f", copy {state['database']}"
                                                  if state.get("database") else ""))
    try:
        for name in db.copies():
            if not any(name.endswith(token) for token in live):
                db.drop_copy(name)
                removed.append(f"copy {name}")
    except HubshiftError as err:
        removed.append(f"(the server's copies could not be listed: {err.message})")
    return removed


def _pid_of(token: str) -> int | None:
    head = token.split("_", 1)[0]
    return int(head) if head.isdigit() else None


# -- small helpers ------------------------------------------------------------------------

def _copy_url(hub: HubConfig, copy: Database) -> str:
    """The copy's URL as the hub's config spells its own (same scheme and driver, same
    options), only the database differs: the hub's venv has that driver."""
    own = hub.db_url.get_secret_value()
    if own.startswith("sqlite"):
        return copy.url
    url = make_url(own).set(database=make_url(copy.url).database)
    return url.render_as_string(hide_password=False)


def secrets_of(url: str) -> list[str]:
    try:
        password = make_url(url).password
    except Exception:  # noqa: BLE001 - a URL we cannot parse holds no password we know
        return []
    return [str(password)] if password else []


def _base_url(api_url: str) -> str:
    """The hub's base URL (`/`, `/jhub/`) from its API URL (`.../jhub/hub/api`)."""
    path = urlsplit(api_url).path.rstrip("/")
    base = path[: -len("hub/api")] if path.endswith("hub/api") else "/"
    return base if base.endswith("/") else base + "/"


def _tail(log: Path, size: int = 2000) -> str:
    try:
        return log.read_bytes()[-size:].decode("utf-8", "replace")
    except OSError:
        return "(no log)"
