"""What a manual rollback's report says the restore discards: rows matched by key, owners
named, long lists cut, and a report that could not be computed says why."""

from __future__ import annotations

from hubshift.backends.databases.rows import TableRows
from hubshift.backup.discards import MAX_NAMED, DiscardReport, TableDiscard, compare


def _users(*names: str) -> TableRows:
    return TableRows(columns=("id", "name"), key=("id",),
                     rows=[(i + 1, name) for i, name in enumerate(names)])


def test_rows_the_backup_lacks_are_counted_and_named_by_key() -> None:
    live = {
        "users": _users("admin", "alice", "newbie"),
        "api_tokens": TableRows(columns=("id", "user_id", "note", "hashed"), key=("id",),
                                rows=[(1, 2, "seed", "h1"), (7, 3, "for CI", "h7")]),
        "groups": TableRows(columns=("id", "name"), key=("id",), rows=[(1, "physics")]),
        "spawners": TableRows(columns=("id", "user_id"), key=("id",), rows=[(5, 3)]),
    }
    backup = {
        "users": _users("admin", "alice"),
        "api_tokens": TableRows(columns=("id", "user_id", "note", "hashed"), key=("id",),
                                rows=[(1, 2, "seed", "h1")]),
        "groups": TableRows(columns=("id", "name"), key=("id",), rows=[(1, "physics")]),
    }
    assert compare(live, backup) == [
        TableDiscard(table="users", rows=1, names=["newbie"]),
        TableDiscard(table="api_tokens", rows=1, names=["token 7 of newbie ('for CI')"]),
        TableDiscard(table="spawners", rows=1),  # a table the backup lacks: every row
    ]


def test_a_changed_row_is_not_a_discarded_one_and_keyless_tables_match_on_columns() -> None:
    live = {"users": _users("admin", "alice-renamed"),
            "user_group_map": TableRows(columns=("user_id", "group_id"), key=(),
                                        rows=[(1, 1), (2, 1)])}
    backup = {"users": _users("admin", "alice"),
              "user_group_map": TableRows(columns=("user_id", "group_id"), key=(),
                                          rows=[(1, 1)])}
    assert compare(live, backup) == [TableDiscard(table="user_group_map", rows=1)]


def test_the_report_names_at_most_a_few_and_counts_the_rest() -> None:
    many = [f"user{i:02d}" for i in range(25)]
    [users] = compare({"users": _users(*many)}, {"users": _users()})
    assert (users.rows, len(users.names)) == (25, MAX_NAMED)
    report = DiscardReport(hub="physics", backup_id="20261121T031500Z", tables=[users])
    head, line = report.lines()
    assert head == ("restoring backup 20261121T031500Z over hub physics's live database "
                    "discards 25 row(s) written since the backup:")
    assert line == "  users: 25: " + ", ".join(many[:MAX_NAMED]) + ", and 15 more"


def test_a_report_without_loss_or_without_an_answer_says_so() -> None:
    empty = DiscardReport(hub="physics", backup_id="B")
    assert empty.lines() == ["restoring backup B over hub physics's live database discards "
                             "no row: the live database has none the backup lacks"]
    unknown = DiscardReport(hub="physics", backup_id="B", error="permission denied")
    assert unknown.lines() == ["restoring backup B over hub physics's live database: what it "
                               "discards could not be computed (permission denied)"]
