"""The Littlest JupyterHub: what a `tljh: {prefix: /opt/tljh}` hub entry stands for.

TLJH's installer puts the hub into an env of its own (`<prefix>/hub`, with the `tljh`
package whose `jupyterhub_config.py` the hub loads), its database and secrets into
`<prefix>/state` (the unit's working directory: JupyterHub's default `jupyterhub.sqlite`
lands there), the admin's configuration into `<prefix>/config` (`config.yaml`,
`jupyterhub_config.d/`), and runs the hub as the systemd unit `jupyterhub.service`, which
names the env's own Python: the env is upgraded in place. Its hub listens on
127.0.0.1:15001 (TLJH's `hub_port`) behind traefik; that port closes when the hub stops,
where traefik's keeps answering.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from hubshift.model import StrictModel

#: TLJH sets `c.JupyterHub.hub_port = 15001`; its REST API answers there without traefik.
HUB_API_URL = "http://127.0.0.1:15001/hub/api"
UNIT = "jupyterhub.service"


class TljhConfig(StrictModel):
    prefix: Path = Field(
        description="Where TLJH is installed (its installer's default: /opt/tljh); fills "
        "install, db_url, config_file, config_files, api_url and runtime, unless given"
    )


def hub_config_file(prefix: Path) -> Path | None:
    """The `tljh/jupyterhub_config.py` inside the hub env's site-packages, if there is one."""
    found = sorted(prefix.glob("hub/lib/python*/site-packages/tljh/jupyterhub_config.py"))
    return found[-1] if found else None


def layout_problems(prefix: Path) -> list[str]:
    """What `prefix` lacks to be a TLJH install, one sentence each; empty when nothing."""
    problems = []
    if not (prefix / "hub" / "bin" / "python").exists():
        problems.append(f"no hub env {prefix / 'hub'} (its bin/python is missing)")
    elif hub_config_file(prefix) is None:
        problems.append(f"no tljh package in {prefix / 'hub'} (no "
                        "lib/python*/site-packages/tljh/jupyterhub_config.py)")
    if not (prefix / "state").is_dir():
        problems.append(f"no state folder {prefix / 'state'}")
    return problems


def implied(prefix: Path, *, find_config_file: bool = True) -> dict[str, Any]:
    """The hub entry keys a TLJH install at `prefix` implies (a hub entry's own keys win).

    `config_file` is looked for on this machine only when `find_config_file` (the entry
    does not name one). Raises ValueError naming what is missing when it cannot be found.
    """
    keys: dict[str, Any] = {
        "install": {"kind": "inplace", "venv": str(prefix / "hub")},
        "db_url": f"sqlite:///{prefix / 'state' / 'jupyterhub.sqlite'}",
        "config_files": [str(prefix / "config")],
        "api_url": HUB_API_URL,
        "runtime": {"kind": "systemd", "unit": UNIT},
    }
    if find_config_file:
        config_file = hub_config_file(prefix)
        if config_file is None:
            missing = layout_problems(prefix) or [f"no tljh package in {prefix / 'hub'}"]
            raise ValueError(f"tljh.prefix {prefix} is not a TLJH install: "
                             f"{'; '.join(missing)} (on a machine that only reads this "
                             "fleet file, give config_file beside tljh)")
        keys["config_file"] = str(config_file)
    return keys
