"""The new database URL as hubshift receives it: a `${VAR}` reference, expanded here, so
that its password is never a command-line argument nor a Prefect flow parameter."""

from __future__ import annotations

import os
import re
from urllib.parse import unquote, urlsplit

from hubshift.errors import ConfigError
from hubshift.system.redact import register_secret

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: The variable the CLI hands a URL typed on its command line through to the flow.
CLI_ENV = "HUBSHIFT_MOVE_TO_URL"


def expand_url(value: str, *, hub: str | None = None) -> str:
    """`value` with `${VAR}` replaced from the environment; its password registered as a
    secret. ConfigError (exit 2) for a variable that is not set, or a password given in
    clear (it would be kept with the flow run's parameters)."""
    def substitute(match: re.Match[str]) -> str:
        if match.group(1) not in os.environ:
            raise ConfigError(f"--to-url: environment variable ${{{match.group(1)}}} is not "
                              "set", hub=hub)
        return os.environ[match.group(1)]

    url = _REFERENCE.sub(substitute, value)
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    if password and url == value:
        raise ConfigError("to_url: a URL with a password must be given as ${VAR}, a variable "
                          "of the environment the flow runs in", hub=hub)
    register_secret(password)
    register_secret(unquote(password) if password else None)
    return url
