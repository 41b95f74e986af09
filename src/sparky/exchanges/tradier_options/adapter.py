"""Tradier options as a venue: the account's option chain, buying power and option orders.

It is the equities adapter's account (the same token, account id and transport, so reads such as
`get_order` by tag work as there), named `tradier_options` and declaring `options`. Its signals are
run by the options executor (execution/options.py), never the equities one: an equities order
method called on it raises `NotSupported`, so an options alert can never become a share order."""

from __future__ import annotations

from typing import Any

from sparky.exchanges.base import Capabilities, Exchange, Order, OrderKind, OrderRequest, Side
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import NotSupported
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.tradier.adapter import TradierExchange
from sparky.exchanges.tradier.api import LIVE_URL, base_url_for
from sparky.exchanges.tradier.wire import dec, status_of
from sparky.exchanges.tradier_options.api import NAME, OptionsApi, official_hosts
from sparky.exchanges.tradier_options.orders import parse_order

__all__ = ["NAME", "TradierOptionsExchange", "create", "official_hosts"]


class TradierOptionsExchange(TradierExchange):
    name = NAME
    capabilities = Capabilities(options=True, limit_brackets=True)

    def __init__(self, credentials: VenueCredentials, http: HttpClientPool, **options: Any) -> None:
        super().__init__(credentials, http, **options)
        self.options = OptionsApi(self._api)
        #: `live` or `sandbox`: recorded with each trade
        self.environment = "live" if base_url_for(credentials) == LIVE_URL else "sandbox"

    async def asset_class(self, symbol: str) -> str:
        return "options"

    async def get_order(self, symbol: str, *, order_id: str | None = None,
                        client_order_id: str | None = None) -> Order | None:
        """An option order by id or by the tag a request gave it (recovery asks whether a request
        already sent its order); the OTOCO's entry leg, or the single order."""
        raw = (await self.options.order(order_id) if order_id
               else await self.options.find(client_order_id) if client_order_id else None)
        order = parse_order(raw) if raw is not None else None
        part = (order.single or order.entry) if order is not None else None
        if order is None or part is None:
            return None
        side = Side.BUY if part.side.startswith("buy") else Side.SELL
        kind = {"market": OrderKind.MARKET, "stop": OrderKind.STOP}.get(part.type, OrderKind.LIMIT)
        return Order(id=str(order.raw.get("id")), client_order_id=str(order.raw.get("tag") or ""),
                     symbol=(part.option_symbol or str(order.raw.get("symbol") or symbol)).upper(), side=side,
                     kind=kind, quantity=part.quantity, status=status_of(order.raw),
                     price=dec(part.raw.get("price")), reduce_only=side is Side.SELL, filled_quantity=part.filled)

    async def place_order(self, request: OrderRequest) -> Order:
        raise NotSupported("tradier_options: option orders are placed by the options executor", exchange=NAME)

    async def place_exit_pair(self, stop_loss: OrderRequest, take_profit: OrderRequest) -> tuple[Order, Order | None]:
        raise NotSupported("tradier_options: option orders are placed by the options executor", exchange=NAME)


def create(credentials: VenueCredentials, http: HttpClientPool, metadata: object = None) -> Exchange:
    """`metadata` is not used: nothing this adapter loads is shared between accounts."""
    return TradierOptionsExchange(credentials, http)
