"""Revision graphs read from a release wheel, and the plan computed from them (no I/O)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from hubshift.errors import PreflightError
from hubshift.plan.migrations import graph_from_wheel
from hubshift.plan.upgrade import dropped_tables, plan_upgrade, render

SCRIPT = '''"""{doc}

Revision ID: {rev}
"""
# the revision identifiers, used by Alembic.
revision = '{rev}'
down_revision = {down!r}

import sqlalchemy as sa  # never imported by hubshift
from jupyterhub.orm import JSONDict


def upgrade():
    {body}


def downgrade():
    op.drop_table('users')
'''


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    """A wheel shaped like JupyterHub's: base -> a1 -> b2 -> c3."""
    path = tmp_path / "jupyterhub-9.9.9-py3-none-any.whl"
    chain = [("base", None, "base revision", "pass"),
             ("a1", "base", "Add a column", "op.add_column('users', sa.Column('x'))"),
             ("b2", "a1", "Rewrite tokens\n\nDeletes every token.",
              "op.drop_table('api_tokens')\n    op.execute('DELETE FROM oauth_codes')"),
             ("c3", "b2", "manage roles", "op.execute('UPDATE roles SET managed = false')")]
    with zipfile.ZipFile(path, "w") as archive:
        for rev, down, doc, body in chain:
            archive.writestr(f"jupyterhub/alembic/versions/{rev}_x.py",
                             SCRIPT.format(rev=rev, down=down, doc=doc, body=body))
        archive.writestr("jupyterhub/alembic/versions/__init__.py", "")
        archive.writestr("jupyterhub/orm.py", "raise ImportError('must not be imported')")
    return path


def test_the_graph_is_read_without_importing_the_scripts(wheel: Path) -> None:
    graph = graph_from_wheel(wheel)
    assert graph.head == "c3"
    assert [r.id for r in graph.path("a1")] == ["b2", "c3"]
    assert [r.id for r in graph.path(None)] == ["base", "a1", "b2", "c3"]
    assert graph.path("c3") == []
    assert graph.revisions["b2"].title == "Rewrite tokens"


def test_what_an_upgrade_destroys_is_read_from_upgrade_only(wheel: Path) -> None:
    graph = graph_from_wheel(wheel)
    assert graph.revisions["b2"].drops == ("api_tokens",)
    assert graph.revisions["b2"].rewrites == ("oauth_codes",)
    assert graph.revisions["c3"].rewrites == ("roles",)
    assert graph.revisions["a1"].drops == ()  # its downgrade() drops users: not counted


def test_the_plan_warns_with_row_counts_from_the_database(wheel: Path) -> None:
    plan = _plan(wheel, row_counts={"api_tokens": 5000, "oauth_codes": 0, "roles": 4})
    assert any("b2 (Rewrite tokens) drops table api_tokens: all its 5000 rows will be deleted" in w
               for w in plan.warnings)
    assert any("rewrites the 4 rows of roles" in w for w in plan.warnings)
    assert not any("oauth_codes" in w for w in plan.warnings)  # nothing there to lose


def test_a_database_newer_than_the_target_is_refused(wheel: Path) -> None:
    with pytest.raises(PreflightError, match="written by a newer JupyterHub"):
        graph_from_wheel(wheel).path("zz99")


def _plan(wheel: Path, **overrides):
    args = dict(hub="physics", engine="sqlite", can_downgrade=False, running_version="4.1.6",
                installed_version="4.1.6", target_version="5.5.4", current_revision="a1",
                graphs=[("5.5.4", graph_from_wheel(wheel))], new_install="/srv/physics/venv-5.5.4")
    return plan_upgrade(**{**args, **overrides})


def test_the_plan_lists_revisions_and_warns_where_it_should(wheel: Path) -> None:
    plan = _plan(wheel, running_servers=["alice", "bob", "bob/lab"])
    assert [m.revision for m in plan.migrations] == ["b2", "c3"]
    assert plan.target_revision == "c3" and not plan.up_to_date
    assert any("cannot downgrade" in w for w in plan.warnings)
    assert any(w.startswith("3 running servers will be stopped (alice, bob, bob/lab)")
               and "JupyterHub.cleanup_servers = False" in w and "should_start = False" in w
               for w in plan.warnings)
    text = render(plan)
    assert "b2  Rewrite tokens" in text and "4.1.6 -> 5.5.4" in text


