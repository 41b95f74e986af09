"""Finding an order again: by venue id or by client id, plain or conditional.

Venues differ in what ccxt can ask: Binance and OKX fetch one order by client id but keep
stop/take-profit orders apart (ccxt's `{'trigger': True}` reaches them); Bybit fetches by id only,
so a client id is found by listing open then closed orders. Every path ends in a ccxt order dict,
or None when the venue has no such order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from sparky.exchanges.ccxt.api import VenueQuirks
from sparky.exchanges.errors import InvalidOrder, NotSupported, OrderNotFound

log = structlog.get_logger("sparky.exchanges.ccxt")

Call = Callable[[Awaitable[Any]], Awaitable[Any]]
_PLAIN: dict[str, Any] = {}
_TRIGGER: dict[str, Any] = {"trigger": True}


class Recent(dict[str, str]):
    """A dict that forgets its oldest entries past `limit`: per-order memos must not grow forever
    in a long-running server (what it forgets is found again the slower way)."""

    def __init__(self, limit: int = 4096) -> None:
        super().__init__()
        self._limit = limit

    def remember(self, key: str, value: str = "") -> None:
        self.pop(key, None)
        self[key] = value
        while len(self) > self._limit:
            del self[next(iter(self))]


class OrderFinder:
    def __init__(self, client: Any, quirks: VenueQuirks, call: Call) -> None:
        self._client = client
        self._quirks = quirks
        self._call = call
        #: order ids and wire client ids we placed as conditional orders: ask that side first
        self.trigger_ids = Recent()
        self.trigger_client_ids = Recent()

    def variants(self, trigger_first: bool) -> list[dict[str, Any]]:
        if not self._quirks.separate_trigger_orders:
            return [_PLAIN]
        return [_TRIGGER, _PLAIN] if trigger_first else [_PLAIN, _TRIGGER]

    async def by_id(self, ccxt_symbol: str, order_id: str) -> dict | None:
        if not self._client.has.get("fetchOrder"):
            return await self._scan(ccxt_symbol, lambda raw: str(raw.get("id")) == order_id,
                                    order_id in self.trigger_ids)
        for params in self.variants(order_id in self.trigger_ids):
            try:
                return await self._call(self._client.fetch_order(order_id, ccxt_symbol, dict(params)))
            except OrderNotFound:
                continue
        return None

    async def by_client_id(self, ccxt_symbol: str, wire_id: str) -> dict | None:
        trigger_first = wire_id in self.trigger_client_ids
        if not self._quirks.lookup_by_client_id:
            return await self._scan(ccxt_symbol, lambda raw: raw.get("clientOrderId") == wire_id, trigger_first)
        for params in self.variants(trigger_first):
            try:
                return await self._call(
                    self._client.fetch_order(None, ccxt_symbol, {"clientOrderId": wire_id, **params}))
            except OrderNotFound:
                continue
        return None

    async def cancel(self, ccxt_symbol: str, order_id: str) -> dict:
        for params in self.variants(order_id in self.trigger_ids):
            try:
                return await self._call(self._client.cancel_order(order_id, ccxt_symbol, dict(params)))
            except OrderNotFound:
                continue
        raise OrderNotFound(f"order {order_id} is not open on {ccxt_symbol}")

    async def open_orders(self, ccxt_symbol: str | None) -> list[dict]:
        found: list[dict] = []
        for params in self.variants(False):
            found += await self._call(self._client.fetch_open_orders(ccxt_symbol, None, None, dict(params)))
        return found

    async def _scan(self, ccxt_symbol: str, wanted: Callable[[dict], bool], trigger_first: bool) -> dict | None:
        """List open, then closed orders, until one matches (two requests or more)."""
        listings = [("fetchOpenOrders", self._client.fetch_open_orders),
                    ("fetchClosedOrders", self._client.fetch_closed_orders)]
        for params in self.variants(trigger_first):
            for feature, listing in listings:
                if not self._client.has.get(feature):
                    continue
                try:
                    orders = await self._call(listing(ccxt_symbol, None, None, dict(params)))
                except (NotSupported, InvalidOrder) as err:  # this venue cannot list that way
                    log.info("ccxt.lookup.listing_unavailable", feature=feature, error=str(err))
                    continue
                for raw in orders:
                    if wanted(raw):
                        return raw
        return None

