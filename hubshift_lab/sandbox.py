"""Small real hubs on 127.0.0.1, for `hubshift demo` and for the tests (one recipe for both).

A sandbox hub is a directory holding a jupyterhub_config.py, a `venv` symlink to a JupyterHub
install (the venv installer flips it on upgrade), the hub's sqlite database and an admin token.
The config works unchanged on JupyterHub 1.x to 5.x and holds no secret: the token of the
`hubshift` service is read from a mode-600 file when the hub loads its config, so the config can
be backed up, diffed and shown. Users can start a tiny stand-in for a single-user server, so
upgrades can be tried with servers running without installing Jupyter itself.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from hubshift.backends.hubapi import HubAPI, HubAPIError
from hubshift.errors import ConfigError, HubshiftError
from hubshift.system import procs
from hubshift.system.listeners import free_ports

#: The name of the service whose token hubshift uses; it holds the admin role.
SERVICE_NAME = "hubshift"
#: The users, groups and tokens `seed` creates.
SEED_USERS = ("alice", "bob", "carol", "dave")
SEED_GROUPS = {"physics": ("alice", "bob"), "chemistry": ("carol",)}
SEED_TOKEN_USERS = ("alice", "bob")

_PROXY_ENV = "HUBSHIFT_PROXY"

# The hub's config. Values are filled in with repr(), so paths need no quoting care.
_CONFIG = '''\
"""JupyterHub config of the hubshift sandbox hub {name!r} (written by hubshift_lab.sandbox).

Works on JupyterHub 1.x to 5.x. Holds no secret: the token of the {service!r} service is read
from {token_file!r} each time the hub loads this file.
"""

import os
import sys
from pathlib import Path

import jupyterhub

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

c.JupyterHub.bind_url = "http://127.0.0.1:{port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = [{proxy!r}]
c.JupyterHub.db_url = {db_url_source}
c.JupyterHub.cookie_secret_file = {cookie_secret_file!r}

c.JupyterHub.authenticator_class = "jupyterhub.auth.DummyAuthenticator"
c.Authenticator.admin_users = {{"admin"}}

# The admin role, with its default scopes, given to the service; its members stay as they are.
# JupyterHub 1.x has no roles: there the service is an admin by its `admin` key.
service = {{"name": {service!r}, "api_token": Path({token_file!r}).read_text().strip()}}
if jupyterhub.version_info < (2,):
    service["admin"] = True
else:
    c.JupyterHub.load_roles = [{{"name": "admin", "services": [{service!r}]}}]
c.JupyterHub.services = [service]

c.JupyterHub.allow_named_servers = True
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = {home_template!r}
'''

_STAND_IN_SERVERS = '''
# A stand-in single-user server: answers 200 on its URL, nothing else.
c.Spawner.cmd = [sys.executable, {server_script!r}]
c.Spawner.args = []
'''

_JUPYTER_SERVERS = '''
# Real single-user servers: jupyterhub-singleuser (Jupyter Server) of the hub's own env.
c.Spawner.cmd = ["jupyterhub-singleuser"]
c.Spawner.args = ["--ServerApp.allow_root=True"]  # tests and demos may run as root
'''

_KEEP_SERVERS = '''
# Users' servers outlive the hub: the proxy runs on its own (hubshift_lab.proxy), and the
# hub leaves running servers alone when it stops.
c.ConfigurableHTTPProxy.should_start = False
c.ConfigurableHTTPProxy.auth_token = Path({proxy_token_file!r}).read_text().strip()
c.JupyterHub.cleanup_servers = False
'''

_SERVER_SCRIPT = '''\
"""A stand-in for jupyterhub-singleuser: serves 200 on JUPYTERHUB_SERVICE_URL until killed."""

import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(b"hubshift sandbox server")

    def log_message(self, *args):
        pass


url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
try:
    HTTPServer((url.hostname, url.port), Handler).serve_forever()
except KeyboardInterrupt:
    # The hub stops its servers with SIGINT first.
    pass
'''


def find_proxy() -> Path:
    """The configurable-http-proxy executable: $HUBSHIFT_PROXY, this venv's npm prefix, PATH.

    Raises ConfigError saying what to install when there is none.
    """
    configured = os.environ.get(_PROXY_ENV)
    if configured:
        path = Path(configured)
        if not path.exists():
            raise ConfigError(f"${_PROXY_ENV} names {path}, which does not exist")
        return path
    # `make` installs the proxy with `npm install --prefix .venv`.
    beside = Path(sys.prefix) / "node_modules" / ".bin" / "configurable-http-proxy"
    if beside.exists():
        return beside
    found = shutil.which("configurable-http-proxy")
    if found:
        return Path(found)
    raise ConfigError(
        "configurable-http-proxy not found",
        hint=f"npm install --prefix {sys.prefix} configurable-http-proxy@4, "
        f"or set ${_PROXY_ENV} to its path",
    )


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """Whether something accepts TCP connections on `host`:`port` now."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    return free_ports(1)[0]


