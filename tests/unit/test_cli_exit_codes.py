"""The CLI's one mapping of failures: a line on stderr and the exit code DESIGN gives, the
traceback of an unexpected error only when HUBSHIFT_DEBUG asks for it."""

from __future__ import annotations

import pytest

from hubshift.errors import CommandTimeout, ConfigError, RollbackError
from hubshift.system.redact import register_secret
from hubshift_cli.app import DEBUG_ENV, _report


def _raised(err: BaseException) -> BaseException:
    try:
        raise err
    except BaseException as caught:  # noqa: BLE001 - a real traceback for _report
        return caught


@pytest.mark.parametrize(("err", "code"), [
    (ConfigError("fleet.yaml: key hubs[0].name: bad"), 2),
    (CommandTimeout("pg_dump did not finish within 5 s", program="pg_dump", hub="physics"), 1),
    (RollbackError("database NOT restored", hub="physics"), 3),
    (KeyError("boom"), 3),
])
def test_each_failure_is_one_line_and_its_exit_code(err, code, capsys, monkeypatch) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    assert _report(_raised(err)) == code
    out, errors = capsys.readouterr()
    assert out == "" and len(errors.splitlines()) == 1 and errors.startswith("error: ")
    assert "Traceback" not in errors


def test_an_unexpected_error_is_named_redacted_and_its_traceback_is_on_request(
        capsys, monkeypatch) -> None:
    register_secret("cli-secret-5521")
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    err = _raised(RuntimeError("lost\nconnection cli-secret-5521"))
    assert _report(err) == 3
    line = capsys.readouterr().err
    assert line.startswith("error: unexpected RuntimeError: lost connection *** (a bug")
    assert "cli-secret-5521" not in line and f"{DEBUG_ENV}=1" in line
    monkeypatch.setenv(DEBUG_ENV, "1")
    assert _report(err) == 3
    shown = capsys.readouterr().err
    assert "Traceback (most recent call last)" in shown and "_raised" in shown
    assert "cli-secret-5521" not in shown
