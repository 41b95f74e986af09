"""`METRICS_PORT`: the metrics on a port of their own, on 127.0.0.1 only, without the admin token.

For a Prometheus agent on the same host (or a sidecar): the port is never reachable from another
machine, so it needs no token, and `/metrics` on the main port answers 404. The server answers
`GET /metrics` and nothing else; one request per connection (`Connection: close`), the request
read with a size and time limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from sparky.observability.metrics import CONTENT_TYPE

log = structlog.get_logger("sparky.metrics")

HOST = "127.0.0.1"
#: the request line and headers of a scrape are far smaller
MAX_REQUEST_BYTES = 16 * 1024
READ_TIMEOUT_SEC = 5.0


class CannotServeMetrics(RuntimeError):
    pass


class MetricsServer:
    def __init__(self, render: Callable[[], Awaitable[bytes]]) -> None:
        self._render = render
        self._server: asyncio.Server | None = None

    async def start(self, port: int) -> None:
        """Listen on 127.0.0.1:`port`; CannotServeMetrics (naming the setting) when it is taken."""
        try:
            self._server = await asyncio.start_server(self._serve, HOST, port, limit=MAX_REQUEST_BYTES)
        except OSError as err:
            raise CannotServeMetrics(f"METRICS_PORT={port}: cannot listen on {HOST}:{port} "
                                     f"({err.strerror or err}); choose a free port or leave METRICS_PORT empty") from err
        log.info("metrics.listening", host=HOST, port=port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_SEC)
            method, _, rest = head.split(b"\r\n", 1)[0].partition(b" ")
            path = rest.split(b" ", 1)[0].split(b"?", 1)[0]
            if method != b"GET":
                status, body, kind = "405 Method Not Allowed", b"GET only\n", "text/plain"
            elif path != b"/metrics":
                status, body, kind = "404 Not Found", b"metrics are at /metrics\n", "text/plain"
            else:
                status, body, kind = "200 OK", await self._render(), CONTENT_TYPE
            writer.write(f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                         "Connection: close\r\n\r\n".encode() + body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass  # a client that sent no complete request gets nothing
        except Exception:
            log.exception("metrics.scrape_failed")
        finally:
            writer.close()

    async def aclose(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
