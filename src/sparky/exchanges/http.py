"""HTTP plumbing shared by the venue adapters: pooled clients, transport errors, retries.

One `httpx.AsyncClient` (a `VenueClient`: httpx's API, less CPU per request) per venue base URL
(connection pooling, timeouts), owned by the
`HttpClientPool` the app lifespan builds and closes. Every account on a base URL shares its
client, so the clients keep no cookies: a session cookie one account's reply sets would otherwise
ride along with every other account's requests (credentials travel per request, never on the
client). The clients send over aiohttp (`AiohttpTransport`): httpx's own pool costs several times the CPU
per request when many run at once (docs/PERFORMANCE.md); a base URL the environment routes through a
proxy keeps httpx's own transport, which honours it. Transport failures are translated here, once:
a request that may have reached the venue (a timeout after sending, a dropped connection) on an
order-placing call is `OutcomeUnknown` — look the order up by client id, never resend it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
import urllib.request
from collections.abc import Awaitable, Callable
from http.cookiejar import Cookie, CookieJar, CookiePolicy
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from sparky.exchanges.aiohttp_transport import AiohttpTransport
from sparky.exchanges.errors import ExchangeError, ExchangeUnavailable, OutcomeUnknown
from sparky.exchanges.venue_client import VenueClient
from sparky.observability.timeline import note_venue_request

if TYPE_CHECKING:
    from sparky.observability.metrics import Metrics

T = TypeVar("T")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
POOL_LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=20)


class _NoCookies(CookiePolicy):
    """Stores no cookie and sends none: venue APIs authenticate every request on their own."""

    netscape = True
    rfc2965 = False
    hide_cookie2 = True

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Cookie, request: Any) -> bool:
        return False

    def domain_return_ok(self, domain: str, request: Any) -> bool:
        return False

    def path_return_ok(self, path: str, request: Any) -> bool:
        return False


def _environment_proxy(base_url: str) -> bool:
    """Whether the environment names a proxy for this URL's scheme. httpx applies such proxies only when
    it picks the transport itself, so a client given the aiohttp transport would bypass the proxy."""
    proxies = urllib.request.getproxies_environment()
    return bool(proxies.get(httpx.URL(base_url).scheme) or proxies.get("all"))


class HttpClientPool:
    def __init__(self, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._timeout = timeout
        self._transport = transport
        self._metrics: Metrics | None = None
        self._clients: dict[str, VenueClient] = {}
        self._ssl_context: ssl.SSLContext | None = None

    def _transport_for(self, base_url: str) -> httpx.AsyncBaseTransport | None:
        if self._transport is not None:
            return self._transport
        if _environment_proxy(base_url):
            return None  # httpx's own transport, which honours HTTP(S)_PROXY / ALL_PROXY / NO_PROXY
        if self._ssl_context is None:  # certificates verified against the same CA set httpx uses (certifi)
            self._ssl_context = httpx.create_ssl_context()
        return AiohttpTransport(limits=POOL_LIMITS, ssl_context=self._ssl_context)

    def measure_with(self, metrics: Metrics) -> None:
        """Time every request of this pool's clients (`send`) in `metrics`, those made so far too."""
        self._metrics = metrics
        for client in self._clients.values():
            client.metrics = metrics

    def get(self, base_url: str) -> VenueClient:
        key = base_url.rstrip("/")
        client = self._clients.get(key)
        if client is None:
            client = VenueClient(
                key,
                timeout=self._timeout,
                transport=self._transport_for(key),
                limits=POOL_LIMITS,
                headers={"User-Agent": "sparky"},
                cookies=CookieJar(policy=_NoCookies()),
            )
            client.metrics = self._metrics
            self._clients[key] = client
        return client

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


async def send(
    client: httpx.AsyncClient, method: str, url: str, *, exchange: str, places_order: bool = False, **kwargs: Any
) -> httpx.Response:
    """Send one request; transport failures become our errors (never a raw httpx exception). Every
    venue request passes here once: it is timed for the metrics (by venue and endpoint template)."""
    note_venue_request()
    metrics: Metrics | None = getattr(client, "metrics", None)
    started, answered = time.perf_counter(), False
    try:
        response = await client.request(method, url, **kwargs)
        answered = True
        return response
    except (httpx.ConnectError, httpx.ConnectTimeout) as err:
        # never reached the venue: safe to retry
        raise ExchangeUnavailable(f"{exchange}: cannot connect ({type(err).__name__})", exchange=exchange) from err
    except httpx.TransportError as err:
        if places_order:
            raise OutcomeUnknown(
                f"{exchange}: no answer to an order request ({type(err).__name__}); look it up by client id",
                exchange=exchange,
            ) from err
        raise ExchangeUnavailable(f"{exchange}: {type(err).__name__}", exchange=exchange) from err
    finally:
        if metrics is not None:
            metrics.venue_request(exchange, method, url, time.perf_counter() - started, answered=answered)


async def with_retries(call: Callable[[], Awaitable[T]], *, attempts: int = 3, backoff: float = 0.2,
                       max_wait: float = 5.0) -> T:
    """Retry only errors the venue calls retryable (rate limit, unavailable), `attempts` tries in all,
    waiting `backoff` × 2^(n−1) seconds (at most `max_wait`) after the n-th. A plain loop, not a retry
    library's: the first try, nearly every call, then costs nothing beyond the call itself (a retrying
    object built per call cost ~90 µs, and every OANDA and Tradier read, every exit placed, comes here)."""
    attempt = 1
    while True:
        try:
            return await call()
        except ExchangeError as err:
            if not err.retryable or attempt >= attempts:
                raise
        await asyncio.sleep(min(backoff * 2 ** (attempt - 1), max_wait))  # the backoff itself, not a stand-in
        attempt += 1
