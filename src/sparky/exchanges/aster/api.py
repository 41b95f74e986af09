"""Aster v1 request signing (Binance USDⓈ-M style HMAC) and the server-time offset.

The venue checks `HMAC-SHA256(secret, totalParams)` against the bytes it received, so the payload
is encoded once, signed, and those very bytes are sent (`signature` appended last). Values are
form-encoded (`urlencode`), which is what the venue decodes; signing anything else (the raw JSON of
`batchOrders`, say) is the classic cause of `-1022 invalid signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from urllib.parse import quote_plus, urlencode

import structlog

from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.single_flight import SingleFlight

log = structlog.get_logger("sparky.exchanges.aster")

Params = list[tuple[str, str]]

DEFAULT_BASE_URL = "https://fapi.asterdex.com"
DEFAULT_RECV_WINDOW = 5000
MAX_RECV_WINDOW = 60_000  # the docs: recvWindow must not exceed 60 seconds


def sign(secret: str, payload: str) -> str:
    """Hex HMAC-SHA256 of `payload` keyed with `secret` (the venue's `signature`)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


#: what `quote_plus` leaves as it is: a name or value made only of these is its own encoding
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*").fullmatch


def encode(params: Params) -> str:
    """Form-encode in the given order (parameter order is free; we keep it stable for tests): the
    bytes `urlencode` gives, without its cost (most names and values need no quoting at all)."""
    parts = []
    for name, value in params:
        if type(name) is not str or type(value) is not str:
            return urlencode(params)
        parts.append(f"{name if _PLAIN(name) else quote_plus(name)}={value if _PLAIN(value) else quote_plus(value)}")
    return "&".join(parts)


class Signer:
    """Adds `recvWindow` and `timestamp`, then `signature` last, over exactly the encoded bytes."""

    def __init__(self, api_key: str, api_secret: str, recv_window: int = DEFAULT_RECV_WINDOW) -> None:
        if not 0 < recv_window <= MAX_RECV_WINDOW:
            raise ValueError(f"aster: recv_window must be in 1..{MAX_RECV_WINDOW} ms, got {recv_window}")
        self._secret = api_secret
        self.recv_window = recv_window
        self.headers = {"X-MBX-APIKEY": api_key}

    def signed_payload(self, params: Params, timestamp_ms: int) -> str:
        payload = encode([*params, ("recvWindow", str(self.recv_window)), ("timestamp", str(timestamp_ms))])
        return f"{payload}&signature={sign(self._secret, payload)}"

    def __repr__(self) -> str:  # never print the secret
        return f"Signer(recv_window={self.recv_window})"


class ServerClock:
    """Milliseconds on the venue's clock: our clock plus the offset measured from `/fapi/v1/time`.

    A request stamped more than 1 s ahead of the server or older than `recvWindow` is refused with
    -1021, so the offset is measured lazily before the first signed request and again on -1021.
    One clock serves every account on a host (`metadata.py`): the measurement is single-flight, so
    users signing together wait for one `/fapi/v1/time`, and share its failure rather than each
    trying again in turn.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._offset_ms: int | None = None
        self._flight = SingleFlight()
        #: bumped by every measurement, so concurrent -1021s re-measure once, not once each
        self.generation = 0

    def local_ms(self) -> int:
        return int(self._clock() * 1000)

    def now_ms(self) -> int:
        return self.local_ms() + (self._offset_ms or 0)

    async def sync(self, server_time: Callable[[], Awaitable[int]], *, stale: int | None = None) -> None:
        """Measure the offset if it never was, or if `stale` (the generation a refused request was
        stamped with) is still the current one."""
        if self._offset_ms is not None and (stale is None or stale != self.generation):
            return
        await self._flight.run("offset", lambda: self._measure(server_time, resync=stale is not None))

    async def _measure(self, server_time: Callable[[], Awaitable[int]], *, resync: bool) -> None:
        before = self.local_ms()
        server_ms = await server_time()
        after = self.local_ms()
        # the server stamped its reply somewhere between our two readings: assume the middle
        self._offset_ms = server_ms - (before + after) // 2
        self.generation += 1
        log.info("aster.clock.synced", offset_ms=self._offset_ms, resync=resync)


def base_url(credentials: VenueCredentials) -> str:
    """`https://fapi.asterdex.com` for every environment unless `credentials.base_url` is set:
    Aster's testnet (`fapi.asterdex-testnet.com`) speaks only the V3 API (EIP-712 wallet signing),
    which this adapter does not, so there is no testnet mapping."""
    return (credentials.base_url or DEFAULT_BASE_URL).rstrip("/")


def official_hosts(exchange: str = "aster") -> frozenset[str]:
    """The v1 API's one host: the only one a user's own `apiUrl` may name."""
    return frozenset({"fapi.asterdex.com"})
