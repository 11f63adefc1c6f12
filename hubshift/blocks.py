"""Secrets held outside the fleet file, in Prefect blocks, fetched by whoever can reach them.

The core never imports Prefect, so it only knows the *kinds* of reference a fleet file may
hold (`{secret_block: NAME}`, `storage.credentials_block: NAME`) and asks a resolver that
the layer above registers (tasks/blocks.py: Prefect's `Secret` and prefect-aws's
`AwsCredentials`). A value fetched is registered with `redact` at once, as a `${VAR}` is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hubshift.errors import ConfigError
from hubshift.system.redact import register_secret

#: A Prefect `Secret` block's value, by block name.
SECRET = "secret"
#: An `AwsCredentials` block, by name: access_key_id, secret_access_key, region, endpoint_url.
AWS_CREDENTIALS = "aws-credentials"

_resolvers: dict[str, Callable[[str], Any]] = {}


def register(kind: str, resolver: Callable[[str], Any]) -> None:
    """Fetch references of `kind` with `resolver(name)`; a later registration replaces it."""
    _resolvers[kind] = resolver


def fetch_secret(name: Any, where: str) -> str:
    """The value of Secret block `name`, registered as a secret; ConfigError naming `where`
    (the fleet file and key) when it cannot be had. Messages never quote a value."""
    value = _fetch(SECRET, name, where)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: Secret block {name!r} holds no text")
    register_secret(value)
    return value


def fetch_aws_credentials(name: Any, where: str) -> dict[str, str | None]:
    """What AwsCredentials block `name` holds (access_key_id, secret_access_key, region,
    endpoint_url; None where it says nothing), the keys registered as secrets."""
    found = _fetch(AWS_CREDENTIALS, name, where)
    for key in ("access_key_id", "secret_access_key"):
        register_secret(found.get(key))
    return found


def _fetch(kind: str, name: Any, where: str) -> Any:
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: a block name is needed, got {name!r}")
    resolver = _resolvers.get(kind)
    if resolver is None:
        raise ConfigError(f"{where}: block {name!r} can only be read through hubshift's "
                          "CLI or flows (they reach the Prefect server)")
    try:
        return resolver(name)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err.message}") from None
    except Exception as err:  # the client's own words may quote what it read: not shown
        raise ConfigError(f"{where}: the {kind} block {name!r} could not be read from the "
                          f"Prefect server ({type(err).__name__})") from None
