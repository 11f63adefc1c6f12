"""Keep secrets out of everything hubshift prints, logs, uploads or raises.

Secrets are registered once (when the fleet file is read) and removed from any text that
leaves the process; URLs lose their passwords before they are ever shown.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import urlsplit

MASK = "***"

# Every secret value this process has seen; small, and only ever added to.
_known: set[str] = set()

# user:password@ inside any URL-looking string.
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.\-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")


def register_secret(value: str | None) -> None:
    """Remember `value` so that `redact` removes it from any later text."""
    if value and len(value) >= 4:
        _known.add(value)


def redact(text: str, extra: Iterable[str] = ()) -> str:
    """`text` without any registered secret, any of `extra`, or any URL password."""
    for secret in sorted({*_known, *(s for s in extra if s)}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return _URL_PASSWORD.sub(rf"\g<scheme>\g<user>:{MASK}@", text)


def safe_url(url: str) -> str:
    """`url` reduced to what names a place and cannot be a secret: its scheme and host.

    apprise URLs carry tokens in the user, the password, the path, the query and even the
    host (`slack://TokenA/TokenB/TokenC`), so a host is kept only if it looks like one.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname or "", parts.port
    except ValueError:
        return MASK
    if not (host == "localhost" or "." in host or ":" in host):
        return f"{parts.scheme}://{MASK}"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")
