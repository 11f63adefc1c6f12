"""JupyterHub's alembic revision graph, read from a release's own files without importing them.

Importing a release's migration scripts would import its ORM (and its SQLAlchemy), which is
not ours, so alembic's ScriptDirectory cannot load them here; reading them with `ast` gives
revision ids, parents, docstrings and the tables each upgrade() drops or rewrites, from any
release, without a hand-kept table.
"""

from __future__ import annotations

import ast
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from hubshift.errors import PreflightError

_VERSIONS_DIR = "jupyterhub/alembic/versions/"


@dataclass(frozen=True)
class Revision:
    id: str
    down_revision: str | None
    doc: str
    #: Tables its upgrade() drops (their rows are gone unless recreated from them).
    drops: tuple[str, ...] = ()
    #: Tables its upgrade() rewrites with UPDATE or DELETE statements.
    rewrites: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.doc.strip().splitlines()[0] if self.doc.strip() else self.id


@dataclass(frozen=True)
class RevisionGraph:
    revisions: dict[str, Revision]

    @property
    def heads(self) -> list[str]:
        parents = {r.down_revision for r in self.revisions.values()}
        return sorted(r for r in self.revisions if r not in parents)

    @property
    def head(self) -> str:
        heads = self.heads
        if len(heads) != 1:
            raise PreflightError(f"expected one alembic head, found {heads}")
        return heads[0]

    def path(self, current: str | None, target: str | None = None) -> list[Revision]:
        """Revisions an upgrade from `current` to `target` (default: head) runs, oldest first.

        Raises PreflightError when `current` is unknown to this release: a database
        written by a newer JupyterHub, which `upgrade-db` cannot downgrade.
        """
        target = target or self.head
        if current is not None and current not in self.revisions:
            raise PreflightError(
                f"the database is at alembic revision {current}, which this release does not "
                "know: it was written by a newer JupyterHub (a downgrade is refused)",
                step="plan",
            )
        chain: list[Revision] = []
        node: str | None = target
        while node is not None and node != current:
            revision = self.revisions[node]
            chain.append(revision)
            node = revision.down_revision
        if node != current:
            raise PreflightError(f"revision {current} is not an ancestor of {target}")
        return list(reversed(chain))


_SQL_TABLE = re.compile(r"^\s*(?:UPDATE|DELETE\s+FROM)\s+[`\"]?(\w+)", re.IGNORECASE)


def _destructive(tree: ast.Module) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Tables dropped and rewritten by the script's upgrade() (downgrade() does not count)."""
    upgrade = next((n for n in tree.body
                    if isinstance(n, ast.FunctionDef) and n.name == "upgrade"), None)
    drops: list[str] = []
    rewrites: list[str] = []
    extended: list[str] = []
    uses_orm = False
    for node in ast.walk(upgrade) if upgrade else ():
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Name) and node.func.id == "Session":
            uses_orm = True  # a data migration through JupyterHub's own models
        if not (isinstance(node.func, ast.Attribute) and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            continue
        if node.func.attr == "drop_table":
            drops.append(node.args[0].value)
        elif node.func.attr == "execute" and (match := _SQL_TABLE.match(node.args[0].value)):
            rewrites.append(match.group(1))
        elif node.func.attr in ("add_column", "alter_column"):
            extended.append(node.args[0].value)
    if uses_orm:
        # The ORM fills the columns it adds (3.0 turns token roles into scopes).
        rewrites += [t for t in extended if t not in drops]
    return tuple(dict.fromkeys(drops)), tuple(dict.fromkeys(rewrites))


def _parse(source: str) -> Revision | None:
    tree = ast.parse(source)
    values: dict[str, object] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            name = getattr(node.targets[0], "id", None)
            if name in ("revision", "down_revision"):
                values[name] = ast.literal_eval(node.value)
    revision = values.get("revision")
    if not isinstance(revision, str):
        return None
    down = values.get("down_revision")
    drops, rewrites = _destructive(tree)
    return Revision(revision, down if isinstance(down, str) else None,
                    ast.get_docstring(tree) or "", drops, rewrites)


def graph_from_wheel(wheel: Path) -> RevisionGraph:
    """The revision graph shipped in a JupyterHub wheel."""
    revisions: dict[str, Revision] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in archive.namelist():
            if name.startswith(_VERSIONS_DIR) and name.endswith(".py"):
                parsed = _parse(archive.read(name).decode("utf-8"))
                if parsed is not None:
                    revisions[parsed.id] = parsed
    if not revisions:
        raise PreflightError(f"{wheel.name} holds no alembic migration scripts")
    return RevisionGraph(revisions)
