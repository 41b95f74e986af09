"""The pooled venue client hands its transport the very request httpx would build (URL merged onto the
base URL, the client's headers merged with the call's, the timeouts), and puts the same bytes on the
wire as httpx's own request path over the same transport."""

from __future__ import annotations

import asyncio
from http.cookiejar import CookieJar
from typing import Any

import httpx
import pytest

from sparky.exchanges.aiohttp_transport import AiohttpTransport
from sparky.exchanges.http import DEFAULT_TIMEOUT, POOL_LIMITS, HttpClientPool, _NoCookies, send

KEY = {"X-MBX-APIKEY": "k" * 64}
FORM = {**KEY, "Content-Type": "application/x-www-form-urlencoded"}

#: the shapes of the adapters' calls: Aster (signed query or form body), OANDA (params, JSON body, PUT),
#: Tradier (form data as content, an Accept of its own)
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/fapi/v1/time", {}),
    ("GET", "/fapi/v1/order?symbol=BTCUSDT&orderId=5&recvWindow=5000&timestamp=1&signature=ab%2Fcd", {"headers": KEY}),
    ("POST", "/fapi/v1/batchOrders", {"content": b"batchOrders=%5B%7B%22a%22%3A1%7D%5D&signature=ff", "headers": FORM}),
    ("DELETE", "/fapi/v1/batchOrders?symbol=BTCUSDT&orderIdList=%5B1%2C2%5D", {"headers": KEY}),
    ("GET", "/v3/accounts/101-004-1-001/pricing", {"params": {"instruments": "EUR_USD,GBP_USD"},
                                                   "headers": {"Authorization": "Bearer t"}}),
    ("GET", "/v3/accounts/101-004-1-001/summary", {"params": None, "json": None,
                                                   "headers": {"Authorization": "Bearer t"}}),
    ("POST", "/v3/accounts/101-004-1-001/orders", {"json": {"order": {"units": "-10", "type": "MARKET"}},
                                                   "headers": {"Authorization": "Bearer t"}}),
    ("PUT", "/v3/accounts/101-004-1-001/trades/7/close", {"headers": {"Authorization": "Bearer t"}}),
    ("POST", "/accounts/VA1/orders", {"content": b"class=equity&symbol=SPY&side=buy&quantity=1",
                                      "headers": {"Authorization": "Bearer t", "Accept": "application/json",
                                                  "Content-Type": "application/x-www-form-urlencoded"}}),
    ("GET", "/accounts/VA1/orders", {"params": {"includeTags": "true"},
                                     "headers": {"authorization": "Bearer t", "accept": "application/json"}}),
]


def httpx_client(base_url: str, transport: httpx.AsyncBaseTransport) -> httpx.AsyncClient:
    """What the pool built before: httpx's own request path, the pool's options (its cookie jar too)."""
    return httpx.AsyncClient(base_url=base_url, timeout=DEFAULT_TIMEOUT, transport=transport, limits=POOL_LIMITS,
                             headers={"User-Agent": "sparky"}, cookies=CookieJar(policy=_NoCookies()))


@pytest.mark.parametrize("base_url", ["https://fapi.asterdex.com", "https://venue.test/api/v2/"])
@pytest.mark.parametrize(("method", "url", "kwargs"), CALLS)
async def test_the_transport_gets_the_request_httpx_would_build(base_url, method, url, kwargs) -> None:
    seen: list[httpx.Request] = []

    def venue(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"Set-Cookie": "session=1; Path=/"})

    pool = HttpClientPool(transport=httpx.MockTransport(venue))
    reference = httpx_client(base_url.rstrip("/"), httpx.MockTransport(venue))
    try:
        reply = await send(pool.get(base_url), method, url, exchange="venue", **kwargs)
        expected = reference.build_request(method, url, **kwargs)
    finally:
        await pool.aclose()
        await reference.aclose()

    [request] = seen
    assert (request.method, str(request.url), request.headers.raw, request.content) == (
        expected.method, str(expected.url), expected.headers.raw, expected.content)
    assert request.extensions == expected.extensions == {"timeout": DEFAULT_TIMEOUT.as_dict()}
    assert "cookie" not in request.headers
    assert (reply.status_code, reply.json(), reply.request) == (200, {"ok": True}, request)


class RawVenue:
    """Records each request's bytes as they arrive (request line, headers in order, body)."""

    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def __aenter__(self) -> RawVenue:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                self.received.append(head + await reader.readexactly(length))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                             b"Set-Cookie: session=1; Path=/\r\n\r\n{}")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


async def test_the_bytes_on_the_wire_are_those_of_httpxs_own_request_path() -> None:
    async with RawVenue() as venue:
        pool = HttpClientPool()
        transport = AiohttpTransport(limits=POOL_LIMITS, ssl_context=httpx.create_ssl_context())
        reference = httpx_client(venue.url, transport)
        try:
            for method, url, kwargs in CALLS:
                await send(pool.get(venue.url), method, url, exchange="venue", **kwargs)
                await reference.request(method, url, **kwargs)
        finally:
            await pool.aclose()
            await reference.aclose()
    ours, httpx_own = venue.received[0::2], venue.received[1::2]
    assert len(ours) == len(CALLS) and ours == httpx_own
    assert all(b"cookie:" not in request.lower() for request in ours)


async def test_a_call_with_an_option_httpx_handles_itself_still_gets_it() -> None:
    def venue(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/old":
            return httpx.Response(307, headers={"Location": "/new"})
        return httpx.Response(200, json={"timeout": request.extensions["timeout"]["read"]})

    pool = HttpClientPool(transport=httpx.MockTransport(venue))
    client = pool.get("https://venue.test")
    try:
        assert (await client.get("/old")).status_code == 307  # never followed unless asked
        followed = await client.get("/old", follow_redirects=True, timeout=2.5)
    finally:
        await pool.aclose()
    assert (followed.status_code, followed.json(), followed.url.path) == (200, {"timeout": 2.5}, "/new")
