"""Row digests: the same rows give the same digest whatever their order, and any loss shows."""

from __future__ import annotations

import datetime as dt
import decimal
import hashlib
import json
import uuid

from hubshift.integrity.digest import TableDigest, _normal, differences, table_digest

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

def _reference_digest(columns: list[str], rows: list[tuple]) -> TableDigest:
    """The digest as first defined (one `json.dumps` per row and per value): manifests
    already stored hold digests computed so, and the fast one must reproduce them."""
    names, order = list(columns), sorted(range(len(columns)), key=lambda i: columns[i])

    def encode(value: object) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)

    def hash_sorted(items: list[str]) -> str:
        h = hashlib.sha256()
        for item in sorted(items):
            h.update(item.encode())
            h.update(b"\n")
        return h.hexdigest()

    encoded_rows, per_column = [], {name: [] for name in names}
    for row in rows:
        values = [_normal(v) for v in row]
        encoded_rows.append(encode({names[i]: values[i] for i in order}))
        for i, name in enumerate(names):
            per_column[name].append(encode(values[i]))
    return TableDigest(rows=len(encoded_rows), sha256=hash_sorted(encoded_rows),
                       columns={name: hash_sorted(per_column[name]) for name in sorted(names)})


def test_digest_equals_the_reference_definition_for_every_kind_of_value() -> None:
    columns = ["z_last", "id", "Name", "flag", "ratio", "blob", "when", "day", "at", "price",
               "json_text", "nothing", "big", "uuid"]
    rows = [
        (1, 1, "alice", True, 0.5, b"\x00\xff", dt.datetime(2026, 1, 1, 12, 0, 0, 1),
         dt.date(2026, 1, 1), dt.time(8, 30), decimal.Decimal("1.50"),
         '{"scopes": ["read:users"]}', None, 2**70, uuid.UUID(int=1)),
        (2, 2, "bøb \"quoted\" \\ \n\t\u2603 \U0001f600", False, 2.0, memoryview(b"x"),
         dt.datetime(2026, 1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=2))),
         dt.date(1999, 12, 31), dt.time(23, 59, 59, 999999), decimal.Decimal("0"),
         "", None, -3, None),
        (None, 3, "", None, float("nan"), bytearray(b""), None, None, None, None,
         "null", None, 0, None),
        (4, 4, "x", 1, float("inf"), None, None, None, None, decimal.Decimal("-1e-3"),
         "[1, 2]", None, -(2**63), None),
    ]
    assert table_digest(columns, rows) == _reference_digest(columns, rows)
    assert table_digest(columns, []) == _reference_digest(columns, [])
    assert table_digest(["only"], [(7,)]) == _reference_digest(["only"], [(7,)])


def test_digest_of_a_stored_manifest_is_reproduced() -> None:
    # Written by hubshift's first digest; a rollback compares with manifests like this one.
    digest = table_digest(COLUMNS, ROWS[:2])
    assert digest.keyed is None  # no primary key given: the first digest's fields only
    assert digest.model_dump(exclude_none=True) == {
        "rows": 2,
        "sha256": "e90dedf34d1137b129874ceadfdd380f6bdaea8341ea1df7ebddeae3811be031",
        "columns": {
            "admin": "82c1315e6c757f33c4a77ca58b2a184f5a88614470c05ec77f3d28918db6b8ae",
            "id": "a6e2b7a040683432de03a18fd8a1939a2fdf82585b364bfc874bdd4095c4cae1",
            "last_activity": "3a076fa7440d8391a360629cbb501311228e45cf0aa34651cd4c763ae45d7749",
            "name": "7d76192b404cc45ce8d886a8ce1099c70be95177cd69e8d3da999f89562cc308",
        },
    }


def test_two_tokens_whose_owners_are_swapped_are_a_difference() -> None:
    columns, key = ["id", "user_id", "hashed"], ["id"]
    tokens = [(1, 10, "h-one"), (2, 20, "h-two"), (3, 20, "h-three")]
    swapped = [(1, 20, "h-one"), (2, 10, "h-two"), (3, 20, "h-three")]
    before = {"api_tokens": table_digest(columns, tokens, key)}
    after = {"api_tokens": table_digest(columns, swapped, key)}
    # The column's values alone are the same; keyed by the token, they moved.
    assert before["api_tokens"].columns == after["api_tokens"].columns
    assert before["api_tokens"].sha256 != after["api_tokens"].sha256
    assert differences(before, after) == [
        "table api_tokens: values of column user_id moved between rows"]
    assert differences(before, {"api_tokens": table_digest(columns, tokens, key)}) == []


def test_a_digest_without_keyed_hashes_is_compared_by_its_columns() -> None:
    columns = ["id", "user_id"]
    old = {"t": table_digest(columns, [(1, 10), (2, 20)])}  # a manifest from before keys
    new = {"t": table_digest(columns, [(1, 20), (2, 10)], ["id"])}
    assert old["t"].keyed is None and new["t"].keyed is not None
    assert differences(old, new) == []  # what an old manifest can tell, and no false alarm
