"""What an upgrade will do, computed without I/O from facts gathered by preflight.

Keeping the plan pure means `hubshift plan` and the flow print and follow the same thing,
and unit tests can check every warning without a hub.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from hubshift.plan.migrations import Revision, RevisionGraph


class Migration(BaseModel):
    revision: str
    title: str
    doc: str = ""
    drops: list[str] = Field(default_factory=list, description="Tables it drops")
    rewrites: list[str] = Field(default_factory=list, description="Tables it rewrites")


class Hop(BaseModel):
    """One release's `upgrade-db` on the way to the target (a direct upgrade has one hop)."""

    version: str
    from_revision: str | None
    target_revision: str
    migrations: list[Migration]


class NamedServers(BaseModel):
    """Named servers whose names the target rejects (JupyterHub 6), counted in the database."""

    total: int = Field(description="Named servers in the database")
    invalid: int = Field(description="Those whose names the target release rejects")
    running_invalid: int = Field(0, description="Of those, how many run now")
    running_names: list[str] = Field(
        default_factory=list, description="user/server of those running now: they are not "
        "migrated while they run")
    policy: str = Field(description="JupyterHub.allow_existing_invalid_named_servers, as the "
                                    "target release reads the hub's config")
    rule: str = Field("", description="The target's own function that judged the names")


class UpgradePlan(BaseModel):
    hub: str
    engine: str
    running_version: str | None = Field(description="Version the hub's REST API reports")
    installed_version: str = Field(description="Version installed in the hub's venv")
    target_version: str
    requested_version: str | None = Field(
        None, description="What was asked for when it was not an exact version (latest, 6)")
    current_revision: str | None
    target_revision: str
    migrations: list[Migration] = Field(description="Every revision upgrade-db runs, all hops")
    hops: list[Hop] = Field(default_factory=list,
                            description="Releases whose upgrade-db runs, in order")
    new_install: str = Field(description="Where the target version will be installed")
    active_servers: int = 0
    running_servers: list[str] = Field(
        default_factory=list, description="Users' servers running at preflight: user or "
        "user/server")
    keeps_servers: bool | None = Field(
        None, description="Whether users' servers outlive the hub's stop (an external proxy "
        "and cleanup_servers = False); None when the hub's settings could not be read")
    servers_stopper: str | None = Field(
        None, description="What stops users' servers although the hub's settings keep them "
        "(e.g. systemd's KillMode), if anything")
    warnings: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list,
                             description="What the target will do that needs no action")
    named_servers: NamedServers | None = Field(
        None, description="Filled once the target release was asked (after prepare)")

    @property
    def servers_outlook(self) -> str:
        """What the stop does to users' running servers, in one sentence."""
        return servers_outlook(self.running_servers, self.keeps_servers, self.servers_stopper)

    @property
    def up_to_date(self) -> bool:
        return self.installed_version == self.target_version and not self.migrations


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


#: The two settings that keep users' servers running while the hub is down.
KEEP_SERVERS_SETTINGS = ("the proxy on its own (ConfigurableHTTPProxy.should_start = False, "
                         "started by systemd, supervisord or a container) and "
                         "JupyterHub.cleanup_servers = False")


def servers_outlook(running: list[str], keeps: bool | None, stopper: str | None = None) -> str:
    """"N running servers keep running" or "... will be stopped", naming the settings (or,
    with `stopper`, what else stops them although the hub would keep them)."""
    if not running:
        return "no users' servers are running"
    count = f"{len(running)} running server{'s' if len(running) != 1 else ''}"
    if keeps:
        return (f"{count} keep running through the upgrade (the proxy runs on its own and "
                "cleanup_servers is False)")
    names = ", ".join(running[:10]) + (", ..." if len(running) > 10 else "")
    if stopper:
        return f"{count} will be stopped ({names}): {stopper}"
    return (f"{count} will be stopped ({names}): to keep them, run {KEEP_SERVERS_SETTINGS}")


def _data_warnings(chain: list[Revision], rows: dict[str, int]) -> list[str]:
    """What the revisions destroy or rewrite, with the rows concerned."""
    warnings: list[str] = []
    for revision in chain:
        for table in revision.drops:
            if rows.get(table):
                what = " (every API token: users and services need new ones)" \
                    if table == "api_tokens" else ""
                warnings.append(f"revision {revision.id} ({revision.title}) drops table "
                                f"{table}: all its {rows[table]} rows will be deleted{what}; "
                                "the backup keeps them")
        for table in revision.rewrites:
            if rows.get(table):
                warnings.append(f"revision {revision.id} ({revision.title}) rewrites the "
                                f"{rows[table]} rows of {table}: only the backup can undo it")
    return warnings


