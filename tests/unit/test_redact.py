"""Secrets never leave the process: registered values, URL passwords, apprise tokens."""

from __future__ import annotations

from hubshift.system.redact import redact, register_secret, safe_url


def test_registered_secrets_are_masked() -> None:
    register_secret("tok-1234567890")
    assert redact("Bearer tok-1234567890 failed") == "Bearer *** failed"


def test_extra_secrets_and_url_passwords_are_masked() -> None:
    assert redact("x=abcdef", ["abcdef"]) == "x=***"
    assert redact("postgresql://hub:hunter22@db:5432/jh") == "postgresql://hub:***@db:5432/jh"


def test_short_values_are_not_registered_so_text_stays_readable() -> None:
    register_secret("ab")
    assert redact("table abc") == "table abc"


def test_safe_url_keeps_only_what_cannot_be_a_token() -> None:
    # apprise puts tokens in the host and the path (slack://TokenA/TokenB/TokenC).
    assert safe_url("slack://T1AAA/B2BBB/C3CCC?footer=no") == "slack://***"
    assert safe_url("mailtos://me:pw@example.org/?to=x") == "mailtos://example.org"
    assert safe_url("json://127.0.0.1:8099/hook") == "json://127.0.0.1:8099"
