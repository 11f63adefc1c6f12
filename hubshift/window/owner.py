"""Who holds a hub: the process of the run whose in-progress record it is.

A record outlives a killed run, and a lock whose holder may still be alive must never be
taken over. So a record names its process (host, boot, pid and the pid's start time), and a
holder counts as dead only when that is proven, never guessed from time passed:

- on the same host and boot, no process has that pid with that start time (a reused pid
  starts later, so it is not mistaken for the holder);
- on the same host, the boot differs: the machine restarted since;
- or the Prefect server that ran it says its flow run is over (asked in tasks/, see
  `tasks.lock.run_is_over`): the only proof for a run on another host.

Anything else (another host, no shared Prefect server) is not proof: the hub stays held,
and the refusal says on which host to run `hubshift rollback`, where the proof can be had.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from pydantic import BaseModel, Field

from hubshift.system import procs

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


class Owner(BaseModel):
    host: str = Field(description="Host name of the run's process")
    boot: str | None = Field(None, description="Boot id of that host when the run started")
    pid: int
    pid_started: int | None = Field(None, description="The pid's start, in ticks since boot")

    @classmethod
    def this_process(cls) -> Owner:
        pid = os.getpid()
        return cls(host=socket.gethostname(), boot=_boot(), pid=pid,
                   pid_started=procs.started(pid))

    def is_this_process(self) -> bool:
        return (self.host == socket.gethostname() and self.boot == _boot()
                and self.pid == os.getpid())

    def proven_dead_here(self) -> bool:
        """True only when this host can prove the process is gone (see the module doc)."""
        if self.host != socket.gethostname():
            return False
        if self.boot is not None and _boot() is not None and self.boot != _boot():
            return True
        if not procs.alive(self.pid):
            return True
        return self.pid_started is not None and procs.started(self.pid) != self.pid_started

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"


def _boot() -> str | None:
    try:
        return _BOOT_ID.read_text().strip() or None
    except OSError:
        return None