@dataclass(frozen=True)
class SandboxHub:
    """Where a sandbox hub lives and how to reach it."""

    name: str
    workdir: Path
    venv_link: Path
    config_file: Path
    db_url: str
    api_url: str
    token_file: Path
    port: int
    hub_port: int
    proxy_api_port: int
    #: The proxy runs on its own and users' servers outlive the hub (see hubshift_lab.proxy).
    keep_servers: bool = False
    proxy_token_file: Path | None = None

    @property
    def own_api_url(self) -> str:
        """The hub's own API, on its hub_port: where it answers when the proxy is not its."""
        return f"http://127.0.0.1:{self.hub_port}/hub/api"

    @property
    def token(self) -> str:
        """The admin token of the `hubshift` service."""
        return self.token_file.read_text().strip()

    def api(self, **kwargs: Any) -> HubAPI:
        """A client of this hub's API, authenticated as the `hubshift` service."""
        return HubAPI(self.api_url, self.token, **kwargs)

    def fleet_entry(self, target_version: str | None) -> dict[str, Any]:
        """This hub as one entry of a fleet file's `hubs:` list (the token in clear)."""
        entry: dict[str, Any] = {
            "name": self.name,
            "config_file": str(self.config_file),
            "db_url": self.db_url,
            "api_url": self.api_url,
            "api_token": self.token,
            "install": {"kind": "venv", "venv": str(self.venv_link)},
            "runtime": {"kind": "process", "workdir": str(self.workdir)},
        }
        if self.keep_servers:
            entry["hub_api_url"] = self.own_api_url
        if target_version is not None:
            entry["target_version"] = target_version
        return entry


