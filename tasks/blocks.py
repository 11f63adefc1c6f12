"""The Prefect side of `hubshift.blocks`: read `Secret` and `AwsCredentials` blocks from the
Prefect server this process talks to. Registered when `tasks` is imported (every flow and
the CLI import it), so the core can resolve a fleet file's block references without
importing Prefect itself."""

from __future__ import annotations

from typing import Any

from hubshift import blocks
from hubshift.errors import ConfigError


def secret_value(name: str) -> str:
    """The value of Prefect `Secret` block `name` (text; a JSON value is refused)."""
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    try:
        value = Secret.load(name).get()
    except (ObjectNotFound, ValueError) as err:
        raise _missing("Secret", name) from err
    if not isinstance(value, str):
        raise ConfigError(f"Secret block {name!r} holds {type(value).__name__}, not text")
    return value


def aws_credentials(name: str) -> dict[str, Any]:
    """What prefect-aws's `AwsCredentials` block `name` holds, as `storage:`'s keys."""
    from prefect.exceptions import ObjectNotFound
    from prefect_aws import AwsCredentials

    try:
        held = AwsCredentials.load(name)
    except (ObjectNotFound, ValueError) as err:
        raise _missing("AwsCredentials", name) from err
    secret = held.aws_secret_access_key
    return {"access_key_id": held.aws_access_key_id,
            "secret_access_key": secret.get_secret_value() if secret is not None else None,
            "region": held.region_name,
            "endpoint_url": held.aws_client_parameters.endpoint_url}


def _missing(kind: str, name: str) -> ConfigError:
    return ConfigError(f"no {kind} block named {name!r} on the Prefect server (create it in "
                       "the UI's Blocks page, or with its class's .save())")


#: Each kind of reference and how it is read (the CLI registers them lazily from here).
RESOLVERS = {blocks.SECRET: secret_value, blocks.AWS_CREDENTIALS: aws_credentials}
for _kind, _resolver in RESOLVERS.items():
    blocks.register(_kind, _resolver)
