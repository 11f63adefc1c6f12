"""What an upgrade will do, computed without I/O from facts gathered by preflight.

Keeping the plan pure means `hubshift plan` and the flow print and follow the same thing,
and unit tests can check every warning without a hub.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from hubshift.migrations import RevisionGraph


class Migration(BaseModel):
    revision: str
    title: str
    doc: str = ""
    drops: list[str] = Field(default_factory=list, description="Tables it drops")
    rewrites: list[str] = Field(default_factory=list, description="Tables it rewrites")


class UpgradePlan(BaseModel):
    hub: str
    engine: str
    running_version: str | None = Field(description="Version the hub's REST API reports")
    installed_version: str = Field(description="Version installed in the hub's venv")
    target_version: str
    current_revision: str | None
    target_revision: str
    migrations: list[Migration]
    new_install: str = Field(description="Where the target version will be installed")
    active_servers: int = 0
    warnings: list[str] = Field(default_factory=list)

    @property
    def up_to_date(self) -> bool:
        return self.installed_version == self.target_version and not self.migrations


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else 0


def plan_upgrade(
    *,
    hub: str,
    engine: str,
    can_downgrade: bool,
    running_version: str | None,
    installed_version: str,
    target_version: str,
    current_revision: str | None,
    graph: RevisionGraph,
    new_install: str,
    active_servers: int = 0,
    row_counts: dict[str, int] | None = None,
) -> UpgradePlan:
    """The plan for one hub. Raises PreflightError when the database is newer than the target."""
    chain = graph.path(current_revision)
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
    if _major(target_version) - _major(installed_version) > 1:
        warnings.append(
            f"the jump {installed_version} -> {target_version} crosses more than one major "
            "version; JupyterHub's data migrations are safest one major version at a time"
        )
    if active_servers:
        warnings.append(f"{active_servers} running user server(s) will be interrupted by the stop")
    rows = row_counts or {}
    for revision in chain:
        for table in revision.drops:
            if rows.get(table):
                warnings.append(f"revision {revision.id} ({revision.title}) drops table "
                                f"{table}: its {rows[table]} rows will be lost (the backup "
                                "keeps them)")
        for table in revision.rewrites:
            if rows.get(table):
                warnings.append(f"revision {revision.id} ({revision.title}) rewrites the "
                                f"{rows[table]} rows of {table}: only the backup can undo it")
    return UpgradePlan(
        hub=hub,
        engine=engine,
        running_version=running_version,
        installed_version=installed_version,
        target_version=target_version,
        current_revision=current_revision,
        target_revision=graph.head,
        migrations=[Migration(revision=r.id, title=r.title, doc=r.doc.strip(),
                              drops=list(r.drops), rewrites=list(r.rewrites)) for r in chain],
        new_install=new_install,
        active_servers=active_servers,
        warnings=warnings,
    )


def render(plan: UpgradePlan) -> str:
    """The plan as a person reads it (the CLI and the Prefect artifact print this)."""
    lines = [
        f"hub {plan.hub}: JupyterHub {plan.installed_version} -> {plan.target_version}"
        + (" (up to date)" if plan.up_to_date else ""),
        f"  running version:   {plan.running_version or 'unreachable'}",
        f"  database:          {plan.engine}, alembic {plan.current_revision or 'none'}"
        f" -> {plan.target_revision}",
        f"  new install:       {plan.new_install}",
    ]
    if plan.migrations:
        lines.append("  migrations upgrade-db will run:")
        lines += [f"    {m.revision}  {m.title}" for m in plan.migrations]
    else:
        lines.append("  migrations upgrade-db will run: none")
    lines += [f"  warning: {w}" for w in plan.warnings]
    return "\n".join(lines)
