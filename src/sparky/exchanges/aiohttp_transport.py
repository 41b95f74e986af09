"""An httpx transport that sends over aiohttp: the venue adapters keep httpx's API, the wire is aiohttp's.

Why: httpx's own connection pool (httpcore over anyio) spends several times aiohttp's CPU per request
when many requests run at once (a lock per pool operation and a readability check of every idle
connection per request); on a busy server that was most of a webhook's CPU (docs/PERFORMANCE.md,
"Venue HTTP client").

What it keeps from httpx: the request is built by httpx (URL, query, body, headers, User-Agent), the
reply is an `httpx.Response` decoded by httpx (Content-Encoding), redirects are not followed, the
timeouts are httpx's (connect, read, pool), TLS is verified with the context the pool passes in, and
aiohttp's failures are raised as httpx's, split the way `send` needs them: a `ConnectError` /
`ConnectTimeout` only when the request cannot have left this process; anything after that is an
error that says "it may have reached the venue". No cookie is stored or sent (a dummy jar).
"""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import httpx
from yarl import URL


def _as_httpx_error(err: BaseException) -> httpx.TransportError:
    """aiohttp's failure as the httpx one with the same meaning; checked most specific first."""
    message = str(err) or type(err).__name__
    if isinstance(err, aiohttp.ConnectionTimeoutError):  # no connection within the connect/pool timeout
        return httpx.ConnectTimeout(message)
    if isinstance(err, (aiohttp.ClientConnectorError, aiohttp.ServerFingerprintMismatch)):
        return httpx.ConnectError(message)  # refused, DNS, TLS handshake: nothing was sent
    if isinstance(err, (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError)):
        return httpx.UnsupportedProtocol(message)
    # from here on the request may have been written: never a Connect* error
    if isinstance(err, (aiohttp.SocketTimeoutError, asyncio.TimeoutError)):
        return httpx.ReadTimeout(message)
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(message)
    if isinstance(err, aiohttp.ClientResponseError):  # a reply aiohttp could not parse
        return httpx.RemoteProtocolError(message)
    return httpx.ReadError(message)  # reset, payload cut short, any other socket error


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session (and its keep-alive connection pool) per transport, made on first use."""

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext) -> None:
        self._limits = limits
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        #: aiohttp's timeouts per httpx timeouts: a client sends with the same ones every time
        self._timeouts: dict[tuple[float | None, ...], aiohttp.ClientTimeout] = {}

    def _open_session(self) -> aiohttp.ClientSession:
        # made here, not in __init__: a session belongs to the event loop running when it is made
        connector = aiohttp.TCPConnector(
            limit=self._limits.max_connections or 0,
            keepalive_timeout=self._limits.keepalive_expiry or 0,
            ssl=self._ssl_context,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # see exchanges/http.py: no cookie crosses accounts
            auto_decompress=False,  # httpx decodes the body by its Content-Encoding
            skip_auto_headers=("Content-Type",),  # httpx's headers go out as they are, with nothing added
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None),
        )
        # aiohttp resends a PUT or DELETE by itself when a kept-alive connection drops under it; a PUT
        # can be an order (OANDA closes positions with one), and whether to resend is `send`'s decision
        # (never for an order whose outcome is unknown). No public switch: aiohttp's test client sets
        # the same attribute; tests/unit/exchanges/test_http_transport.py fails if it stops working.
        session._retry_connection = False
        return session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._open_session()
        timeout = self._timeout(request.extensions.get("timeout", {}))
        body = await request.aread()
        try:
            async with session.request(
                request.method,
                URL(str(request.url), encoded=True),  # as httpx encoded it: signed query strings stay byte-exact
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            ) as reply:
                content = await reply.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as err:
            raise _as_httpx_error(err) from err
        return httpx.Response(
            reply.status,
            headers=reply.raw_headers,
            content=content,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": (reply.reason or "").encode()},
        )

    def _timeout(self, timeout: dict[str, float | None]) -> aiohttp.ClientTimeout:
        key = (timeout.get("pool"), timeout.get("connect"), timeout.get("read"))
        made = self._timeouts.get(key)
        if made is None:
            made = self._timeouts[key] = aiohttp.ClientTimeout(total=None, connect=key[0], sock_connect=key[1],
                                                                sock_read=key[2])
        return made

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()
