"""Tiny real wheels built by the tests: a site's own authenticator pinned to an old
JupyterHub, a TLJH-shaped `tljh` package. pip installs them like any other."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path


def _digest(data: bytes) -> str:
    """A wheel RECORD's hash: urlsafe base64 of the sha256, unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(folder: Path, name: str, version: str, *, requires: Sequence[str] = (),
               files: Mapping[str, str] | None = None) -> Path:
    """A pure-Python wheel of `name` in `folder` requiring `requires`, holding `files`
    (path -> text; default: an empty package named after the distribution)."""
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    content = {path: text.encode() for path, text in
               (files or {f"{module}/__init__.py": "# a site's own package\n"}).items()}
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires)
    content[f"{info}/METADATA"] = metadata.encode()
    content[f"{info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: hubshift-tests\n"
                                b"Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in content.items()]
    record.append(f"{info}/RECORD,,")
    content[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = folder / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in content.items():
            archive.writestr(path, data)
    return wheel
