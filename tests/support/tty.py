"""A command run on a pseudo-terminal, as an operator's shell runs it, and the screen it
leaves: what a person reads at the end, once spinners and redrawn lines are gone."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

# The control sequences a live display uses; any other escape sequence (colours, cursor
# visibility) changes nothing on the screen's text.
_TOKEN = re.compile(r"\x1b\[([\d;]*)([A-Za-z])|\x1b\[\?\d+[hl]|\r\n|\n|\r|[^\x1b\r\n]+|\x1b")


@dataclass
class TtyRun:
    returncode: int
    raw: str

    @property
    def screen(self) -> list[str]:
        """The lines left on the terminal, trailing spaces removed."""
        return render(self.raw)

    @property
    def lines(self) -> list[str]:
        """The non-empty lines left on the terminal."""
        return [line for line in self.screen if line.strip()]


def render(raw: str) -> list[str]:
    """Replay `raw` on an unbounded screen: text overwrites at the cursor, `\\r` returns
    to column 0, `\\n` moves down, `ESC[nA` up, `ESC[2K` erases the line."""
    rows: list[list[str]] = [[]]
    row = col = 0
    for match in _TOKEN.finditer(raw):
        token = match.group(0)
        if token in ("\r\n", "\n"):
            row, col = row + 1, 0
            while len(rows) <= row:
                rows.append([])
        elif token == "\r":
            col = 0
        elif match.group(2) == "A":
            row = max(0, row - int(match.group(1) or 1))
        elif match.group(2) == "K" and match.group(1) == "2":
            rows[row] = []
        elif token.startswith("\x1b"):
            continue
        else:
            line = rows[row]
            line.extend(" " * (col - len(line)))
            line[col:col + len(token)] = list(token)
            col += len(token)
    return ["".join(r).rstrip() for r in rows]


def run_in_tty(argv: list[str], env: dict[str, str], *, timeout: float = 900,
               columns: int = 200) -> TtyRun:
    """Run `argv` with stdin, stdout and stderr on one pseudo-terminal `columns` wide;
    return its exit code and everything it wrote. Kills its process group on timeout."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {**env, "COLUMNS": str(columns), "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, close_fds=True)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            if time.monotonic() > deadline:
                os.killpg(proc.pid, 9)
                raise TimeoutError(f"{argv} ran over {timeout} s")
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError as err:  # EIO: every writer closed its end (Linux)
                if err.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            chunks.append(data)
        returncode = proc.wait(60)
    finally:
        os.close(master)
    return TtyRun(returncode, b"".join(chunks).decode("utf-8", "replace"))