def test_servers_that_outlive_the_stop_are_no_warning(wheel: Path) -> None:
    plan = _plan(wheel, running_servers=["alice", "bob/lab"], keeps_servers=True)
    assert not any("server" in w for w in plan.warnings)
    assert "2 running servers keep running" in render(plan)
    assert "no users' servers are running" in render(_plan(wheel, keeps_servers=False))


def test_long_jumps_and_unrestarted_hubs_are_warned(wheel: Path) -> None:
    plan = _plan(wheel, installed_version="2.3.1", running_version="2.1.0")
    assert any("crosses more than one major version" in w for w in plan.warnings)
    assert any("answers version 2.1.0 but its venv holds 2.3.1" in w for w in plan.warnings)


def test_an_engine_that_can_downgrade_gets_no_downgrade_warning(wheel: Path) -> None:
    assert not any("downgrade" in w for w in _plan(wheel, can_downgrade=True).warnings)


def test_a_hub_on_the_target_is_up_to_date(wheel: Path) -> None:
    plan = _plan(wheel, installed_version="5.5.4", current_revision="c3")
    assert plan.up_to_date and plan.migrations == []


def _wheel(path: Path, chain: list[tuple[str, str | None, str, str]]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for rev, down, doc, body in chain:
            archive.writestr(f"jupyterhub/alembic/versions/{rev}_x.py",
                             SCRIPT.format(rev=rev, down=down, doc=doc, body=body))
    return path


def test_an_orm_data_migration_counts_as_rewriting_the_tables_it_extends(tmp_path: Path) -> None:
    body = ("op.add_column('api_tokens', sa.Column('scopes'))\n    db = Session(bind=c)\n"
            "    op.drop_table('api_token_role_map')")
    graph = graph_from_wheel(_wheel(tmp_path / "jupyterhub-3.0.0-py3-none-any.whl",
                                    [("s1", None, "api_token_scopes", body)]))
    assert graph.revisions["s1"].rewrites == ("api_tokens",)
    assert graph.revisions["s1"].drops == ("api_token_role_map",)


def test_each_hop_runs_the_revisions_its_own_release_adds(wheel: Path, tmp_path: Path) -> None:
    # An older release knows base -> a1 -> b2 only; the target adds c3.
    older = _wheel(tmp_path / "jupyterhub-8.0.0-py3-none-any.whl",
                   [("base", None, "base revision", "pass"),
                    ("a1", "base", "Add a column", "pass"),
                    ("b2", "a1", "Rewrite tokens", "op.drop_table('api_tokens')")])
    plan = _plan(wheel, installed_version="7.0.0", current_revision="base",
                 graphs=[("8.0.0", graph_from_wheel(older)), ("9.9.9", graph_from_wheel(wheel))],
                 target_version="9.9.9", row_counts={"api_tokens": 7})
    assert [(h.version, [m.revision for m in h.migrations]) for h in plan.hops] == [
        ("8.0.0", ["a1", "b2"]), ("9.9.9", ["c3"])]
    assert [m.revision for m in plan.migrations] == ["a1", "b2", "c3"]
    assert plan.hops[1].from_revision == "b2" and plan.target_revision == "c3"
    assert dropped_tables(plan) == ("api_tokens",)
    assert any("all its 7 rows will be deleted" in w for w in plan.warnings)
    assert not any("more than one major" in w for w in plan.warnings)
    text = render(plan)
    assert "hops:              7.0.0 -> 8.0.0 -> 9.9.9" in text
    assert "upgrade-db of 8.0.0 will run" in text and "upgrade-db of 9.9.9 will run" in text


def test_a_runtime_that_stops_the_hubs_children_overrides_the_settings(wheel: Path) -> None:
    plan = _plan(wheel, running_servers=["alice"], keeps_servers=True,
                 servers_stopper="systemd stops every process of unit hub.service")
    assert plan.keeps_servers is False
    assert plan.warnings[-1] == ("1 running server will be stopped (alice): systemd stops "
                                 "every process of unit hub.service")
