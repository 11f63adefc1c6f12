"""Python environments for test hubs, built with uv from the same indexes pip uses.

Building a JupyterHub venv with pip costs about 30 s of CPU (resolving, unpacking, compiling
every module), and the suite needs dozens: the cached releases, and the target release of
every lab that is upgraded. uv builds the same environment, compiled, in about 10 s.
hubshift itself keeps building with pip (tests/integration/test_upgrade_hub.py and others
cover that path); these environments only stand where a test needs a release installed.

uv does not read pip's configuration, so the index settings pip would use (`pip config
list`: index-url, extra-index-url, find-links, constraint) are handed to it as options.
"""

from __future__ import annotations

import functools
import os
import shlex
import subprocess
import sys
from pathlib import Path

from hubshift.backends.installers.pip import _bootstrap_wheels
from hubshift.system.execute import child_env


def venv_cache() -> Path:
    """Where test venvs live: $HUBSHIFT_TEST_CACHE, else the user's cache folder
    (`~/.cache/hubshift/test-venvs`), so that every checkout and every run of the suite on
    a machine builds each release venv once. A venv is tied to the interpreter that built
    it, so the folder is per Python version."""
    configured = os.environ.get("HUBSHIFT_TEST_CACHE")
    if configured:
        return Path(configured)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "hubshift" / f"test-venvs-py{sys.version_info[0]}.{sys.version_info[1]}"


#: pip's settings (`pip config list` keys without their section) and uv's options for them.
_PIP_TO_UV = {"index-url": "--index-url", "extra-index-url": "--extra-index-url",
              "find-links": "--find-links", "constraint": "--constraint"}


@functools.cache
def _uv() -> str:
    found = Path(sys.executable).with_name("uv")
    if not found.exists():
        raise RuntimeError("uv is not installed in the test venv: `make install` installs it")
    return str(found)


@functools.cache
def index_options() -> tuple[str, ...]:
    """uv options for the indexes, links and constraints pip is configured with here (from
    its config files and PIP_* variables, the environment winning as it does for pip)."""
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], check=True,
                            capture_output=True, text=True).stdout
    settings: dict[str, str] = {}
    for line in sorted(listed.splitlines(), key=lambda line: line.startswith(":env:")):
        key, _, value = line.partition("=")
        settings[key.rpartition(".")[2]] = value.strip().strip("'\"")
    return tuple(option for key, flag in _PIP_TO_UV.items() if key in settings
                 for value in shlex.split(settings[key]) for option in (flag, value))


def build_env(path: Path, requirements: list[str], *, python: str | None = None) -> None:
    """A venv at `path` (made by `python`, default this interpreter's base) with pip and
    `requirements` installed, as `create_venv` would make it."""
    base = python or getattr(sys, "_base_executable", None) or sys.executable
    subprocess.run([base, "-m", "venv", "--without-pip", str(path)], check=True,
                   capture_output=True)
    done = subprocess.run(
        # Compiled as pip compiles, so that a hub's first start costs what it would; files
        # are hard links into uv's cache: nothing may write into an installed file.
        [_uv(), "pip", "install", "--quiet", "--link-mode=hardlink", "--compile-bytecode",
         "--index-strategy", "unsafe-best-match",  # as pip: the best version of any index
         "--python", str(path / "bin" / "python"), *index_options(),
         *map(str, _bootstrap_wheels()), *requirements],
        env=child_env(), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"uv could not build {path} with {requirements}:\n"
                           f"{done.stderr[-3000:]}")
