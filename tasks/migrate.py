"""Migrate: `upgrade-db` is not safe to re-run half-way on every engine, so no retries;
a timeout guards against a migration that hangs on a lock."""

from __future__ import annotations

from hubshift.backends.installers import Install
from hubshift.config import HubConfig
from hubshift.system.warm import WarmCommand
from hubshift.window.migrate import upgrade_db
from tasks import note, step


@step("migrate", timeout_seconds=1800)
def migrate(hub: HubConfig, install: Install, expected_revision: str,
            warm: WarmCommand | None = None) -> list[str]:
    ran = upgrade_db(hub, install, expected_revision, warm)
    note("JupyterHub %s ran %d migration(s) on the database of %s: %s; it is at alembic "
         "revision %s", install.version, len(ran), hub.name, ", ".join(ran) or "none",
         expected_revision)
    return ran
