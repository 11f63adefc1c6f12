"""The base of every model read from the fleet file.

Unknown keys are typos until proven otherwise, and a configuration read once must not
change under a running upgrade: every section, each backend's own included, is strict and
frozen.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
