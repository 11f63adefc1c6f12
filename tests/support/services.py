"""Outside tools and servers the tests need: skip with a reason where they are missing,
fail instead when HUBSHIFT_REQUIRE_SERVICES=1 (CI), since a test that skips in CI does not exist."""

from __future__ import annotations

import os

import pytest

#: Set by CI: every outside server or tool must be there.
REQUIRE_ENV = "HUBSHIFT_REQUIRE_SERVICES"


def require(available: bool, what: str) -> None:
    """Skip (or fail under HUBSHIFT_REQUIRE_SERVICES=1) when `what` is not available."""
    if available:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{what} is required ({REQUIRE_ENV}=1) but not available", pytrace=False)
    pytest.skip(f"{what} is not available")
