"""What a user feels of an upgrade: one request to their running server every 50 ms,
through the proxy, for as long as the upgrade takes.

The tests assert on it (a hub set up to keep servers must fail none) and the bench reports
it beside the hub's downtime.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType

import httpx


class ServerPoller:
    """Asks `url` (with `token`) every `interval` seconds in a thread while it is open."""

    def __init__(self, url: str, token: str, interval: float = 0.05) -> None:
        self.url, self.interval = url, interval
        self._headers = {"Authorization": f"token {token}"}
        self.requests = 0
        self.failures: list[str] = []
        #: The longest time without a successful answer, in seconds.
        self.longest_gap = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="server-poller")

    def _run(self) -> None:
        last_ok = time.monotonic()
        with httpx.Client(timeout=5, follow_redirects=False) as client:
            while not self._stop.is_set():
                self.requests += 1
                try:
                    status = client.get(self.url, headers=self._headers).status_code
                    failure = None if status == 200 else f"HTTP {status}"
                except httpx.HTTPError as err:
                    failure = type(err).__name__
                now = time.monotonic()
                if failure is None:
                    self.longest_gap = max(self.longest_gap, now - last_ok)
                    last_ok = now
                else:
                    self.failures.append(failure)
                    self.longest_gap = max(self.longest_gap, now - last_ok)
                self._stop.wait(self.interval)

    def __enter__(self) -> ServerPoller:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(10)
