"""Is the hub back, on the right version, with everybody's rows? The last word of a window.

Rows are compared with the backup's manifest, column by column, over the tables that hold
users, groups, roles, services and tokens; columns a migration adds and values a running hub
rewrites by itself (`last_activity`, ...) are not counted as losses.
"""

from __future__ import annotations

from hubshift.backends.databases import database_for
from hubshift.backends.hubapi import HubAPI, wait_healthy
from hubshift.backup.manifest import Manifest
from hubshift.config import HubConfig
from hubshift.errors import VerificationError
from hubshift.integrity.digest import KEPT_TABLES, VOLATILE_COLUMNS, Digest, differences


def wait_for_version(hub: HubConfig, version: str | None, timeout: float) -> float:
    """Wait until the hub is healthy (and reports `version`, if given); return seconds waited."""
    with HubAPI(hub.own_api_url, hub.api_token.get_secret_value()) as api:
        try:
            return wait_healthy(api, timeout, version=version)
        except VerificationError as err:
            err.hub, err.step = hub.name, "verify"
            raise


def check_rows(hub: HubConfig, manifest: Manifest, *, exact: bool = False,
               dropped: tuple[str, ...] = (), rewritten: tuple[str, ...] = ()) -> Digest:
    """The hub database's digest, if it keeps every row of `manifest`; else VerificationError.

    `dropped` are tables the planned migrations drop (2.0 drops every API token): their rows
    are gone by design, and the plan warned about them. `rewritten` tables may gain rows
    (2.0 and later register their own OAuth clients at start) but not lose any.
    """
    digest = database_for(hub.db_url.get_secret_value(), hub=hub.name).digest()
    kept = [t for t in KEPT_TABLES if t not in dropped]
    lost = differences(manifest.digest, digest, tables=kept, may_grow=rewritten,
                       ignore_columns=VOLATILE_COLUMNS, exact=exact)
    if lost:
        raise VerificationError("the database does not match the backup: " + "; ".join(lost),
                                hub=hub.name, step="verify")
    return digest
