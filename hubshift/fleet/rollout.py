"""How a fleet goes from one wave to the next: a person's approval, a soak, and what a hub
that fails its soak means.

2i2c-style rollouts pause after the canary (or after every wave) for someone to look at the
upgraded hubs and say go, and let each wave run a while before the next one starts. This
module decides when to ask, what an answer (or no answer) means, and watches the hubs of a
wave during the soak (hubshift.fleet.soak); asking itself is Prefect's (tasks/rollout.py).
Pure: it is read with the fleet file (hubshift.config), so it imports nothing of hubshift's
that reads it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from hubshift.model import StrictModel

Approve = Literal["none", "after-canary", "every-wave"]
OnSoakFailure = Literal["stop", "rollback"]
class RolloutConfig(StrictModel):
    """The fleet file's `rollout:` section; `hubshift fleet-upgrade` flags and the
    fleet-upgrade deployment's parameters override each key."""

    approve: Approve = Field(
        "none", description="When the fleet waits for a person's go in the Prefect UI (or "
        "`hubshift approve`): none, after-canary (before the first production wave) or "
        "every-wave (before every wave after the first)")
    approve_timeout: float = Field(
        3600, gt=0, description="Seconds to wait for an approval; without one the fleet stops "
        "and the hubs not started yet are skipped")
    soak_minutes: float = Field(
        0, ge=0, description="Minutes to watch every upgraded hub of a wave (health, version, "
        "its API answering) before the next wave starts; fractions allowed (0.5 = 30 s)")
    on_soak_failure: OnSoakFailure = Field(
        "stop", description="A hub that fails its soak counts as failed (budget, canary); "
        "stop leaves it as it is for an operator, rollback restores it to its pre-upgrade "
        "backup")

    def merged(self, **overrides: object) -> RolloutConfig:
        """This section with the keys given (not None) replaced; validated again."""
        given = {k: v for k, v in overrides.items() if v is not None}
        return RolloutConfig.model_validate({**self.model_dump(), **given})


class Answer(BaseModel):
    """A person's answer at a gate: go on or stop, and why (it lands in the fleet table)."""

    go_on: bool = True
    comment: str = ""


def asks_approval(approve: Approve, wave_index: int, canary: bool, waves: int) -> bool:
    """Whether the fleet waits for a go after wave `wave_index` (0-based) of `waves`: never
    after the last one (nothing is left to start)."""
    if wave_index >= waves - 1 or approve == "none":
        return False
    return approve == "every-wave" or (approve == "after-canary" and canary)


def gate_note(answer: Answer | None, timeout: float) -> tuple[bool, str]:
    """(go on, the note for the table) of a gate's outcome; None: nobody answered in time."""
    if answer is None:
        return False, f"stopped: no approval within {timeout:g} s"
    said = f": {answer.comment.strip()}" if answer.comment.strip() else ""
    return (True, f"approved{said}") if answer.go_on else (False, f"stopped by an admin{said}")