def _write_private(path: Path, text: str) -> None:
    """Create `path` readable by us only; it must not exist yet."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


def make_hub(root: Path, name: str, venv: Path, *, db_url: str | None = None,
             jupyter_servers: bool = False, keep_servers: bool = False,
             db_url_env: str | None = None) -> SandboxHub:
    """Create the sandbox hub `<root>/<name>/` running from `venv`; does not start it.

    `db_url` defaults to a sqlite file in the hub's directory. A db_url with a password is
    kept in a mode-600 file, like the token. `jupyter_servers` spawns real
    `jupyterhub-singleuser` servers (`venv` needs jupyter_server) instead of a stand-in;
    `keep_servers` sets the hub up to keep them through an upgrade: its proxy runs on its
    own (start it with `hubshift_lab.proxy.start_proxy`) and `cleanup_servers` is False.
    `db_url_env` makes the config take its db_url from that environment variable, `db_url`
    when it is not set: the wiring `hubshift move-db` needs.
    Raises ConfigError if the directory exists.
    """
    workdir = (root / name).absolute()
    try:
        workdir.mkdir(parents=True)
    except FileExistsError as err:
        raise ConfigError(f"{workdir} already exists; a sandbox hub needs a new directory",
                          hub=name) from err
    venv_link = workdir / "venv"
    venv_link.symlink_to(venv.absolute(), target_is_directory=True)
    token_file = workdir / "hubshift-token"
    _write_private(token_file, secrets.token_hex(32) + "\n")
    db_url = db_url or f"sqlite:///{workdir / 'jupyterhub.sqlite'}"
    if urlsplit(db_url).password:
        db_url_file = workdir / "hubshift-db-url"
        _write_private(db_url_file, db_url + "\n")
        db_url_source = f"Path({str(db_url_file)!r}).read_text().strip()"
    else:
        db_url_source = repr(db_url)
    if db_url_env:
        db_url_source = f"os.environ.get({db_url_env!r}) or {db_url_source}"
    server_script = workdir / "hubshift-sandbox-server.py"
    server_script.write_text(_SERVER_SCRIPT)

    port, hub_port, proxy_api_port = free_ports(3)
    proxy_token_file = None
    if keep_servers:
        proxy_token_file = workdir / "proxy-token"
        _write_private(proxy_token_file, secrets.token_hex(32) + "\n")
    config_file = workdir / "jupyterhub_config.py"
    template = _CONFIG + (_JUPYTER_SERVERS if jupyter_servers else _STAND_IN_SERVERS) + (
        _KEEP_SERVERS if keep_servers else "")
    config_file.write_text(
        template.format(
            name=name,
            service=SERVICE_NAME,
            token_file=str(token_file),
            port=port,
            hub_port=hub_port,
            proxy_api_port=proxy_api_port,
            proxy=str(find_proxy()),
            db_url_source=db_url_source,
            cookie_secret_file=str(workdir / "jupyterhub_cookie_secret"),
            home_template=str(workdir / "home" / "{username}"),
            server_script=str(server_script),
            proxy_token_file=str(proxy_token_file),
        )
    )
    return SandboxHub(
        name=name,
        workdir=workdir,
        venv_link=venv_link,
        config_file=config_file,
        db_url=db_url,
        api_url=f"http://127.0.0.1:{port}/hub/api",
        token_file=token_file,
        port=port,
        hub_port=hub_port,
        proxy_api_port=proxy_api_port,
        keep_servers=keep_servers,
        proxy_token_file=proxy_token_file,
    )


@dataclass(frozen=True)
class Seeded:
    """What `seed` created. Token values stay out of repr (pytest prints it on failure)."""

    users: tuple[str, ...]
    groups: dict[str, tuple[str, ...]]
    tokens: dict[str, str] = field(repr=False)


def _create(api: HubAPI, path: str, body: dict[str, Any]) -> bool:
    """POST `body` to `path`; False if it already existed (seeding twice is harmless)."""
    try:
        api.request("POST", path, body)
    except HubAPIError as err:
        if err.status != 409:
            raise
        return False
    return True


def seed(api: HubAPI) -> Seeded:
    """Create the demo users, groups and tokens through the REST API; return what was made.

    Raises HubAPIError if the hub refuses (for instance a token without admin rights).
    """
    _create(api, "/users", {"usernames": list(SEED_USERS)})
    for group, members in SEED_GROUPS.items():
        if not _create(api, f"/groups/{group}", {"users": list(members)}):
            # The group was there already, perhaps without its members.
            api.request("POST", f"/groups/{group}/users", {"users": list(members)})
    tokens = {}
    for user in SEED_TOKEN_USERS:
        made = api.request("POST", f"/users/{quote(user)}/tokens", {"note": "hubshift seed"})
        if not isinstance(made, dict) or "token" not in made:
            raise HubshiftError(f"the hub made no token for {user!r}")
        tokens[user] = str(made["token"])
    return Seeded(users=("admin", *SEED_USERS), groups=dict(SEED_GROUPS), tokens=tokens)


def counts(api: HubAPI) -> dict[str, int]:
    """How many users, groups and user API tokens the hub reports through its API."""
    users = api.users()
    return {
        "users": len(users),
        "groups": len(api.groups()),
        "tokens": sum(len(api.user_tokens(user["name"])) for user in users),
    }


def stop_users_servers(workdir: Path) -> None:
    """Stop every process started from the hub's users' homes (their servers, which a hub
    set up to keep them leaves running)."""
    home = f"{workdir / 'home'}/"
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and procs.alive(int(entry.name)):
            try:
                cwd = os.readlink(entry / "cwd")
            except OSError:
                continue
            if f"{cwd}/".startswith(home):
                procs.send(int(entry.name), signal.SIGTERM)
