"""Environment files (KEY=VALUE lines, as systemd's EnvironmentFile=, supervisord's or
compose's env files read them): parsed, and one variable set or removed in place.

A variable hubshift sets may hold a password (a moved database's URL): the file is written
under a temporary name with mode 0600, fsynced, then renamed over the old one.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_environment_file(text: str) -> dict[str, str]:
    """The variables of an EnvironmentFile=: KEY=VALUE lines, # or ; comments, values
    optionally quoted."""
    env = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        name, sep, value = line.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not ENV_NAME.fullmatch(name):
            continue
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            quote, value = value[0], value[1:-1]
            if quote == '"':
                value = re.sub(r'\\(["\\`$])', r"\1", value)
        env[name] = value
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of `path`; empty when it does not exist. Raises OSError otherwise."""
    try:
        return parse_environment_file(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def _quoted(value: str) -> str:
    """`value` double-quoted, with the characters `parse_environment_file` unescapes."""
    return '"' + re.sub(r'(["\\`$])', r"\\\1", value) + '"'


def _lines_without(path: Path, name: str) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [line for line in text.splitlines()
            if line.strip().partition("=")[0].strip() != name]


def set_var(path: Path, name: str, value: str) -> None:
    """`name=value` in `path` (created if missing), every other line kept as it was."""
    if not ENV_NAME.fullmatch(name) or "\n" in value:
        raise ValueError(f"cannot write {name!r} to an environment file")
    _write(path, [*_lines_without(path, name), f"{name}={_quoted(value)}"])


def unset_var(path: Path, name: str) -> bool:
    """Remove `name` from `path`; True when the file is left without any variable (the
    caller may remove it). Safe to call twice."""
    if not path.exists():
        return True
    lines = _lines_without(path, name)
    _write(path, lines)
    return not parse_environment_file("\n".join(lines))


def _write(path: Path, lines: list[str]) -> None:
    tmp = path.with_name(f".{path.name}.hubshift-tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write("".join(f"{line}\n" for line in lines))
        file.flush()
        os.fsync(file.fileno())
    os.replace(tmp, path)


def write_private_json(path: Path, document: Any) -> None:
    """`document` as JSON in `path`, mode 0600, replaced whole."""
    _write(path, [json.dumps(document, sort_keys=True)])
