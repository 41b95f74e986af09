"""One `OrderRequest` → the arguments of one ccxt `create_order` call, formatted by the venue's rules.

Prices and amounts are rounded with our own Decimal arithmetic (`VenueMarket`), then checked
against ccxt's `*_to_precision`, which is what ccxt itself will send. Protective orders use ccxt's
unified parameters: `stopLossPrice` / `takeProfitPrice` (+ `reduceOnly`) for separate trigger orders,
`stopLoss` / `takeProfit` `{triggerPrice}` for a bracket attached to the entry.
"""

from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import structlog

from sparky.exchanges.base import Bracket, OrderKind, OrderRequest
from sparky.exchanges.ccxt.api import VenueQuirks, wire_client_id
from sparky.exchanges.ccxt.markets import VenueMarket, check_minimums
from sparky.exchanges.ccxt.wire import translate
from sparky.exchanges.errors import InvalidOrder, NotSupported

log = structlog.get_logger("sparky.exchanges.ccxt")

TRIGGER_KINDS = (OrderKind.STOP, OrderKind.TAKE_PROFIT)


@dataclass(frozen=True)
class OrderCall:
    order_type: str  # "market" | "limit"
    amount: Decimal  # venue units (contracts), on the step
    price: Decimal | None  # limit price, on the tick
    trigger: Decimal | None  # stop / take-profit trigger, on the tick
    params: dict[str, Any]  # ccxt unified params; clientOrderId spelled the venue's way

    @property
    def wire_client_id(self) -> str:
        return str(self.params["clientOrderId"])


class OrderFormatter:
    def __init__(self, client: Any, quirks: VenueQuirks, *, exchange: str, attached_brackets: bool) -> None:
        self._client = client
        self._quirks = quirks
        self._exchange = exchange
        self._attached_brackets = attached_brackets

    def number(self, what: str, market: VenueMarket, ours: Decimal) -> Decimal:
        """Our rounding, checked against ccxt's own (`*_to_precision` returns strings)."""
        to_precision = self._client.amount_to_precision if what == "amount" else self._client.price_to_precision
        try:
            with decimal.localcontext():  # ccxt rewrites the Decimal context while formatting
                theirs = Decimal(to_precision(market.ccxt_symbol, format(ours, "f")))
        except Exception as err:  # ccxt refuses e.g. an amount that rounds to nothing
            raise translate(err, exchange=self._exchange) from err
        if theirs != ours:  # the venue's rule wins (e.g. significant-digit caps on some venues)
            log.warning("ccxt.precision.adjusted", what=what, symbol=market.symbol, ours=str(ours), venue=str(theirs))
        return theirs

    def price(self, market: VenueMarket, price: Decimal) -> Decimal:
        return self.number("price", market, market.round_price(price))

    def order_call(self, request: OrderRequest, market: VenueMarket, known_price: Decimal | None) -> OrderCall:
        """The create_order arguments; InvalidOrder before anything is sent when the venue would
        refuse the order's size (`known_price`: the last price seen, for the min-notional check)."""
        params: dict[str, Any] = {"clientOrderId": wire_client_id(request.client_order_id, self._quirks)}
        if request.reduce_only and market.contract:  # spot has no reduce-only: a sell is a sell
            params["reduceOnly"] = True
        price = trigger = None
        if request.kind is OrderKind.LIMIT:
            if request.price is None:
                raise InvalidOrder(f"{self._exchange}: a limit order needs a price", exchange=self._exchange)
            price = self.price(market, request.price)
        elif request.kind in TRIGGER_KINDS:
            if request.trigger_price is None:
                raise InvalidOrder(f"{self._exchange}: a {request.kind.value} order needs a trigger price",
                                   exchange=self._exchange)
            trigger = self.price(market, request.trigger_price)
            params["stopLossPrice" if request.kind is OrderKind.STOP else "takeProfitPrice"] = float(trigger)
        if request.bracket is not None:
            params.update(self._bracket(request.bracket, market))
        amount = market.to_amount(request.quantity)
        check_minimums(market, amount, price or trigger or known_price, reduce_only=request.reduce_only)
        amount = self.number("amount", market, amount)
        return OrderCall("limit" if request.kind is OrderKind.LIMIT else "market", amount, price, trigger, params)

    def _bracket(self, bracket: Bracket, market: VenueMarket) -> dict[str, Any]:
        if not self._attached_brackets:
            raise NotSupported(f"{self._exchange}: ccxt cannot attach SL/TP to an order here",
                               exchange=self._exchange)
        params: dict[str, Any] = {}
        if bracket.stop_loss is not None:
            params["stopLoss"] = {"triggerPrice": float(self.price(market, bracket.stop_loss))}
        if bracket.take_profit is not None:
            params["takeProfit"] = {"triggerPrice": float(self.price(market, bracket.take_profit))}
        return params
