"""Everything the downtime window will run, loaded before the window opens.

Each hop's `upgrade-db` and the new hub itself get an interpreter that has already imported
JupyterHub (`hubshift.system.warm`), so that the seconds of those imports are spent while the old
hub still serves. A release that cannot even import JupyterHub is found here, before the
stop, with the hub untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from hubshift.backends.installers import Install
from hubshift.backends.runtimes import runtime_for
from hubshift.config import HubConfig
from hubshift.errors import InstallError
from hubshift.system.warm import WarmCommand, WarmError, wait_all_ready
from hubshift.window.migrate import preload_upgrade_db

#: Importing JupyterHub takes seconds; on a loaded host, with a few hops, tens of seconds.
READY_TIMEOUT = 300.0


@dataclass
class Preloaded:
    """The window's commands, loaded and waiting: one `upgrade-db` per hop, then the hub
    (None where the runtime or the installer cannot load one ahead: it then runs cold).
    Leaving the `with` block discards whatever was not used."""

    migrations: list[WarmCommand | None] = field(default_factory=list)
    hub: WarmCommand | None = None

    def all(self) -> list[WarmCommand]:
        return [c for c in (*self.migrations, self.hub) if c is not None]

    def discard(self) -> None:
        for command in self.all():
            command.discard()

    def __enter__(self) -> Preloaded:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.discard()


def preload(hub: HubConfig, installs: Sequence[Install]) -> Preloaded:
    """Load `upgrade-db` of each install (the hops, oldest first) and the hub's start from
    the last one; return once all have imported JupyterHub.

    Raises InstallError naming the release that cannot import JupyterHub, all discarded.
    """
    loaded = Preloaded()
    try:
        loaded.migrations = [preload_upgrade_db(hub, install) for install in installs]
        loaded.hub = runtime_for(hub).preload(installs[-1])
        wait_all_ready(loaded.all(), READY_TIMEOUT)
    except (WarmError, TimeoutError) as err:
        loaded.discard()
        raise InstallError(f"a new install is not usable: {err}", hub=hub.name,
                           step="preload") from err
    except BaseException:
        loaded.discard()
        raise
    return loaded
