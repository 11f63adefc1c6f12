"""What a move will do, checked while the hub runs: every refusal (exit 2) comes from here,
before anything is touched."""

from __future__ import annotations

from dataclasses import dataclass

from hubshift.backends.databases import database_for
from hubshift.backends.databases.urls import ServerURL, engine_of, parse_server_url
from hubshift.backends.installers import installer_for
from hubshift.backends.runtimes import runtime_for
from hubshift.config import HubConfig
from hubshift.errors import PreflightError
from hubshift.move.target import TargetState, check_target, target_server
from hubshift.move.wiring import db_url_variable


@dataclass(frozen=True)
class MovePlan:
    """The move of one hub's database: from where, to where, through which variable."""

    hub: str
    version: str
    source_engine: str
    target: ServerURL
    #: The environment variable the hub's config reads its db_url from.
    variable: str
    #: Tables the target held when checked (dropped first, with --replace).
    found_tables: tuple[str, ...]

    @property
    def shown_target(self) -> str:
        """The target for people: engine, database and where, never the password."""
        return f"{self.target.engine} database {self.target.database!r} at {self.target.where}"


def plan_move(hub: HubConfig, to_url: str, *, replace: bool) -> MovePlan:
    """Check everything a move needs that can be checked with the hub up (its config's
    wiring, its runtime, the target) and say what it will do. Raises ConfigError or
    PreflightError (exit 2); touches nothing but a probe table in the target."""
    source_url = hub.db_url.get_secret_value()
    source = database_for(source_url, hub=hub.name)
    server = target_server(to_url, hub=hub.name)
    if engine_of(source_url) is not None and _same(parse_server_url(source_url), server):
        raise PreflightError("--to-url names the database the hub already uses", hub=hub.name,
                             step="move-check")
    variable = db_url_variable(hub.config_file, hub=hub.name)
    runtime = runtime_for(hub)
    problem = runtime.set_env_problem()
    if problem is not None:
        raise PreflightError(
            f"the hub's runtime cannot give it its new database URL: {problem}",
            hub=hub.name, step="move-check",
            hint=f"hubshift sets ${variable} through runtime kind process (a file in its "
                 "workdir), systemd (a drop-in) or command (runtime.env_file)")
    if not source.exists():
        raise PreflightError("the hub's own database cannot be opened", hub=hub.name,
                             step="move-check")
    state: TargetState = check_target(server, replace=replace, hub=hub.name)
    return MovePlan(hub=hub.name, version=installer_for(hub).current().version,
                    source_engine=source.engine, target=server, variable=variable,
                    found_tables=state.tables)


def _same(a: ServerURL, b: ServerURL) -> bool:
    return (a.engine, a.host, a.port, a.database) == (b.engine, b.host, b.port, b.database)
