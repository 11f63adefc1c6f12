"""Judging what the target release said about a hub (no release needed: its answers given)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubshift.errors import PreflightError
from hubshift.plan.target_checks import judge, python_refusal, refuse, with_findings
from hubshift.plan.upgrade import UpgradePlan, render

CONFIG = Path("/srv/physics/jupyterhub_config.py")


def _found(**changes) -> dict:
    found = {"version": "6.1.1", "config_error": None, "class_errors": [],
             "unknown_options": [], "database_error": None, "named_servers": 3,
             "invalid_named_servers": {"count": 0, "running": 0},
             "invalid_named_server_policy": "allow-start",
             "name_rule": "jupyterhub.slugs.is_valid_safe_slug"}
    return {**found, **changes}


def test_a_class_the_target_cannot_import_is_a_refusal_naming_it() -> None:
    findings = judge(_found(class_errors=[{
        "trait": "authenticator_class", "class": "oauthenticator.GitHubOAuthenticator",
        "error": "ModuleNotFoundError: No module named 'oauthenticator'"}]),
        version="6.1.1", config_file=CONFIG)
    [refusal] = findings.refusals
    assert "authenticator_class 'oauthenticator.GitHubOAuthenticator'" in refusal
    assert "No module named 'oauthenticator'" in refusal
    with pytest.raises(PreflightError) as caught:
        refuse("physics", findings)
    assert caught.value.exit_code == 2 and caught.value.step == "check-target"


def test_an_option_the_target_does_not_know_is_a_warning() -> None:
    findings = judge(_found(unknown_options=["JupyterHub.statsd_host"]), version="6.1.1",
                     config_file=CONFIG)
    assert findings.refusals == []
    [warning] = findings.warnings
    assert "does not know the option c.JupyterHub.statsd_host" in warning
    refuse("physics", findings)  # a warning never refuses


def test_a_config_that_does_not_load_is_a_refusal() -> None:
    findings = judge(_found(config_error="NameError: name 'x' is not defined"),
                     version="6.1.1", config_file=CONFIG)
    assert findings.refusals == [f"JupyterHub 6.1.1 cannot load {CONFIG}: NameError: name "
                                 "'x' is not defined"]


@pytest.mark.parametrize(("policy", "kind", "says"), [
    ("allow-start", "notes", "can still start, stop and delete them"),
    ("allow-delete", "warnings", "can no longer be started"),
    ("autorename", "warnings", "renames them at its first start"),
])
def test_invalid_named_servers_are_counted_with_what_the_policy_does(
        policy: str, kind: str, says: str) -> None:
    findings = judge(_found(invalid_named_servers={"count": 2, "running": 1},
                            invalid_named_server_policy=policy),
                     version="6.1.1", config_file=CONFIG)
    [text] = getattr(findings, kind)
    assert "rejects the names of 2 of the 3 named server(s)" in text
    assert f"allow_existing_invalid_named_servers = {policy!r}" in text and says in text
    assert findings.named_servers is not None and findings.named_servers.invalid == 2
    assert findings.refusals == []


def test_running_servers_with_rejected_names_are_named_as_not_migrated() -> None:
    findings = judge(_found(invalid_named_servers={"count": 2, "running": 1,
                                                   "running_names": ["alice/My Server"]}),
                     version="6.1.1", config_file=CONFIG)
    assert findings.warnings == [
        "1 running server(s) have names JupyterHub 6.1.1 rejects and are not migrated while "
        "they run: alice/My Server (stopping them before the upgrade lets the policy above "
        "apply to them)"]
    assert findings.named_servers is not None
    assert findings.named_servers.running_names == ["alice/My Server"]


def test_a_release_without_the_rule_says_nothing_about_names() -> None:
    findings = judge(_found(invalid_named_servers=None, name_rule=None,
                            invalid_named_server_policy=None), version="5.5.4",
                     config_file=CONFIG)
    assert (findings.warnings, findings.notes, findings.named_servers) == ([], [], None)


def test_requires_python_against_the_hubs_python() -> None:
    refusal = python_refusal("6.1.1", ">=3.10", "3.9.18", "/srv/physics/venv")
    assert refusal is not None
    assert "requires Python >=3.10" in refusal and "runs Python 3.9.18" in refusal
    assert python_refusal("6.1.1", ">=3.10", "3.11.7", "/srv/physics/venv") is None
    assert python_refusal("1.5.1", None, "3.11.7", "/srv/physics/venv") is None


def test_the_plan_shows_what_the_target_added() -> None:
    plan = UpgradePlan(hub="physics", engine="sqlite", running_version="5.5.4",
                       installed_version="5.5.4", target_version="6.1.1",
                       requested_version="latest", current_revision="4621fec11365",
                       target_revision="f460b0348206", migrations=[], new_install="/srv/v-6.1.1")
    findings = judge(_found(unknown_options=["JupyterHub.statsd_host"],
                            invalid_named_servers={"count": 2, "running": 0}),
                     version="6.1.1", config_file=CONFIG)
    text = render(with_findings(plan, findings))
    assert "JupyterHub 5.5.4 -> 6.1.1 (latest)" in text
    assert "warning: JupyterHub 6.1.1 does not know the option c.JupyterHub.statsd_host" in text
    assert "note: JupyterHub 6.1.1 rejects the names of 2" in text
