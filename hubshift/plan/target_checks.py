"""What the target release itself says about this hub, asked before the window.

Once `prepare` has installed the target, its own interpreter loads the hub's config the way
JupyterHub does, imports the configured authenticator, spawner and proxy classes, names the
options it does not know, and counts the named servers whose names it rejects (JupyterHub 6)
with its own rule (`release_probe.py` runs there). The answers are judged here, without I/O:
what would break the hub's start is a refusal (exit 2, the hub untouched), what it would
ignore or change is a warning. The Python check needs no install: a wheel's Requires-Python
against the interpreter the new install will run on, done in preflight.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from hubshift.backends.installers import Install
from hubshift.config import HubConfig
from hubshift.errors import PreflightError
from hubshift.plan.probe import ask_release
from hubshift.plan.upgrade import NamedServers, UpgradePlan

#: What each `allow_existing_invalid_named_servers` value does (JupyterHub 6's own help).
POLICIES = {
    "allow-start": "their owners can still start, stop and delete them (no new server may "
                   "take such a name)",
    "allow-delete": "their owners can only stop or delete them: they can no longer be started",
    "autorename": "the hub renames them at its first start (the old name becomes the display "
                  "name); volumes or other resources named after a server are not renamed and "
                  "are orphaned unless the spawner tracks them; a running server is not "
                  "renamed",
}


@dataclass
class TargetFindings:
    """The target release's answers, judged: refusals stop the upgrade before the window."""

    version: str
    refusals: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    named_servers: NamedServers | None = None


def python_refusal(version: str, requires: str | None, python: str, where: str) -> str | None:
    """Why JupyterHub `version`, whose wheel says `Requires-Python: requires`, cannot run on
    Python `python` (the interpreter of the hub's new install, `where`); None if it can."""
    if not requires:
        return None
    try:
        fits = SpecifierSet(requires).contains(python, prereleases=True)
    except InvalidSpecifier:
        return None  # a release's malformed metadata is pip's to judge, at install
    if fits:
        return None
    return (f"JupyterHub {version} requires Python {requires}, but the hub's install runs "
            f"Python {python} ({where}): install the hub on a newer Python first, or choose "
            "an older target")


def judge(found: dict, *, version: str, config_file: Path) -> TargetFindings:
    """Refusals, warnings and notes from the probe's answers (pure)."""
    findings = TargetFindings(version=version)
    if found.get("import_error"):
        findings.refusals.append(f"JupyterHub {version} could not import JupyterHub where and "
                                 f"as the hub runs: {found['import_error']}")
        return findings
    if found.get("config_error"):
        findings.refusals.append(f"JupyterHub {version} cannot load {config_file}: "
                                 f"{found['config_error']}")
        return findings
    for failed in found.get("class_errors") or []:
        findings.refusals.append(
            f"JupyterHub {version} cannot import the configured {failed['trait']} "
            f"{failed['class']!r}: {failed['error']} (the new install lacks it; add its "
            "package to install.extra_packages, or change the config)")
    for option in found.get("unknown_options") or []:
        findings.warnings.append(
            f"JupyterHub {version} does not know the option c.{option} set in {config_file}: "
            "it will be ignored (traitlets warns at each start)")
    if found.get("database_error"):
        findings.refusals.append(f"JupyterHub {version} cannot read the hub's database with "
                                 f"the URL its config gives: {found['database_error']}")
    invalid = found.get("invalid_named_servers")
    if invalid is not None:
        policy = found.get("invalid_named_server_policy") or "allow-start"
        named = NamedServers(total=found.get("named_servers") or 0, invalid=invalid["count"],
                             running_invalid=invalid["running"], policy=policy,
                             rule=found.get("name_rule") or "",
                             running_names=invalid.get("running_names") or [])
        findings.named_servers = named
        if named.invalid:
            text = (f"JupyterHub {version} rejects the names of {named.invalid} of the "
                    f"{named.total} named server(s) (1-30 lowercase letters, digits and single "
                    f"hyphens, starting with a letter; its own {named.rule} says so); with "
                    f"JupyterHub.allow_existing_invalid_named_servers = {policy!r}"
                    f"{' (the default)' if policy == 'allow-start' else ''}, "
                    f"{POLICIES.get(policy, 'the release decides what happens to them')}")
            if named.running_invalid and policy == "autorename":
                text += f" ({named.running_invalid} of them run now)"
            (findings.notes if policy == "allow-start" else findings.warnings).append(text)
        if named.running_names:
            findings.warnings.append(
                f"{len(named.running_names)} running server(s) have names JupyterHub "
                f"{version} rejects and are not migrated while they run: "
                f"{', '.join(named.running_names)} (stopping them before the upgrade lets the "
                "policy above apply to them)")
    return findings


def check_target(hub: HubConfig, install: Install) -> TargetFindings:
    """Ask the prepared target release about the hub; see `judge`. Raises PreflightError
    when the release cannot be asked at all."""
    return judge(ask_release(hub, install, step="check-target"), version=install.version,
                 config_file=hub.config_file)


def with_findings(plan: UpgradePlan, findings: TargetFindings) -> UpgradePlan:
    """`plan` with the target's warnings and notes added."""
    return plan.model_copy(update={
        "warnings": [*plan.warnings, *findings.warnings],
        "notes": [*plan.notes, *findings.notes],
        "named_servers": findings.named_servers,
    })


def refuse(hub: str, findings: TargetFindings) -> None:
    """Raise PreflightError (exit 2) listing every refusal, if there is any."""
    if findings.refusals:
        raise PreflightError("refusing to upgrade, JupyterHub " + findings.version
                             + " itself says:\n  - " + "\n  - ".join(findings.refusals),
                             hub=hub, step="check-target")


def check_prepared(hub: HubConfig, plan: UpgradePlan, target: Install) -> UpgradePlan:
    """`plan` with what the prepared `target` install says about the hub: its warnings and
    notes added. Raises PreflightError (exit 2) listing the target's refusals, if any."""
    findings = check_target(hub, target)
    refuse(hub.name, findings)
    return with_findings(plan, findings)
