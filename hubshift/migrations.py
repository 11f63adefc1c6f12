"""JupyterHub's alembic revision graph, read from a release's own files without importing them.

Importing a release's migration scripts would import its ORM (and its SQLAlchemy), which is
not ours; reading them with `ast` gives revision ids, parents and docstrings from any release.
"""

from __future__ import annotations

import ast
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
    return Revision(revision, down if isinstance(down, str) else None,
                    ast.get_docstring(tree) or "")


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
