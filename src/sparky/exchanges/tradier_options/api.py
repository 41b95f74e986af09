"""Tradier's option endpoints for one account, over the equities transport (`tradier/api.py`:
authentication, pooled clients, HTTP errors and 200-with-`errors` replies translated there).

Base URLs are the equities ones: `live`/`production` → api.tradier.com, anything else → the
sandbox; a user's own `apiUrl` may only name those hosts."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sparky.exchanges.errors import ExchangeUnavailable, InvalidOrder, OrderNotFound
from sparky.exchanges.tradier import wire as equity_wire
from sparky.exchanges.tradier.api import LIVE_URL, SANDBOX_URL, TradierApi, official_hosts
from sparky.exchanges.tradier_options import wire
from sparky.exchanges.tradier_options.forms import Form
from sparky.exchanges.tradier_options.orders import OptionOrder, parse_order

__all__ = ["LIVE_URL", "NAME", "SANDBOX_URL", "OptionsApi", "official_hosts"]

NAME = "tradier_options"


class OptionsApi:
    def __init__(self, api: TradierApi) -> None:
        self._api = api

    async def expirations(self, underlying: str) -> list[date]:
        return wire.expirations(await self._api.get("/markets/options/expirations", {"symbol": underlying}))

    async def chain(self, underlying: str, expiration: date) -> list[wire.OptionContract]:
        body = await self._api.get("/markets/options/chains",
                                   {"symbol": underlying, "expiration": expiration.isoformat(), "greeks": "false"})
        return wire.chain(body)

    async def underlying_price(self, underlying: str) -> Decimal | None:
        return equity_wire.quote_price(await self._api.quote(underlying))

    async def option_buying_power(self) -> Decimal:
        found = wire.option_buying_power(await self._api.get(f"{self._api.account}/balances"))
        if found is None:
            raise ExchangeUnavailable("tradier: the balances reply states no option buying power", exchange=NAME)
        return found

    async def submit(self, form: Form) -> str:
        """POST one order (never retried; looked up by tag when the reply is unclear, among every
        order: the equities look-up's symbol filter reads share orders only); its id."""
        return await self._api.submit(form, None)

    async def find(self, tag: str) -> dict[str, Any] | None:
        """The account's order carrying `tag` (a request's client id: unique to it), whatever its
        symbol; the equities look-up's symbol filter reads equity orders only."""
        return await self._api.find_by_tag(None, tag)

    async def order(self, order_id: str) -> dict[str, Any] | None:
        return await self._api.order(order_id)

    async def read(self, order_id: str) -> OptionOrder | None:
        """The order read into its legs (orders.py); None when the account has no such order."""
        raw = await self._api.order(order_id)
        return parse_order(raw) if raw is not None else None

    async def cancel(self, order_id: str) -> bool:
        """Cancel an order with every working leg; False when it was no longer open."""
        try:
            await self._api.cancel(order_id)
        except (OrderNotFound, InvalidOrder):
            return False  # filled, cancelled or expired meanwhile: nothing left working
        return True
