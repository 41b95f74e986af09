"""A notification channel on 127.0.0.1 for apprise's `json://` URLs: every POST it receives.

apprise sends through `requests`, which respx (httpx) never sees; a real local HTTP server catches
exactly what apprise sent instead. `hold()` keeps every answer back until `release()`: a channel
that hangs.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: a bounded wait for a message that must arrive (apprise sends on a thread of its own)
WAIT_SEC = 30


class Channel:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.arrived = threading.Event()  # a request reached the channel (answered or not)
        self._answer = threading.Event()
        self._answer.set()

    def url(self, path: str = "notify") -> str:
        return f"json://127.0.0.1:{self._server.server_address[1]}/{path}"

    def hold(self) -> None:
        self._answer.clear()

    def release(self) -> None:
        self._answer.set()

    def next(self) -> dict[str, Any]:
        return self.received.get(timeout=WAIT_SEC)

    def nothing_more(self) -> bool:
        return self.received.empty()


@contextmanager
def channel() -> Iterator[Channel]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    box = Channel(server)
    server.channel = box  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        box.release()
        server.shutdown()
        server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        box: Channel = self.server.channel  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        box.arrived.set()
        box._answer.wait(WAIT_SEC)
        box.received.put({"path": self.path, **json.loads(body)})
        self.send_response(200)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass
