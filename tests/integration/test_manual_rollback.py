"""A rollback an admin asks for never destroys data silently: it needs --backup, says what
the restore discards, touches nothing without --yes, and with it first keeps a safety backup
of the hub as it was, which restores like any other. One real hub (SQLite) goes through it."""

from __future__ import annotations

import json

import pytest

from hubshift.backends.hubapi import HubAPIError
from tests.support.fleet import run_cli
from tests.support.hubs import NEW_VERSION, OLD_VERSION
from tests.support.lab import Lab, baseline, module_lab

pytestmark = pytest.mark.integration

HUB = "physics"
NEWBIE = "newbie"


lab = module_lab("manual-rollback", HUB)


def _backups(lab: Lab) -> dict[str, dict]:
    listed = run_cli(["backups", "-f", lab.fleet, "--json"])
    assert listed.returncode == 0, listed.stderr
    return {b["backup_id"]: b for b in json.loads(listed.stdout)["backups"]}


def test_a_rollback_without_backup_or_interrupted_upgrade_exits_2_with_one_line(
        lab: Lab) -> None:
    baseline(lab)
    done = lab.hubshift("rollback", "--yes")
    assert done.returncode == 2, done.stderr[-3000:]
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: --backup is required: no interrupted upgrade of hub "
                           f"{HUB} to finish"), line
    with lab.api() as api:
        assert api.version() == OLD_VERSION


def test_a_manual_rollback_reports_needs_yes_and_keeps_a_safety_backup(lab: Lab) -> None:
    baseline(lab)
    upgraded = lab.hubshift("upgrade", "--json")
    assert upgraded.returncode == 0, upgraded.stderr[-3000:]
    backup_id = json.loads(upgraded.stdout)["backup_id"]
    with lab.api() as api:
        api.request("POST", f"/users/{NEWBIE}")
        token = api.request("POST", f"/users/{NEWBIE}/tokens",
                            {"note": "made after the upgrade"})["token"]
        assert api.whoami(token)["name"] == NEWBIE
    before = _backups(lab)

    # Without --yes: the report, exit 2, and the hub untouched (still up, on the new version).
    refused = lab.hubshift("rollback", "--backup", backup_id)
    assert refused.returncode == 2, refused.stderr[-3000:]
    assert f"restoring backup {backup_id} over hub {HUB}'s live database discards" \
        in refused.stdout, refused.stdout
    assert f"  users: 1: {NEWBIE}" in refused.stdout.splitlines(), refused.stdout
    assert any(line.startswith("  api_tokens: 1: token ") and f"of {NEWBIE}" in line
               for line in refused.stdout.splitlines()), refused.stdout
    assert refused.stderr.splitlines()[-1].startswith(
        f"next: hubshift rollback --hub {HUB} --backup {backup_id} --yes"), refused.stderr
    with lab.api() as api:
        assert api.version() == NEW_VERSION
        assert api.whoami(token)["name"] == NEWBIE
    assert _backups(lab).keys() == before.keys()

    # With --yes: the safety backup first, then the restore.
    done = lab.hubshift("rollback", "--backup", backup_id, "--yes", "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert (result["status"], result["to_version"]) == ("rolled-back", OLD_VERSION)
    safety = result["safety_backup_id"]
    assert safety and safety not in before
    assert any(NEWBIE in line for line in result["discards"]), result
    with lab.api() as api:
        assert api.version() == OLD_VERSION
        assert NEWBIE not in {u["name"] for u in api.users()}
        with pytest.raises(HubAPIError):
            api.whoami(token)
        for user, seeded in lab.seeded.tokens.items():
            assert api.whoami(seeded)["name"] == user
    listed = _backups(lab)[safety]
    assert listed["label"] == f"safety copy before rollback to {backup_id}"
    assert (listed["from_version"], listed["to_version"]) == (NEW_VERSION, OLD_VERSION)
    assert listed["rows"]["users"] == before[backup_id]["rows"]["users"] + 1
    text = run_cli(["backups", "-f", lab.fleet])
    assert f"[safety copy before rollback to {backup_id}]" in text.stdout, text.stdout

    # The safety backup restores like any other: the user and the token are back.
    back = lab.hubshift("rollback", "--backup", safety, "--yes", "--json")
    assert back.returncode == 0, back.stderr[-3000:]
    assert json.loads(back.stdout)["to_version"] == NEW_VERSION
    with lab.api() as api:
        assert api.version() == NEW_VERSION
        assert api.whoami(token)["name"] == NEWBIE
    assert not lab.record_exists()
