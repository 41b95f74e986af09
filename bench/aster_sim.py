"""A local Aster futures venue (Binance USDⓈ-M style `/fapi/...`) for benchmarks.

It answers the requests Sparky's Aster adapter makes (src/sparky/exchanges/aster/), with the reply
shapes of tests/fixtures/aster/, and keeps real state per account so the webhooks succeed:

- accounts are API keys; the secret of key K is `K-secret` (see `secret_for`); every signed request
  is checked (`X-MBX-APIKEY`, HMAC-SHA256 over the exact query/body bytes before `&signature=`,
  `timestamp` within `recvWindow`), so a wrongly signed request fails here as it would on the venue;
- one-way positions per symbol; MARKET orders fill at once, in full, at the symbol's price (fixed:
  S<i>USDT trades at 100 + i); reduceOnly orders never open or grow a position (-2022);
  STOP_MARKET / TAKE_PROFIT_MARKET orders rest (NEW) until cancelled — the price never moves;
- `GET /fapi/v1/klines` (public): `limit` klines, the last one still forming, prices wandering a
  little around the symbol's (fixed) price;
- `--latency-ms N` delays every reply by N ms (the venue's answer time, network included).

Control endpoints (not part of the venue): `GET /_bench/stats` (requests by method and path, and
klines requests by symbol and interval, since the last reset), `POST /_bench/reset`, `POST /_bench/latency?ms=N`, `GET /_bench/positions`
(non-zero positions by account and symbol).

Single process, asyncio (uvloop when installed) with httptools parsing: cheap on CPU, because it
shares the machine's cores with the server under test.
Usage: python bench/aster_sim.py [--port 0] [--latency-ms 0] [--symbols 200] [--port-file PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import socket
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import httptools
from aster_venue import Venue, VenueError, secret_for


def check_signature(payload: str, api_key: str | None) -> dict:
    """The parameters of a signed request, after checking its key, signature and timestamp."""
    head, sep, signature = payload.rpartition("&signature=")
    if not sep:
        raise VenueError(400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
    if not api_key:
        raise VenueError(401, -2014, "API-key format invalid.")
    expected = hmac.new(secret_for(api_key).encode(), head.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise VenueError(400, -1022, "Signature for this request is not valid.")
    params = dict(parse_qsl(head, keep_blank_values=True))
    try:
        stamp, window = int(params.get("timestamp", "0")), int(params.get("recvWindow", "5000"))
    except ValueError:
        raise VenueError(400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.") \
            from None
    now = int(time.time() * 1000)
    if stamp > now + 1000 or now - stamp > window:
        raise VenueError(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    return params


class Connection(asyncio.Protocol):
    def __init__(self, venue: Venue) -> None:
        self.venue = venue
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []
        self.api_key: str | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url, self.body, self.api_key = b"", [], None

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() == b"x-mbx-apikey":
            self.api_key = value.decode()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method().decode()
        parts = urlsplit(self.url.decode())
        payload = parts.query
        body = b"".join(self.body).decode()
        if body:
            payload = f"{payload}&{body}" if payload else body
        status, reply = self.answer(method, parts.path, payload)
        data = reply if isinstance(reply, bytes) else json.dumps(reply, separators=(",", ":")).encode()
        response = (b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                    % (status, b"OK" if status == 200 else b"ERR", len(data))) + data
        keep_alive = self.parser.should_keep_alive()
        delay = self.venue.latency
        if delay > 0:
            asyncio.get_running_loop().call_later(delay, self.send, response, keep_alive)
        else:
            self.send(response, keep_alive)

    def send(self, response: bytes, keep_alive: bool) -> None:
        if self.transport.is_closing():
            return
        self.transport.write(response)
        if not keep_alive:
            self.transport.close()

    def answer(self, method: str, path: str, payload: str) -> tuple[int, object]:
        venue = self.venue
        if path.startswith("/_bench/"):
            return 200, self.control(method, path, dict(parse_qsl(payload)))
        venue.stats[f"{method} {path}"] += 1
        try:
            signed = "signature=" in payload
            params = check_signature(payload, self.api_key) if signed else dict(parse_qsl(payload))
            return 200, venue.handle(method, path, params, self.api_key, signed)
        except VenueError as err:
            venue.stats[f"error {err.code}"] += 1
            return err.status, {"code": err.code, "msg": err.msg}

    def control(self, method: str, path: str, params: dict) -> object:
        venue = self.venue
        if path == "/_bench/stats":
            return {"requests": dict(venue.stats), "total": sum(v for k, v in venue.stats.items()
                                                                if not k.startswith("error")),
                    "klines": dict(venue.klines), "latency_ms": venue.latency * 1000}
        if path == "/_bench/reset" and method == "POST":
            venue.stats.clear()
            venue.klines.clear()
            return {"reset": True}
        if path == "/_bench/latency" and method == "POST":
            venue.latency = float(params.get("ms", "0")) / 1000
            return {"latency_ms": venue.latency * 1000}
        if path == "/_bench/positions":
            return {key: {s: str(p[0]) for s, p in account.positions.items()}
                    for key, account in venue.accounts.items() if account.positions}
        return {"error": f"unknown control {method} {path}"}


async def serve(args: argparse.Namespace) -> None:
    venue = Venue(args.symbols)
    venue.latency = args.latency_ms / 1000
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(venue), args.host, args.port, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    if args.port_file:
        Path(args.port_file).write_text(str(port))
    print(f"aster simulator on http://{args.host}:{port} ({len(venue.symbols)} symbols, "
          f"latency {args.latency_ms} ms)", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (see --port-file)")
    parser.add_argument("--port-file", help="write the port listened on to this file once ready")
    parser.add_argument("--latency-ms", type=float, default=0, help="delay before every reply")
    parser.add_argument("--symbols", type=int, default=200, help="S0USDT … S<n-1>USDT are listed")
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        asyncio.run(serve(args))
    else:
        uvloop.run(serve(args))


if __name__ == "__main__":
    main()
