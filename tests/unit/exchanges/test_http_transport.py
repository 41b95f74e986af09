"""The venue HTTP client against real local HTTP servers: what the venue receives, connection reuse, and
how each way a request can fail reaches the adapters (never reached → retry; may have reached an order →
look it up by client id, never resend)."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import httpx
import pytest

from sparky.exchanges.aiohttp_transport import _as_httpx_error
from sparky.exchanges.errors import ExchangeUnavailable, OutcomeUnknown
from sparky.exchanges.http import HttpClientPool, send, with_retries

ORDER = b"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=sparky-1&signature=ab%2Fcd"


def answer(body: bytes = b'{"orderId":1}', *headers: str) -> bytes:
    head = "".join(f"{header}\r\n" for header in headers)
    return (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{head}\r\n"
            .encode() + body)


@dataclass
class Received:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


class Venue:
    """A real HTTP/1.1 server on a loopback port. `reply` returns the bytes to answer a request with,
    or None to drop the connection without answering; it may wait as long as it likes."""

    def __init__(self, reply: Callable[[Received], Awaitable[bytes | None]]) -> None:
        self.reply = reply
        self.requests: list[Received] = []
        self.connections = 0
        self.received = asyncio.Event()
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Venue:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                method, target, _ = head[0].split(" ")
                headers = {name.lower(): value for name, _, value in (line.partition(": ") for line in head[1:] if line)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                request = Received(method, target, headers, body)
                self.requests.append(request)
                self.received.set()
                reply = await self.reply(request)
                if reply is None:
                    return
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return  # the client closed the connection
        finally:
            writer.close()


async def ok(request: Received) -> bytes:
    return answer()


async def order(pool: HttpClientPool, venue: Venue) -> httpx.Response:
    return await send(pool.get(venue.url), "POST", "/fapi/v1/order?recvWindow=5000&signature=ab%2Fcd",
                      exchange="aster", places_order=True, content=ORDER,
                      headers={"Content-Type": "application/x-www-form-urlencoded", "X-MBX-APIKEY": "key"})


async def test_the_venue_receives_the_request_byte_for_byte() -> None:
    pool = HttpClientPool()
    try:
        async with Venue(ok) as venue:
            response = await order(pool, venue)
    finally:
        await pool.aclose()

    assert (response.status_code, response.json()) == (200, {"orderId": 1})
    [received] = venue.requests
    assert (received.method, received.target, received.body) == (
        "POST", "/fapi/v1/order?recvWindow=5000&signature=ab%2Fcd", ORDER)  # signed bytes untouched
    assert received.headers["user-agent"] == "sparky"
    assert received.headers["x-mbx-apikey"] == "key"
    assert received.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "cookie" not in received.headers


async def test_a_request_without_a_body_goes_out_as_httpx_built_it() -> None:
    pool = HttpClientPool()
    try:
        async with Venue(ok) as venue:
            await send(pool.get(venue.url), "POST", "/fapi/v1/listenKey", exchange="aster")
            await send(pool.get(venue.url), "DELETE", "/fapi/v1/order?orderId=1", exchange="aster")
    finally:
        await pool.aclose()

    # no Content-Type added to an empty body (aiohttp's default would be application/octet-stream); aiohttp
    # does add "Content-Length: 0" to a bodiless DELETE, as ccxt's requests to the same venues carry it
    assert [(request.method, request.headers.get("content-type"), request.body)
            for request in venue.requests] == [("POST", None, b""), ("DELETE", None, b"")]


async def test_connections_are_kept_alive_across_requests() -> None:
    pool = HttpClientPool()
    try:
        async with Venue(ok) as venue:
            for _ in range(3):
                await order(pool, venue)
            await send(pool.get(venue.url), "GET", "/fapi/v1/time", exchange="aster")
    finally:
        await pool.aclose()

    assert (len(venue.requests), venue.connections) == (4, 1)


async def test_a_refused_connection_is_unavailable_and_retryable() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    pool = HttpClientPool()
    try:
        with pytest.raises(ExchangeUnavailable) as caught:
            await send(pool.get(url), "POST", "/fapi/v1/order", exchange="aster", places_order=True, content=ORDER)
    finally:
        await pool.aclose()

    assert caught.value.retryable
    assert "cannot connect" in str(caught.value)


async def test_a_connection_dropped_after_an_order_was_sent_is_an_unknown_outcome_and_never_resent() -> None:
    async def drop(request: Received) -> None:
        return None

    pool = HttpClientPool()
    try:
        async with Venue(drop) as venue:
            with pytest.raises(OutcomeUnknown) as caught:
                await with_retries(lambda: order(pool, venue), backoff=0)
    finally:
        await pool.aclose()

    assert not caught.value.retryable
    assert [request.body for request in venue.requests] == [ORDER]  # sent once, not again


async def test_an_order_sent_with_put_on_a_kept_alive_connection_that_drops_is_not_resent() -> None:
    async def answer_then_drop(request: Received) -> bytes | None:
        return answer() if request.method == "GET" else None

    pool = HttpClientPool()
    try:
        async with Venue(answer_then_drop) as venue:
            await send(pool.get(venue.url), "GET", "/v3/accounts/1/summary", exchange="oanda")
            with pytest.raises(OutcomeUnknown):  # a partial close sent twice would close twice as much
                await send(pool.get(venue.url), "PUT", "/v3/accounts/1/positions/EUR_USD/close", exchange="oanda",
                           places_order=True, json={"longUnits": "5"})
    finally:
        await pool.aclose()

    assert [request.method for request in venue.requests] == ["GET", "PUT"]
    assert venue.connections == 1


async def test_a_read_timeout_on_an_order_is_an_unknown_outcome_and_never_resent() -> None:
    answered = asyncio.Event()

    async def never_answer(request: Received) -> None:
        await answered.wait()
        return None

    pool = HttpClientPool(timeout=httpx.Timeout(5.0, read=0.2))
    try:
        async with Venue(never_answer) as venue:
            with pytest.raises(OutcomeUnknown) as caught:
                await with_retries(lambda: order(pool, venue), backoff=0)
            answered.set()
    finally:
        await pool.aclose()

    assert "ReadTimeout" in str(caught.value)
    assert [request.body for request in venue.requests] == [ORDER]


async def test_a_dropped_connection_on_a_read_is_unavailable() -> None:
    async def drop(request: Received) -> None:
        return None

    pool = HttpClientPool()
    try:
        async with Venue(drop) as venue:
            with pytest.raises(ExchangeUnavailable):
                await send(pool.get(venue.url), "GET", "/fapi/v2/positionRisk", exchange="aster")
    finally:
        await pool.aclose()


async def test_a_cookie_the_venue_sets_is_never_sent_back() -> None:
    async def set_cookie(request: Received) -> bytes:
        return answer(b"{}", "Set-Cookie: session=alice; Path=/", "Set-Cookie: lb=node-1; Path=/")

    pool = HttpClientPool()
    try:
        async with Venue(set_cookie) as venue:
            venue.url = venue.url.replace("127.0.0.1", "localhost")  # cookie jars may refuse cookies from bare IPs
            await order(pool, venue)
            await order(pool, venue)
    finally:
        await pool.aclose()

    assert [request.headers.get("cookie") for request in venue.requests] == [None, None]


@pytest.mark.parametrize(("failure", "meaning"), [
    (aiohttp.ConnectionTimeoutError("connect"), httpx.ConnectTimeout),
    (aiohttp.SocketTimeoutError("read"), httpx.ReadTimeout),
    (TimeoutError(), httpx.ReadTimeout),
    (aiohttp.ServerDisconnectedError(), httpx.RemoteProtocolError),
    (aiohttp.ClientPayloadError("cut short"), httpx.ReadError),
    (aiohttp.ClientOSError(104, "reset"), httpx.ReadError),
])
def test_each_aiohttp_failure_keeps_its_meaning(failure: BaseException, meaning: type[Exception]) -> None:
    # a connect timeout never reached the venue (retry); the rest may have (an order is looked up)
    assert type(_as_httpx_error(failure)) is meaning


async def test_a_proxy_named_by_the_environment_is_still_used(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = HttpClientPool()
    try:
        async with Venue(ok) as proxy:
            monkeypatch.setenv("HTTP_PROXY", proxy.url)
            response = await send(pool.get("http://venue.invalid"), "GET", "/fapi/v1/time", exchange="aster")
    finally:
        await pool.aclose()

    assert response.status_code == 200
    assert [request.target for request in proxy.requests] == ["http://venue.invalid/fapi/v1/time"]


async def test_a_venue_whose_certificate_does_not_verify_is_never_sent_the_request(tmp_path: Path) -> None:
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
                   .sign(key, hashes.SHA256()))  # self-signed: in no CA set
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            requests.append(await reader.readuntil(b"\r\n\r\n"))
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass  # the client refused the certificate
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=tls)
    pool = HttpClientPool()
    try:
        url = f"https://localhost:{server.sockets[0].getsockname()[1]}"
        with pytest.raises(ExchangeUnavailable) as caught:
            await send(pool.get(url), "POST", "/fapi/v1/order", exchange="aster", places_order=True, content=ORDER)
    finally:
        await pool.aclose()
        server.close()

    assert "cannot connect" in str(caught.value)
    assert requests == []