def plan_upgrade(
    *,
    hub: str,
    engine: str,
    can_downgrade: bool,
    running_version: str | None,
    installed_version: str,
    target_version: str,
    current_revision: str | None,
    graphs: list[tuple[str, RevisionGraph]],
    new_install: str,
    running_servers: list[str] | None = None,
    keeps_servers: bool | None = None,
    servers_stopper: str | None = None,
    row_counts: dict[str, int] | None = None,
    requested_version: str | None = None,
) -> UpgradePlan:
    """The plan for one hub through `graphs`: (version, its revision graph) of each hop, the
    target last. `servers_stopper` says what stops users' servers although the hub's own
    settings keep them. Raises PreflightError when the database is newer than a hop."""
    if servers_stopper:
        keeps_servers = False
    hops: list[Hop] = []
    chain: list[Revision] = []
    revision = current_revision
    for version, graph in graphs:
        steps = graph.path(revision)
        chain += steps
        hops.append(Hop(version=version, from_revision=revision, target_revision=graph.head,
                        migrations=[_migration(r) for r in steps]))
        revision = graph.head
    warnings: list[str] = []
    if running_version and running_version != installed_version:
        warnings.append(
            f"the hub answers version {running_version} but its venv holds {installed_version}: "
            "it was upgraded without a restart"
        )
    if chain and not can_downgrade:
        warnings.append(
            f"{engine} cannot downgrade a migrated database: the backup is the only way back"
        )
    versions = [installed_version, *(hop.version for hop in hops)]
    for low, high in zip(versions, versions[1:], strict=False):
        if _major(high) - _major(low) > 1:
            warnings.append(
                f"the jump {low} -> {high} crosses more than one major version; JupyterHub's "
                "data migrations are safest one major version at a time (try --via auto)"
            )
    running_servers = running_servers or []
    if running_servers and not keeps_servers:
        warnings.append(servers_outlook(running_servers, keeps_servers, servers_stopper))
    warnings += _data_warnings(chain, row_counts or {})
    return UpgradePlan(
        hub=hub,
        engine=engine,
        running_version=running_version,
        installed_version=installed_version,
        target_version=target_version,
        requested_version=requested_version if requested_version != target_version else None,
        current_revision=current_revision,
        target_revision=hops[-1].target_revision,
        migrations=[m for hop in hops for m in hop.migrations],
        hops=hops,
        new_install=new_install,
        active_servers=len(running_servers),
        running_servers=running_servers,
        keeps_servers=keeps_servers,
        servers_stopper=servers_stopper,
        warnings=warnings,
    )


def _migration(revision: Revision) -> Migration:
    return Migration(revision=revision.id, title=revision.title, doc=revision.doc.strip(),
                     drops=list(revision.drops), rewrites=list(revision.rewrites))


def dropped_tables(plan: UpgradePlan) -> tuple[str, ...]:
    """Tables the planned migrations drop: their rows are rightly gone afterwards."""
    return tuple(sorted({t for m in plan.migrations for t in m.drops}))


def rewritten_tables(plan: UpgradePlan) -> tuple[str, ...]:
    """Tables the planned migrations rewrite: the new release may add rows to them."""
    return tuple(sorted({t for m in plan.migrations for t in m.rewrites}))


def render(plan: UpgradePlan) -> str:
    """The plan as a person reads it (the CLI and the Prefect artifact print this)."""
    lines = [
        f"hub {plan.hub}: JupyterHub {plan.installed_version} -> {plan.target_version}"
        + (f" ({plan.requested_version})" if plan.requested_version else "")
        + (" (up to date)" if plan.up_to_date else ""),
        f"  running version:   {plan.running_version or 'unreachable'}",
        f"  database:          {plan.engine}, alembic {plan.current_revision or 'none'}"
        f" -> {plan.target_revision}",
        f"  new install:       {plan.new_install}",
        f"  users' servers:    {plan.servers_outlook}",
    ]
    if len(plan.hops) > 1:
        lines.append("  hops:              " + " -> ".join(
            [plan.installed_version, *(hop.version for hop in plan.hops)]))
    if plan.migrations:
        for hop in plan.hops:
            if not hop.migrations:
                continue
            lines.append(f"  migrations upgrade-db of {hop.version} will run:")
            lines += [f"    {m.revision}  {m.title}" for m in hop.migrations]
    else:
        lines.append("  migrations upgrade-db will run: none")
    lines += [f"  warning: {w}" for w in plan.warnings]
    lines += [f"  note: {n}" for n in plan.notes]
    return "\n".join(lines)
