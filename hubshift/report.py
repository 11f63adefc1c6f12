"""The record of one upgrade for people: the Prefect artifact and the CLI summary."""

from __future__ import annotations

from hubshift.result import UpgradeResult
from hubshift.system.redact import redact


def render_markdown(result: UpgradeResult) -> str:
    downtime = (f"{result.downtime_seconds:.1f} s" if result.downtime_seconds is not None
                else "none")
    lines = [
        f"# Upgrade of `{result.hub}`: {result.status}",
        "",
        "| | |",
        "|---|---|",
        f"| JupyterHub | {result.from_version or '?'} → {result.to_version or '?'} |",
        f"| alembic | {result.from_revision or '?'} → {result.to_revision or '?'} |",
        f"| backup | `{result.backup_id or 'none'}` |",
    ]
    if result.safety_backup_id:
        lines.append(f"| safety backup | `{result.safety_backup_id}` |")
    if result.rehearsal is not None:
        lines.append(f"| rehearsal (hub up) | {result.rehearsal.summary()} |")
    lines += [
        f"| downtime | {downtime} |",
    ]
    if result.error:
        lines.append(f"| error | {redact(result.error)} (step {result.failed_step}) |")
    if result.servers is not None and result.servers.before:
        lines.append(f"| users' servers | {result.servers.summary()} |")
    if result.migrations:
        lines += ["", "## Migrations", ""] + [f"- {m}" for m in result.migrations]
    lines += ["", "## Steps", "", "| step | seconds | ok |", "|---|---:|---|"]
    lines += [f"| {s.name} | {s.seconds:.2f} | {'yes' if s.ok else 'NO'} |" for s in result.steps]
    if result.counts_before:
        lines += ["", "## Rows", "", "| table | before | after |", "|---|---:|---:|"]
        for table, before in result.counts_before.items():
            lines.append(f"| {table} | {before} | {result.counts_after.get(table, '?')} |")
    return "\n".join(lines) + "\n"

