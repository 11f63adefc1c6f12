"""Row digests: the same rows give the same digest whatever their order, and any loss shows."""

from __future__ import annotations

import datetime as dt

from hubshift.digest import differences, table_digest

COLUMNS = ["id", "name", "admin", "last_activity"]
ROWS = [
    (1, "alice", True, dt.datetime(2026, 1, 1, 12, 0)),
    (2, "bob", False, None),
    (3, "carol", False, dt.datetime(2026, 1, 2, 8, 30)),
]


def test_order_of_rows_and_columns_does_not_matter() -> None:
    a = table_digest(COLUMNS, ROWS)
    b = table_digest(list(reversed(COLUMNS)), [tuple(reversed(r)) for r in reversed(ROWS)])
    assert a == b
    assert a.rows == 3


def test_a_lost_row_and_a_changed_value_are_reported() -> None:
    before = {"users": table_digest(COLUMNS, ROWS)}
    lost = {"users": table_digest(COLUMNS, ROWS[:2])}
    changed = {"users": table_digest(COLUMNS, [ROWS[0], (2, "bobby", False, None), ROWS[2]])}
    assert differences(before, lost)[0] == "table users: 3 rows before, 2 after"
    assert "table users: values of column name differ" in differences(before, lost)
    assert differences(before, changed) == ["table users: values of column name differ"]
    assert differences(before, {}) == ["table users is missing"]


def test_columns_added_by_a_migration_are_not_losses() -> None:
    before = {"roles": table_digest(["id", "name"], [(1, "admin"), (2, "user")])}
    after = {"roles": table_digest(["id", "name", "managed_by_auth"],
                                   [(1, "admin", False), (2, "user", False)])}
    assert differences(before, after) == []
    assert differences(before, after, exact=True) == ["table roles: row contents differ"]


def test_ignored_columns_may_change_bare_or_qualified() -> None:
    before = {"users": table_digest(COLUMNS, ROWS)}
    touched = [(i, n, a, dt.datetime(2026, 11, 21)) for i, n, a, _ in ROWS]
    after = {"users": table_digest(COLUMNS, touched)}
    assert differences(before, after) == ["table users: values of column last_activity differ"]
    assert differences(before, after, ignore_columns={"last_activity"}) == []
    assert differences(before, after, ignore_columns={"users.last_activity"}) == []
    assert differences(before, after, ignore_columns={"groups.last_activity"}) != []


def test_values_from_different_drivers_normalise_alike() -> None:
    # psycopg2 returns memoryview and aware datetimes; sqlite3 bytes and naive ones.
    a = table_digest(["k", "t", "n"], [(b"\x01\x02", dt.datetime(2026, 1, 1, 1), 2.0)])
    b = table_digest(["k", "t", "n"], [(memoryview(b"\x01\x02"),
                                        dt.datetime(2026, 1, 1, 1, tzinfo=dt.timezone.utc), 2)])
    assert a == b


def test_only_named_tables_are_compared() -> None:
    before = {"users": table_digest(COLUMNS, ROWS), "spawners": table_digest(["id"], [(1,)])}
    after = {"users": table_digest(COLUMNS, ROWS), "spawners": table_digest(["id"], [])}
    assert differences(before, after, tables=["users"]) == []
    assert differences(before, after) != []


def test_a_table_that_may_grow_may_gain_rows_but_not_lose_or_change_them() -> None:
    before = {"oauth_clients": table_digest(COLUMNS, ROWS[:2])}
    grown = {"oauth_clients": table_digest(COLUMNS, ROWS)}
    shrunk = {"oauth_clients": table_digest(COLUMNS, ROWS[:1])}
    changed = {"oauth_clients": table_digest(COLUMNS, [ROWS[0], (2, "bobby", False, None)])}
    grows = ["oauth_clients"]
    assert differences(before, grown, may_grow=grows) == []
    assert differences(before, grown) != []
    assert "table oauth_clients: 2 rows before, 1 after" in differences(before, shrunk,
                                                                         may_grow=grows)
    assert differences(before, changed, may_grow=grows) == [
        "table oauth_clients: values of column name differ"]
