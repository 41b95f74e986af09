"""ACCESS_LOG=true: one `http.access` event per request, at INFO.

Method, path, status, duration and the client's address — never the query string (a secret may
travel there: `?secret=` on a misconfigured alert), never a body or a header. uvicorn's own access
log is left off: it prints the query string. A pure ASGI middleware: nothing is buffered, the
answer is only watched for its status.
"""

from __future__ import annotations

import time
from typing import Any

import structlog

log = structlog.get_logger("sparky.access")


class AccessLog:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before starting its answer

        async def watched(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watched)
        finally:
            client = scope.get("client")
            log.info("http.access", method=scope["method"], path=scope["path"], status=status,
                     duration_ms=round((time.perf_counter() - started) * 1000, 1),
                     client=client[0] if client else None)
