"""After the start on the new database: the hub answers, with the same people and the rows
the copy wrote (what the hub rewrites at every start aside)."""

from __future__ import annotations

from hubshift.backends.databases import database_for
from hubshift.backends.hubapi import HubAPI
from hubshift.config import HubConfig
from hubshift.errors import VerificationError
from hubshift.integrity.digest import KEPT_TABLES, VOLATILE_COLUMNS, Digest, differences

#: User names, and each group's members: what people see of a hub.
Roster = tuple[list[str], dict[str, list[str]]]


def roster(hub: HubConfig) -> Roster:
    """The hub's users and groups as its API lists them (raises HubAPIError)."""
    with HubAPI(hub.own_api_url, hub.api_token.get_secret_value()) as api:
        users = sorted(str(u["name"]) for u in api.users())
        groups = {str(g["name"]): sorted(g["users"]) for g in api.groups()}
    return users, groups


def check_moved(hub: HubConfig, to_url: str, written: Digest, before: Roster) -> Digest:
    """The hub (now on `to_url`) lists the users and groups it listed `before` the stop, and
    its database keeps every row the copy `written`. Returns its digest; raises
    VerificationError saying what differs."""
    now = roster(hub)
    if now != before:
        raise VerificationError(f"the hub lists other users or groups on its new database: "
                                f"{before} before, {now} now", hub=hub.name, step="move-verify")
    digest = database_for(to_url, hub=hub.name).digest()
    lost = differences(written, digest, tables=KEPT_TABLES, ignore_columns=VOLATILE_COLUMNS)
    if lost:
        raise VerificationError("rows differ on the new database after the start: "
                                + "; ".join(lost), hub=hub.name, step="move-verify")
    return digest
