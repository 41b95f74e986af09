"""`sparky serve` in production: uvicorn's and the libraries' lines come out as the same JSON as
Sparky's own, and ACCESS_LOG lines carry no query string, body or header (a real server process)."""

from __future__ import annotations

import json
import queue
import socket
import threading
from pathlib import Path

import httpx

from tests.e2e.test_serve import WAIT_SEC, free_port, launch, stop

SECRET = "w" * 20 + "-webhook-secret-for-logs"
ADMIN = "a" * 20 + "-admin-token-for-logs"


class Lines:
    """Every line a process writes to stderr, read by a thread; `wait_for` is a bounded wait."""

    def __init__(self, stream) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._drain, args=(stream,), daemon=True).start()

    def _drain(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str) -> str:
        for line in self.seen:
            if text in line:
                return line
        while (line := self._queue.get(timeout=WAIT_SEC)) is not None:
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"{text!r} never printed:\n" + "".join(self.seen))

    def rest(self) -> list[str]:
        while (line := self._queue.get(timeout=WAIT_SEC)) is not None:
            self.seen.append(line)
        return self.seen


def test_uvicorn_and_library_lines_are_json_and_the_access_line_has_no_query_or_body(tmp_path: Path) -> None:
    port = free_port()
    process = launch(tmp_path / "data", port, SPARKY_ENV="production", LOG_FORMAT="", ACCESS_LOG="true",
                     WEBHOOK_SECRET=SECRET, ADMIN_TOKEN=ADMIN)
    lines = Lines(process.stderr)
    try:
        ready = json.loads(lines.wait_for("Uvicorn running on"))
        assert ready["logger"] == "uvicorn.error" and ready["level"] == "info" and ready["timestamp"].endswith("Z")

        with socket.create_connection(("127.0.0.1", port)) as raw:  # uvicorn's parser warns about it
            raw.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            raw.recv(1024)
        warning = json.loads(lines.wait_for("Invalid HTTP request received"))
        assert warning["level"] == "warning" and warning["logger"] == "uvicorn.error"

        response = httpx.post(f"http://127.0.0.1:{port}/webhook?secret=in-the-query-string",
                              json={"secret": SECRET, "exchange": "paper", "action": "buy", "symbol": "BTCUSDT",
                                    "price": 27000, "stop_loss_percent": 2, "comment": "body-words"},
                              headers={"X-Custom": "header-words"})
        assert response.status_code == 200, response.text
        access = json.loads(lines.wait_for('"http.access"'))
        assert {k: access[k] for k in ("method", "path", "status", "client")} == {
            "method": "POST", "path": "/webhook", "status": 200, "client": "127.0.0.1"}
        assert isinstance(access["duration_ms"], float)
    finally:
        stop(process)
    printed = lines.rest()
    for line in printed:  # JSON lines only: nothing rendered another way
        json.loads(line)
    everything = "".join(printed)
    for secret in ("in-the-query-string", "body-words", "header-words", SECRET, ADMIN):
        assert secret not in everything
