"""What a JupyterHub release makes of the hub's config: the effective settings, read by
that release's own code with the hub's own environment.

hubshift does not parse `jupyterhub_config.py` (it is Python, and may read files, the
environment, `config.yaml`...): it asks the running release to load it, as the hub does at
start (`hubshift.plan.probe`), and keeps the traits that decide what an upgrade does to
users, such as whether the proxy and the users' servers outlive the hub.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from hubshift.backends.installers import Install
from hubshift.config import HubConfig
from hubshift.errors import PreflightError
from hubshift.plan.probe import ask_release


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


def read_settings(hub: HubConfig, install: Install) -> HubSettings:
    """The hub's settings as `install` (the running release) reads its config, in the hub's
    environment. Raises PreflightError quoting the release when the config does not load
    (the hub's own next start would fail the same way)."""
    found = ask_release(hub, install, step="preflight")
    if found.get("import_error"):
        raise PreflightError(f"JupyterHub {install.version}, which the hub runs, cannot import "
                             f"JupyterHub where and as the hub runs (its next start would "
                             f"fail too): {found['import_error']}", hub=hub.name,
                             step="preflight")
    if found.get("config_error") or "settings" not in found:
        raise PreflightError(f"JupyterHub {install.version}, which the hub runs, cannot load "
                             f"{hub.config_file}: {found.get('config_error') or 'no answer'}",
                             hub=hub.name, step="preflight")
    return HubSettings.model_validate(found["settings"])
