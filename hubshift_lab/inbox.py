"""A notification endpoint on this machine: receives apprise `json://` posts and keeps them.

The demo prints what users would have been told; tests assert on it. It is a real HTTP
server on loopback, so apprise does exactly what it does with Slack or Teams.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class Inbox:
    """Collects notices posted to `url` while it is open (use as a context manager)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                try:
                    payload = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    payload = {"raw": True}
                with inbox._lock:
                    inbox.messages.append(payload)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep test and demo output clean
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"json://{host}:{port}/hubshift"

    def titles(self) -> list[str]:
        with self._lock:
            return [str(m.get("title", "")) for m in self.messages]

    def __enter__(self) -> Inbox:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
