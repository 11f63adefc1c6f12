"""Preflight gathers every failure of its checks as a reason to refuse, a crashed check
included, so that one bug or one odd system error never hides the other reasons."""

from __future__ import annotations

from pathlib import Path

from hubshift.errors import PreflightError, StorageError
from hubshift.plan.preflight import _Reasons
from hubshift.system.redact import register_secret


def _crash() -> None:
    return {}["no-such-key"]


def test_a_check_that_crashes_is_one_more_reason_named_by_the_check() -> None:
    reasons = _Reasons()
    assert reasons.check("hub config", _crash) is None
    assert reasons.check("install", lambda: "4.1.6") == "4.1.6"
    assert reasons.check("backup storage", lambda: (_ for _ in ()).throw(
        StorageError("bucket gone"))) is None
    assert reasons.check("disk space", Path("/nonexistent/hubshift").read_text) is None
    assert reasons[0] == "hub config: unexpected KeyError: 'no-such-key'"
    assert reasons[1] == "backup storage: bucket gone"
    assert reasons[2].startswith("disk space: [Errno 2] No such file or directory")
    assert len(reasons) == 3


def test_an_unexpected_failure_is_redacted() -> None:
    register_secret("tok-preflight-secret-7781")
    reasons = _Reasons()
    reasons.check("hub API", lambda: (_ for _ in ()).throw(
        RuntimeError("bad token tok-preflight-secret-7781")))
    assert reasons == ["hub API: unexpected RuntimeError: bad token ***"]


def test_one_reason_refuses_in_one_line_several_as_a_list() -> None:
    reasons = _Reasons(["target version: 3.1.1 is older than the installed 4.1.6"])
    one = reasons.refusal("physics")
    assert isinstance(one, PreflightError) and one.exit_code == 2
    assert str(one) == ("hub 'physics', step preflight: refusing to upgrade: target version: "
                        "3.1.1 is older than the installed 4.1.6")
    reasons.append("disk space: /srv is full")
    assert str(reasons.refusal("physics")).splitlines()[1:] == [
        "  - target version: 3.1.1 is older than the installed 4.1.6",
        "  - disk space: /srv is full"]
