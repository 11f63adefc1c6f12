"""`hubshift`: the operator's commands. Thin: it parses, calls flows or the core, prints,
and maps every outcome to an exit code in one place (`_exit_code`): errors a command
expects go through `_guard`, anything else through `main`, each as one line (`_report`)."""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from hubshift import blocks
from hubshift.backup.manifest import check_backup_id
from hubshift.config import (
    DEFAULT_FLEET_FILE,
    FleetConfig,
    HubConfig,
    check_version,
    load_fleet,
)
from hubshift.errors import BackupError, ConfigError, ConfirmationNeeded, HubshiftError
from hubshift.result import Status, UpgradeResult, command, ended_early, fleet_exit_code
from hubshift.system.redact import redact
from hubshift_cli.terminal import (
    Terminal,
    failure_lines,
    fleet_failure_lines,
    prefect_api,
    quiet_prefect,
)

app = typer.Typer(
    help="Upgrade JupyterHub deployments safely: backup, notify, stop, upgrade, migrate, "
    "verify, and roll back when anything fails.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
hub_app = typer.Typer(help="Start, stop or inspect one hub.", no_args_is_help=True)
app.add_typer(hub_app, name="hub")

FleetOpt = Annotated[Path, typer.Option("-f", "--fleet", help="The fleet file.")]
HubOpt = Annotated[str, typer.Option("--hub", help="Name of the hub in the fleet file.")]
JsonOpt = Annotated[bool, typer.Option(
    "--json", help="Print one JSON document on stdout (the step lines go to stderr).")]
VerboseOpt = Annotated[bool, typer.Option(
    "-v", "--verbose", help="Also show Prefect's own log lines (they always reach its UI).")]
ToOpt = Annotated[str | None, typer.Option(
    "--to", help="Target JupyterHub version: exact (6.1.1), a major version (6: its newest "
    "release) or latest, resolved once in preflight (default: the file's target_version).")]
PreOpt = Annotated[bool, typer.Option(
    "--pre", help="Let latest or a major version resolve to a pre-release too.")]
NowOpt = Annotated[bool, typer.Option(
    "--now", help="Ignore the hub's maintenance window (schedule.duration): upgrade now.")]
ViaOpt = Annotated[str | None, typer.Option(
    "--via", help="Stepping stones, each running its own upgrade-db in the one window: "
    "'auto' (the newest release of each major version in between), '3.1.1,4.1.6', or "
    "'direct' (default: the hub's `via`, else direct).")]

T = TypeVar("T")


def _prefect_block(kind: str) -> Callable[[str], Any]:
    """A fleet file's block reference of `kind`, read through tasks/blocks.py: Prefect is
    imported only by a command whose fleet file names a block."""
    def resolve(name: str) -> Any:
        from tasks.blocks import RESOLVERS

        return RESOLVERS[kind](name)

    return resolve


for _kind in (blocks.SECRET, blocks.AWS_CREDENTIALS):
    blocks.register(_kind, _prefect_block(_kind))

#: Set (to anything but 0) to see the traceback of an unexpected error.
DEBUG_ENV = "HUBSHIFT_DEBUG"


def _exit_code(err: BaseException) -> int:
    """The one mapping of failures to exit codes (see DESIGN: 0, 1, 2, 3). An error hubshift
    did not expect leaves the hub in a state nobody checked: an operator is needed (3)."""
    if isinstance(err, HubshiftError):
        return err.exit_code
    return 3


def _report(err: BaseException) -> int:
    """Print `err` on stderr as one line (redacted), and return its exit code. A hubshift
    error says what it is; anything else is named by its type, and its traceback is shown
    only when $HUBSHIFT_DEBUG asks for it."""
    if isinstance(err, HubshiftError):
        typer.echo(f"error: {redact(str(err))}", err=True)
    else:
        if os.environ.get(DEBUG_ENV, "0") not in ("", "0"):
            sys.stderr.write(redact("".join(traceback.format_exception(err))))
        text = " ".join(str(err).split()) or "(no message)"
        typer.echo(f"error: unexpected {type(err).__name__}: {redact(text)} (a bug in "
                   f"hubshift, or a failure it does not know; {DEBUG_ENV}=1 shows the "
                   "traceback)", err=True)
    return _exit_code(err)


def _guard(action: Callable[[], T], *, reads_only: bool = False) -> T:
    """Run `action`; print any hubshift error (redacted) and exit with its code. An action
    that `reads_only` (a listing, a plan, a status) touched nothing when it failed: exit 2
    for what would be 1 elsewhere, which means a failed upgrade rolled back."""
    try:
        return action()
    except HubshiftError as err:
        code = _report(err)
        raise typer.Exit(2 if reads_only and code == 1 else code) from None


def _load(fleet: Path) -> FleetConfig:
    return _guard(lambda: load_fleet(fleet))


def _hubs(fleet: FleetConfig, names: list[str] | None) -> list[HubConfig]:
    return [_guard(lambda n=n: fleet.hub(n)) for n in names] if names else list(fleet.hubs)


def _print_json(document: Any) -> None:
    typer.echo(redact(json.dumps(document, indent=2, default=str)))


@app.command()
def plan(
    fleet: FleetOpt = DEFAULT_FLEET_FILE,
    hub: Annotated[list[str] | None, typer.Option("--hub", help="Hub(s) to plan.")] = None,
    to: ToOpt = None,
    via: ViaOpt = None,
    pre: PreOpt = False,
    rehearse: Annotated[bool, typer.Option(
        "--rehearse", help="Also rehearse the upgrade on a copy of each hub's database "
        "(the hub keeps running, untouched).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show what an upgrade would do, without touching the hub.

    Runs the upgrade's preflight, then builds the target's venv beside the running hub
    (kept for the upgrade), so that the target release itself can be asked about the hub's
    config and its named servers; with --rehearse, also runs the upgrade on a copy.
    """
    from hubshift.plan.rehearsal import rehearse as rehearse_plan
    from hubshift.plan.upgrade import render

    config = _load(fleet)
    if to is not None:
        _guard(lambda: check_version(to, where="--to"))
    plans, refused = [], []
    for each in _hubs(config, hub):
        try:
            checked, done, installs = plan_hub(config, each.name, to, via, pre)
            document = {**done.model_dump(), "rehearsal": None}
            if rehearse and not done.up_to_date:
                document["rehearsal"] = rehearse_plan(checked.hub, done, installs).model_dump()
            plans.append((done, document))
        except HubshiftError as err:
            refused.append({"hub": each.name, "status": Status.REFUSED, "error": redact(str(err))})
    if as_json:
        _print_json({"plans": [d for _, d in plans], "refused": refused})
    else:
        for p, document in plans:
            typer.echo(render(p))
            if document["rehearsal"] is not None:
                from hubshift.result import Rehearsal

                typer.echo("rehearsal: "
                           + Rehearsal.model_validate(document["rehearsal"]).summary())
        for r in refused:
            typer.echo(f"error: {r['error']}", err=True)
    if refused:
        raise typer.Exit(2)


def plan_hub(config: FleetConfig, hub: str, to: str | None, via: str | None,
             pre: bool) -> Any:
    """Preflight, prepare and the target's own checks of one hub: the preflight, its
    completed plan, and the installs of its hops (the target is installed beside the running
    hub, which keeps running untouched)."""
    from hubshift.backends.installers import installer_for
    from hubshift.plan.preflight import run_preflight
    from hubshift.plan.target_checks import check_prepared

    checked = run_preflight(config, hub, to, via, pre)
    if checked.plan.up_to_date:
        return checked, checked.plan, []
    installer = installer_for(checked.hub)
    installs = [installer.prepare(hop.version, wheelhouse=checked.wheelhouse)
                for hop in checked.plan.hops]
    return checked, check_prepared(checked.hub, checked.plan, installs[-1]), installs


@app.command("rehearse")
def rehearse_command(hub: HubOpt, fleet: FleetOpt = DEFAULT_FLEET_FILE, to: ToOpt = None,
                     via: ViaOpt = None, pre: PreOpt = False,
                     as_json: JsonOpt = False) -> None:
    """Rehearse an upgrade on a copy of the hub's database, the hub running and untouched:
    preflight, prepare, check the target, then each hop's upgrade-db on the copy and the
    target started on it, isolated. Exit 0 when it went through, 2 when it did not."""
    config = _load(fleet)
    target = _validate_target(config, hub, to)
    _validate_via(hub, via)
    result = rehearse_hub(config, hub, target, via, pre)
    if as_json:
        _print_json(result.model_dump())
    else:
        from hubshift_cli.terminal import result_line

        typer.echo(result_line(result))
        if result.rehearsal is not None:
            typer.echo(f"rehearsal: {result.rehearsal.summary()}")
            for warning in result.rehearsal.warnings:
                typer.echo(f"warning: {warning}")
    for line in failure_lines(result):
        typer.echo(line, err=True)
    raise typer.Exit(result.exit_code)


def rehearse_hub(config: FleetConfig, hub: str, to: str | None, via: str | None,
                 pre: bool) -> UpgradeResult:
    """The rehearsal of one hub's upgrade, as a result: rehearsed, or refused (nothing was
    touched, whatever failed: preflight, the install of the target, or the rehearsal)."""
    from hubshift.plan.rehearsal import outcome_of, rehearse

    result = UpgradeResult(hub=hub, status=Status.REHEARSED, to_version=to)
    try:
        checked, done, installs = plan_hub(config, hub, to, via, pre)
        result.from_version, result.to_version = done.installed_version, done.target_version
        result.from_revision, result.to_revision = done.current_revision, done.target_revision
        result.migrations = [m.revision for m in done.migrations]
        result.hops = [h.version for h in done.hops]
        if done.up_to_date:
            result.status = Status.UP_TO_DATE
            return result
        result.rehearsal = rehearse(checked.hub, done, installs)
    except HubshiftError as err:
        result.rehearsal = outcome_of(err) or result.rehearsal
        result.status, result.failed_step = Status.REFUSED, err.step
        result.error = redact(str(err))
        result.cause = redact(err.message)
        result.hub_state = err.hub_state or f"not touched: hub {hub} runs as it did before"
        result.next_command = command("rehearse", hub, config.source,
                                      *(["--to", to] if to else []))
    return result


@app.command()
def upgrade(hub: HubOpt, fleet: FleetOpt = DEFAULT_FLEET_FILE, to: ToOpt = None,
            via: ViaOpt = None, pre: PreOpt = False, as_json: JsonOpt = False,
            verbose: VerboseOpt = False, now: NowOpt = False) -> None:
    """Upgrade one hub: preflight, prepare, check the target, notify, stop, backup, switch,
    migrate, start, verify."""
    config = _load(fleet)
    target = _validate_target(config, hub, to)
    _validate_via(hub, via)
    with _terminal(as_json, verbose, f"upgrade of hub {hub}") as term:
        from flows.upgrade_hub import upgrade_hub

        result = _hub_outcome(lambda: upgrade_hub(hub=hub, target_version=target,
                                                  fleet_file=str(fleet), via=via, pre=pre,
                                                  now=now), hub, fleet, target)
    _print_result(result, as_json, term)
    raise typer.Exit(result.exit_code)


def _hub_outcome(run: Callable[[], UpgradeResult], hub: str, fleet: Path,
                 target: str | None) -> UpgradeResult:
    """What one hub's flow ended with: its own result, also when it failed (UpgradeFailed
    carries it), else one made from the error that ended it before it had one."""
    from hubshift.result import UpgradeFailed

    try:
        return run()
    except UpgradeFailed as err:
        return err.result
    except HubshiftError as err:
        return ended_early(err, hub, fleet, target)


ToUrlOpt = Annotated[str, typer.Option(
    "--to-url", help="The new database as the hub's config would spell it (postgresql://..., "
    "mysql+pymysql://...). Give a URL with a password as '${VAR}' (expanded here from the "
    "environment), so that it is not in the process list.")]
ReplaceOpt = Annotated[bool, typer.Option(
    "--replace", help="Drop the tables the target database holds (else a non-empty target "
    "is refused); what it held is not kept.")]


@app.command("move-db")
def move_db_command(hub: HubOpt, to_url: ToUrlOpt, fleet: FleetOpt = DEFAULT_FLEET_FILE,
                    replace: ReplaceOpt = False, as_json: JsonOpt = False,
                    verbose: VerboseOpt = False) -> None:
    """Move one hub's database to PostgreSQL or MySQL/MariaDB, same JupyterHub version:
    check and rehearse (hub up), stop, backup, copy, compare, switch, start, verify."""
    from hubshift.move.plan import plan_move
    from hubshift.move.url import CLI_ENV, expand_url

    config = _load(fleet)
    chosen = _guard(lambda: config.hub(hub))
    if "${" not in to_url:  # typed in clear: handed to the flow through our environment
        os.environ[CLI_ENV] = to_url
        to_url = f"${{{CLI_ENV}}}"
    url = _guard(lambda: expand_url(to_url, hub=hub))
    _guard(lambda: plan_move(chosen, url, replace=replace))  # refusals before Prefect starts
    with _terminal(as_json, verbose, f"database move of hub {hub}") as term:
        from flows.move_db import move_db

        result = _hub_outcome(lambda: move_db(hub=hub, to_url=to_url, fleet_file=str(fleet),
                                              replace=replace), hub, fleet, None)
    _print_result(result, as_json, term)
    raise typer.Exit(result.exit_code)


@app.command("fleet-upgrade")
def fleet_upgrade_command(
    fleet: FleetOpt = DEFAULT_FLEET_FILE,
    to: ToOpt = None,
    pre: PreOpt = False,
    hub: Annotated[list[str] | None, typer.Option("--hub", help="Only these hubs.")] = None,
    max_parallel: Annotated[int, typer.Option("--max-parallel", min=1, max=32,
                                              help="Hubs upgrading at once.")] = 4,
    max_fail_percent: Annotated[float, typer.Option(
        "--max-fail-percent", min=0, max=100,
        help="Start no new hub once failed/attempted exceeds this.")] = 0.0,
    use_deployments: Annotated[bool, typer.Option(
        "--use-deployments", help="Run each hub through its deployment (its host's worker).")]
    = False,
    approve: Annotated[str | None, typer.Option(
        "--approve", help="Wait for a person's go between waves: none, after-canary or "
        "every-wave (default: the fleet file's rollout.approve).")] = None,
    approve_timeout: Annotated[float | None, typer.Option(
        "--approve-timeout",
        help="Seconds to wait for that go before the fleet stops.")] = None,
    soak_minutes: Annotated[float | None, typer.Option(
        "--soak-minutes", min=0, help="Minutes to watch each wave's upgraded hubs before the "
        "next wave (0.5 = 30 s).")] = None,
    on_soak_failure: Annotated[str | None, typer.Option(
        "--on-soak-failure", help="A hub that fails its soak: stop (leave it for an "
        "operator) or rollback (restore its backup).")] = None,
    as_json: JsonOpt = False,
    verbose: VerboseOpt = False,
    now: NowOpt = False,
) -> None:
    """Upgrade many hubs in waves: staging first, then production in a growing ramp,
    soaking and waiting for approval between waves where the fleet file's `rollout:` (or
    the flags) ask for it."""
    config = _load(fleet)
    rollout = _guard(lambda: _rollout(config, approve=approve, approve_timeout=approve_timeout,
                                      soak_minutes=soak_minutes,
                                      on_soak_failure=on_soak_failure))
    chosen = _hubs(config, hub)
    if to is not None:
        _guard(lambda: check_version(to, where="--to"))
    missing = [h.name for h in chosen if to is None and h.target_version is None]
    if missing:
        _guard(lambda: _raise(ConfigError(
            f"{config.source}: no target_version for {', '.join(missing)}; pass --to VERSION")))
    with _terminal(as_json, verbose, f"fleet upgrade of {len(chosen)} hub(s)",
                   fleet=True) as term:
        from flows.fleet_upgrade import fleet_upgrade
        from hubshift.fleet.report import render_table

        rows = _guard(lambda: fleet_upgrade(
            fleet_file=str(fleet), target_version=to, hubs=[h.name for h in chosen],
            max_parallel=max_parallel, max_fail_percent=max_fail_percent,
            use_deployments=use_deployments, pre=pre, approve=rollout.approve,
            approve_timeout=rollout.approve_timeout, soak_minutes=rollout.soak_minutes,
            on_soak_failure=rollout.on_soak_failure, now=now))
    if as_json:
        _print_json({"hubs": [r.model_dump() for r in rows]})
    else:
        typer.echo(render_table(rows))
    term.last_lines(fleet_failure_lines(rows))
    raise typer.Exit(fleet_exit_code(r.status for r in rows))


def _rollout(config: FleetConfig, **flags: Any) -> Any:
    """The fleet file's rollout with the flags given; a bad value is bad input (exit 2)."""
    from pydantic import ValidationError

    try:
        return config.rollout.merged(**flags)
    except ValidationError as err:
        first = err.errors()[0]
        raise ConfigError(f"--{str(first['loc'][0]).replace('_', '-')}: "
                          f"{first['msg']}") from None


@app.command()
def approve(
    run: Annotated[str, typer.Option("--run", help="The paused fleet-upgrade flow run's id "
                                     "(the run prints it while it waits).")],
    stop: Annotated[bool, typer.Option(
        "--stop", help="Stop the fleet instead: the hubs not started yet are skipped.")]
    = False,
    comment: Annotated[str, typer.Option(
        "--comment", help="Why, for the fleet's table and report.")] = "",
) -> None:
    """Answer a fleet upgrade waiting for approval between two waves, as the Resume form of
    its flow run in the Prefect UI does (PREFECT_API_URL: the server the fleet runs on)."""
    _guard(lambda: _check_run_id(run))
    quiet_prefect()
    from tasks.rollout import answer

    try:
        answer(run, not stop, comment)
    except Exception as err:  # noqa: BLE001 - a run that is not paused, a server away
        typer.echo(f"error: flow run {run} could not be resumed: "
                   f"{redact(' '.join(str(err).split()))}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"flow run {run}: {'stopped' if stop else 'approved'}"
               + (f" ({comment})" if comment else ""))


def _check_run_id(run: str) -> None:
    import uuid

    try:
        uuid.UUID(run)
    except ValueError:
        raise ConfigError(f"--run: {run!r} is not a flow run id (a UUID)") from None


@app.command()
def deploy(fleet: FleetOpt = DEFAULT_FLEET_FILE,
           pool: Annotated[str, typer.Option("--pool", help="Prefect process work pool.")]
           = "hubshift") -> None:
    """Register every hub's deployments with a Prefect work pool (many machines)."""
    _load(fleet)
    from deployments.build import deploy as register

    for name in _guard(lambda: register(fleet, pool)):
        typer.echo(f"deployment {name} -> work pool {pool}")
    typer.echo(f"start a worker on each hub host: prefect worker start --pool {pool}"
               " [--work-queue <the hub's queue>]")


@app.command()
def serve(fleet: FleetOpt = DEFAULT_FLEET_FILE) -> None:
    """Serve every deployment of the fleet file from this process, schedules included."""
    _load(fleet)
    from prefect import serve as prefect_serve

    from deployments.build import fleet_deployments

    prefect_serve(*_guard(lambda: fleet_deployments(fleet)))


@app.command()
def rollback(hub: HubOpt, fleet: FleetOpt = DEFAULT_FLEET_FILE,
             backup: Annotated[str | None, typer.Option(
                 "--backup", help="Backup id to restore (`hubshift backups` lists them), or "
                 "latest. Required, except to finish an interrupted upgrade.")] = None,
             yes: Annotated[bool, typer.Option(
                 "--yes", help="Restore even though rows written since the backup are "
                 "discarded (a safety backup of the hub keeps them). Without it, only the "
                 "report.")] = False,
             as_json: JsonOpt = False, verbose: VerboseOpt = False) -> None:
    """Restore a hub to a backup: database, config file and JupyterHub version.

    Finishing an interrupted upgrade, it uses that upgrade's backup. Otherwise it needs
    --backup, says what the restore discards, and with --yes stops the hub, takes a safety
    backup of it as it is, and restores.
    """
    config = _load(fleet)
    chosen = _guard(lambda: config.hub(hub))
    if backup is not None:
        _guard(lambda: check_backup_id(backup, where="--backup"))
    interrupted = _interrupted(config, chosen)
    if backup is None and not interrupted:
        _guard(lambda: _raise(ConfigError(
            f"--backup is required: no interrupted upgrade of hub {hub} to finish (list the "
            f"backups with `{command('backups', hub, fleet)}`)")))
    if backup is not None and not interrupted:
        _guard(lambda: _backup_exists(config, chosen, backup, fleet))
    with _terminal(as_json, verbose, f"rollback of hub {hub}") as term:
        from flows.rollback_hub import rollback_hub

        try:
            result = rollback_hub(hub=hub, backup_id=backup, reason="requested by an operator",
                                  fleet_file=str(fleet), confirm=yes)
        except ConfirmationNeeded as err:
            result = ended_early(err, hub, fleet, None)
            result.discards = err.report
        except HubshiftError as err:
            if err.exit_code == 2:
                result = ended_early(err, hub, fleet, None)
            else:
                result = UpgradeResult(
                    hub=hub, status=Status.NEEDS_OPERATOR, error=redact(str(err)),
                    failed_step=err.step, cause=err.cause, hub_state=err.hub_state,
                    next_command=err.next_command or command(
                        "rollback", hub, fleet, "--backup", backup or "latest"))
        else:
            result.status = Status.ROLLED_BACK
    if result.discards and not as_json:
        for line in result.discards:
            term.line(line)
    code = 0 if result.status is Status.ROLLED_BACK else result.exit_code
    _print_result(result, as_json, term, failed=code != 0)
    raise typer.Exit(code)


def _interrupted(config: FleetConfig, hub: HubConfig) -> bool:
    """Whether an upgrade of `hub` left its in-progress record (the rollback finishes it).
    A store that cannot be read counts as yes: the flow then says why, with its context."""
    from hubshift.backends.storage import store_for
    from hubshift.window import inprogress

    try:
        return inprogress.read(store_for(config.storage), hub.name) is not None
    except HubshiftError:
        return True


def _backup_exists(config: FleetConfig, hub: HubConfig, backup: str, fleet: Path) -> None:
    """A backup id that names no backup of `hub` is bad input: refused before Prefect
    starts, the hub untouched (ConfigError). A store that cannot say is the flow's to
    report."""
    from hubshift.backends.storage import ObjectMissing, store_for
    from hubshift.backup.store import latest_backup, read_manifest

    store = store_for(config.storage)
    listing = f"`{command('backups', hub.name, fleet)}` lists them"
    try:
        if backup == "latest":
            latest_backup(store, hub.name)
        else:
            read_manifest(store, hub.name, backup)
    except HubshiftError as err:
        if backup == "latest" and isinstance(err, BackupError) and err.__cause__ is None:
            raise ConfigError(f"--backup latest: hub {hub.name} has no backup in "
                              f"{store.describe()}", hub=hub.name) from err
        if isinstance(err.__cause__, ObjectMissing):
            raise ConfigError(f"--backup {backup}: hub {hub.name} has no such backup in "
                              f"{store.describe()} ({listing})", hub=hub.name) from err


@app.command()
def backups(fleet: FleetOpt = DEFAULT_FLEET_FILE,
            hub: Annotated[list[str] | None, typer.Option("--hub", help="Hub(s).")] = None,
            as_json: JsonOpt = False) -> None:
    """List the complete backups of each hub, oldest first."""
    from hubshift.backends.storage import store_for
    from hubshift.backup.store import list_backups
    from hubshift.integrity.digest import counts

    config = _load(fleet)
    store = _guard(lambda: store_for(config.storage), reads_only=True)
    found = {h.name: _guard(lambda h=h: list_backups(store, h.name), reads_only=True)
             for h in _hubs(config, hub)}
    if as_json:
        _print_json({"backups": [
            {"hub": name, "backup_id": m.backup_id, "created_at": m.created_at.isoformat(),
             "from_version": m.from_version, "to_version": m.to_version, "engine": m.engine,
             "alembic_revision": m.alembic_revision, "files": [f.model_dump() for f in m.files],
             "rows": counts(m.digest), "label": m.label}
            for name, manifests in found.items() for m in manifests]})
        return
    typer.echo(f"backups in {store.describe()}")
    for name, manifests in found.items():
        typer.echo(f"hub {name}: {len(manifests)} backup(s)")
        for m in manifests:
            size = sum(f.size for f in m.files)
            rows = counts(m.digest)
            label = f"  [{m.label}]" if m.label else ""
            typer.echo(f"  {m.backup_id}  JupyterHub {m.from_version} ({m.engine}, alembic "
                       f"{m.alembic_revision})  {size / 1024:.0f} KiB  users {rows.get('users', 0)}"
                       f", groups {rows.get('groups', 0)}, api_tokens {rows.get('api_tokens', 0)}"
                       f"{label}")


@app.command()
def prune(fleet: FleetOpt = DEFAULT_FLEET_FILE,
          hub: Annotated[list[str] | None, typer.Option("--hub", help="Hub(s).")] = None,
          yes: Annotated[bool, typer.Option(
              "--yes", help="Delete. Without it, only show what would be deleted.")] = False,
          as_json: JsonOpt = False) -> None:
    """Delete backups the fleet's `retention` no longer keeps, and the old venvs no kept
    backup needs. A dry run unless --yes. Never deleted: the newest backup, the one an
    unfinished upgrade's record names, any younger than keep_days, the venv the hub runs."""
    import datetime as dt

    from hubshift import pruning
    from hubshift.backends.storage import store_for

    config = _load(fleet)
    chosen = _hubs(config, hub)
    for each in chosen:  # bad input (no retention) exits 2 before anything is read
        _guard(lambda each=each: config.retention_of(each))
    now = dt.datetime.now(dt.timezone.utc)
    done = []
    for each in chosen:
        planned = _guard(lambda each=each: pruning.plan_hub(config, each, now),
                         reads_only=True)
        if yes:
            planned = _guard(lambda each=each, p=planned: pruning.apply(config, each, p))
        done.append(planned)
    if as_json:
        _print_json({"dry_run": not yes, "store": store_for(config.storage).describe(),
                     "hubs": [_prune_document(p) for p in done]})
        return
    typer.echo(f"prune of {store_for(config.storage).describe()}"
               + ("" if yes else " (dry run: nothing deleted; --yes deletes)"))
    for planned in done:
        typer.echo(f"hub {planned.hub} ({planned.retention}):")
        for d in planned.plan.decisions:
            action = "deleted" if d.backup.backup_id in planned.deleted else d.action
            typer.echo(f"  {d.backup.backup_id}  {d.backup.created_at:%Y-%m-%d %H:%M}  "
                       f"{d.backup.size / 1024:.0f} KiB  {action} ({d.why})")
        for install in planned.installs:
            action = "removed" if install.location in planned.removed else "delete"
            typer.echo(f"  install {install.location} (JupyterHub {install.version})  "
                       f"{action} (no kept backup needs it)")
        if planned.installs_note:
            typer.echo(f"  installs {planned.installs_note}")
        gone = planned.plan.deleted
        typer.echo(f"  total: keep {len(planned.plan.kept)}, "
                   f"{'deleted' if yes else 'delete'} {len(gone)} backup(s) "
                   f"({sum(b.size for b in gone) / 1024 / 1024:.1f} MiB) and "
                   f"{len(planned.installs)} install(s)")


def _prune_document(planned: Any) -> dict[str, Any]:
    """One hub of `hubshift prune --json`."""
    return {
        "hub": planned.hub, "retention": planned.retention,
        "backups": [{"backup_id": d.backup.backup_id,
                     "created_at": d.backup.created_at.isoformat(), "size": d.backup.size,
                     "complete": d.backup.complete, "safety": d.backup.safety,
                     "action": d.action, "why": d.why} for d in planned.plan.decisions],
        "installs": [{"version": i.version, "location": i.location, "action": "delete"}
                     for i in planned.installs],
        "installs_note": planned.installs_note,
        "deleted": planned.deleted, "removed": planned.removed,
    }


@hub_app.command("start")
def hub_start(hub: HubOpt, fleet: FleetOpt = DEFAULT_FLEET_FILE) -> None:
    """Start a hub and wait until it answers."""
    from hubshift.backends.runtimes import runtime_for
    from hubshift.window.verify import wait_for_version

    config = _guard(lambda: _load(fleet).hub(hub))
    status = _guard(lambda: runtime_for(config).start())
    waited = _guard(lambda: wait_for_version(config, None, config.runtime.start_timeout))
    typer.echo(f"hub {hub} started (pid {status.pid}), healthy after {waited:.1f} s")


@hub_app.command("stop")
def hub_stop(hub: HubOpt, fleet: FleetOpt = DEFAULT_FLEET_FILE) -> None:
    """Stop a hub and everything it started."""
    from hubshift.backends.runtimes import runtime_for

    config = _guard(lambda: _load(fleet).hub(hub))
    _guard(lambda: runtime_for(config).stop())
    typer.echo(f"hub {hub} stopped")


@hub_app.command("status")
def hub_status(hub: HubOpt, fleet: FleetOpt = DEFAULT_FLEET_FILE,
               as_json: JsonOpt = False) -> None:
    """Whether a hub runs, answers, and which version it reports."""
    from hubshift.backends.hubapi import HubAPI
    from hubshift.backends.runtimes import runtime_for

    config = _guard(lambda: _load(fleet).hub(hub))
    status = _guard(lambda: runtime_for(config).status(), reads_only=True)
    with HubAPI(config.own_api_url) as api:
        healthy = api.healthy()
        version = _guard(api.version, reads_only=True) if healthy else None
    doc = {"hub": hub, "running": status.running, "pid": status.pid, "healthy": healthy,
           "version": version}
    if as_json:
        _print_json(doc)
    else:
        typer.echo(f"hub {hub}: {'running' if status.running else 'stopped'}"
                   f"{f' (pid {status.pid})' if status.pid else ''}, "
                   f"{'healthy, JupyterHub ' + version if version else 'not answering'}")
    raise typer.Exit(0 if status.running and healthy else 1)


@app.command()
def demo(
    directory: Annotated[Path, typer.Option("--dir", help="Where the demo lives.")] = Path(".demo"),
    stop: Annotated[bool, typer.Option("--stop", help="Stop a running demo and exit.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Create a JupyterHub 4.1.6 demo hub and a local S3 store, plan, and upgrade it to 6.1.1."""
    from hubshift_cli.demo import run_demo, stop_demo

    if stop:
        stop_demo(directory)
        typer.echo(f"demo in {directory} stopped")
        return
    if not verbose:
        quiet_prefect()
    raise typer.Exit(_guard(lambda: run_demo(
        directory, Terminal(sys.stdout, verbose=verbose, title="demo"))))


def _validate_target(config: FleetConfig, hub: str, to: str | None) -> str | None:
    """Bad input exits 2 before Prefect even starts."""
    chosen = _guard(lambda: config.hub(hub))
    if to is None and chosen.target_version is None:
        _guard(lambda: _raise(ConfigError(
            f"{config.source}: hub {hub!r} has no target_version; pass --to VERSION")))
    if to is not None:
        _guard(lambda: check_version(to, where="--to"))
    return to


def _validate_via(hub: str, via: str | None) -> None:
    from hubshift.plan.hops import parse_via

    _guard(lambda: parse_via(via, hub=hub))


def _raise(err: HubshiftError) -> None:
    raise err


@contextmanager
def _terminal(as_json: bool, verbose: bool, title: str, *,
              fleet: bool = False) -> Iterator[Terminal]:
    """The run's display, on stdout, or on stderr when stdout carries the JSON document;
    Prefect is loaded (and its local server started when there is no other) inside it."""
    if not verbose:
        quiet_prefect()
    with Terminal(sys.stderr if as_json else sys.stdout, fleet=fleet, verbose=verbose,
                  title=title) as term:
        prefect_api(term)
        yield term


def _print_result(result: UpgradeResult, as_json: bool, term: Terminal,
                  failed: bool | None = None) -> None:
    """The JSON document on stdout (or the result line), then after a failure (default: a
    non-zero exit code) its last lines."""
    failed = result.exit_code != 0 if failed is None else failed
    if as_json:
        _print_json(result.model_dump())
        term.last_lines(failure_lines(result) if failed else [])
    else:
        term.result(result, failed=failed)


#: click's error for a command line it cannot parse, wherever this typer keeps its click.
_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__
                                    if c.__name__ == "UsageError")


def _usage(err: Exception) -> int:
    """A command line that does not parse: one line naming what is wrong and where to read
    the usage, exit 2, like any other bad input (click's own display is a framed box)."""
    if type(err).__name__ == "NoArgsIsHelpError":  # `hubshift` or `hubshift hub` alone
        err.show()  # type: ignore[attr-defined]
        return 2
    ctx = getattr(err, "ctx", None)
    where = ctx.command_path if ctx is not None else "hubshift COMMAND"
    message = " ".join(err.format_message().split())  # type: ignore[attr-defined]
    typer.echo(f"error: {message} (`{where} --help` lists the options)", err=True)
    return 2


def main() -> None:
    """The `hubshift` command: every failure that a command did not turn into its exit code
    itself ends here, as one line and the code `_exit_code` gives (Ctrl-C: typer's 130)."""
    try:
        code = app(prog_name="hubshift", standalone_mode=False)
    except _UsageError as err:
        sys.exit(_usage(err))
    except typer.Abort:
        typer.echo("Aborted!", err=True)
        sys.exit(1)
    except Exception as err:  # noqa: BLE001 - the one place every failure is mapped
        sys.exit(_report(err))
    # Without standalone mode typer returns the code of a `typer.Exit` (a command's own
    # return value otherwise, which is no exit code).
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    sys.exit(main())
