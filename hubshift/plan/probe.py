"""Asking a JupyterHub release about the hub, from inside that release.

`release_probe.py` is run by the release's own interpreter (never imported here), where and
with the variables the hub runs with, and answers with one marked JSON line: what the
release makes of the hub's config (its settings, the classes it imports, the options it does
not know) and of its database. The running release is asked in preflight, the prepared
target in check-target.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hubshift.backends.installers import Install
from hubshift.backends.runtimes import runtime_for
from hubshift.config import HubConfig
from hubshift.errors import CommandError, CommandTimeout, PreflightError

SCRIPT = Path(__file__).with_name("release_probe.py")
MARKER = "HUBSHIFT-PROBE "
#: Importing JupyterHub takes seconds; a config that reaches out to a slow service, more.
TIMEOUT = 300


def ask_release(hub: HubConfig, install: Install, *, step: str) -> dict[str, Any]:
    """The answers of `install`'s release about `hub`. Raises PreflightError (naming
    `step`) when it cannot be asked, crashed, or took longer than TIMEOUT."""
    runtime = runtime_for(hub)
    where = runtime.environment()
    command = runtime.installer.command(install)
    try:
        result = command.python_run(["-c", SCRIPT.read_text(), hub.config_file],
                                    cwd=where.cwd, extra_env=where.env, timeout=TIMEOUT)
    except CommandTimeout as err:
        raise PreflightError(f"asking JupyterHub {install.version} about the hub's config "
                             f"took over {TIMEOUT} s", hub=hub.name, step=step) from err
    except CommandError as err:
        raise PreflightError(f"JupyterHub {install.version} could not be asked about the "
                             f"hub's config: {err.message}", hub=hub.name, step=step) from err
    # The answer is the last marker's JSON (the hub's config may print, logs go to stderr).
    at = result.output.rfind(MARKER)
    if at < 0:
        raise PreflightError(f"JupyterHub {install.version} could not be asked about the "
                             f"hub's config (exit {result.returncode}): {result.tail.strip()}",
                             hub=hub.name, step=step)
    found, _ = json.JSONDecoder().raw_decode(result.output[at + len(MARKER):])
    if "crash" in found:
        raise PreflightError(f"asking JupyterHub {install.version} about the hub's config "
                             f"failed: {found['crash'].strip().splitlines()[-1]}",
                             hub=hub.name, step=step)
    return found
