"""What a JupyterHub release makes of the hub's config: the effective settings, read by
that release's own code with the hub's own environment.

hubshift does not parse `jupyterhub_config.py` (it is Python, and may read files, the
environment, `config.yaml`...): it asks JupyterHub to load it, as the hub does at start, and
reads the traits that decide what an upgrade does to users, such as whether the proxy and
the users' servers outlive the hub.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pydantic import BaseModel, Field

from hubshift.backends.installers import HubCommand
from hubshift.backends.runtimes import HubEnvironment
from hubshift.errors import PreflightError

#: Importing jupyterhub.app takes seconds; loading a config, a little more.
READ_TIMEOUT = 180.0
_MARKER = "HUBSHIFT-SETTINGS "

#: Runs in the release's interpreter: argv[1] is the config file. Prints one marked JSON line.
_SCRIPT = """\
import json, sys
import jupyterhub
from jupyterhub.app import JupyterHub

app = JupyterHub()
app.load_config_file(sys.argv[1])
proxy_class = app.proxy_class
proxy = proxy_class(config=app.config, log=app.log)
spawner_class = app.spawner_class
print("HUBSHIFT-SETTINGS " + json.dumps({
    "version": jupyterhub.__version__,
    "cleanup_servers": bool(app.cleanup_servers),
    "proxy_class": f"{proxy_class.__module__}.{proxy_class.__name__}",
    "proxy_should_start": bool(proxy.should_start),
    "spawner_class": f"{spawner_class.__module__}.{spawner_class.__name__}",
    "hub_ip": app.hub_ip,
    "hub_port": app.hub_port,
    "hub_bind_url": app.hub_bind_url or "",
}))
"""


class HubSettings(BaseModel):
    """The settings of a hub that decide what its users feel of an upgrade."""

    version: str = Field(description="The release that read the config")
    cleanup_servers: bool = Field(description="JupyterHub.cleanup_servers: stop users' "
                                  "servers when the hub stops")
    proxy_class: str
    proxy_should_start: bool = Field(description="The hub starts (and stops) its proxy")
    spawner_class: str
    hub_ip: str
    hub_port: int
    hub_bind_url: str = ""

    @property
    def keeps_servers(self) -> bool:
        """Whether users' servers outlive a stop of the hub: they keep answering only if
        the proxy that routes to them is not the hub's and the hub does not stop them."""
        return not self.proxy_should_start and not self.cleanup_servers

    def own_api_url(self) -> str:
        """The hub's own REST API, where it answers with an external proxy."""
        if self.hub_bind_url:
            return self.hub_bind_url.rstrip("/") + "/hub/api"
        host = self.hub_ip or "127.0.0.1"
        if host in ("0.0.0.0", "::", ""):
            host = "127.0.0.1"
        return f"http://{host}:{self.hub_port}/hub/api"


def read_settings(command: HubCommand, config_file: Path, where: HubEnvironment,
                  *, hub: str | None = None) -> HubSettings:
    """Load `config_file` with the release `command` runs, in the hub's environment, and
    return the settings. Raises PreflightError quoting the release's output when the config
    does not load (its own start would fail the same way)."""
    try:
        result = command.python_run(["-c", _SCRIPT, str(config_file)], cwd=where.cwd,
                                    extra_env=where.env, timeout=READ_TIMEOUT)
    except subprocess.TimeoutExpired as err:
        raise PreflightError(f"reading {config_file} with JupyterHub took over "
                             f"{READ_TIMEOUT:g} s", hub=hub, step="preflight") from err
    for line in result.output.splitlines():
        if line.startswith(_MARKER):
            return HubSettings.model_validate(json.loads(line[len(_MARKER):]))
    raise PreflightError(f"JupyterHub could not load {config_file} (exit "
                         f"{result.returncode}): {result.tail.strip()}", hub=hub,
                         step="preflight")
