"""Stop-loss and take-profit on an open OANDA trade: `PUT /v3/accounts/{id}/trades/{tradeID}/orders`.

OANDA protects trades, not positions: each trade owns at most one stop loss, one take profit and
one trailing stop, and the venue cancels the others when one fills (native OCO) or when the trade
closes. Setting them again replaces them, so a retry can never leave two stops on one trade.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import structlog

from sparky.exchanges.base import Order, OrderRequest, OrderStatus, Side
from sparky.exchanges.errors import InvalidOrder, OutcomeUnknown
from sparky.exchanges.oanda.api import OandaApi
from sparky.exchanges.oanda.rules import NAME, TAG, InstrumentSpec, decimal
from sparky.exchanges.oanda.wire import ZERO, DuplicateClientId, error_for_reply, fill_summary

log = structlog.get_logger("sparky.exchanges.oanda")

Lookup = Callable[[str, str], Awaitable[Order | None]]
#: the trailing-stop distance for an instrument and the stop-loss request, or None
Trailing = Callable[[InstrumentSpec, OrderRequest], Decimal | None]


class TradeBook:
    """Instrument and signed units of trades by id (a trade's direction never changes)."""

    def __init__(self, api: OandaApi, *, limit: int = 512) -> None:
        self._api = api
        self._limit = limit
        self._trades: OrderedDict[str, tuple[str, Decimal]] = OrderedDict()

    def remember(self, trade_id: str, instrument: str, units: Decimal) -> None:
        self._trades[trade_id] = (instrument, units)
        self._trades.move_to_end(trade_id)
        while len(self._trades) > self._limit:
            self._trades.popitem(last=False)

    def forget(self, trade_id: str) -> None:
        self._trades.pop(trade_id, None)

    def instrument(self, trade_id: str) -> str | None:
        known = self._trades.get(trade_id)
        return known[0] if known else None

    def note_fill(self, fill: dict[str, Any]) -> None:
        instrument = str(fill.get("instrument", ""))
        opened = fill.get("tradeOpened")
        if isinstance(opened, dict) and opened.get("tradeID"):
            self.remember(str(opened["tradeID"]), instrument, decimal(opened.get("units", "0"), "units"))
        for closed in fill.get("tradesClosed") or []:
            self.forget(str(closed.get("tradeID")))

    async def units(self, trade_id: str) -> Decimal:
        """Signed units of a trade: its direction, and its size while open."""
        if trade_id not in self._trades:
            trade = (await self._api.read(f"/trades/{trade_id}"))["trade"]
            current = decimal(trade.get("currentUnits", "0"), "units")
            initial = decimal(trade.get("initialUnits", "0"), "units")
            size = abs(current) or abs(initial)
            self.remember(trade_id, str(trade["instrument"]), size if initial > 0 else -size)
        return self._trades[trade_id][1]

    async def refresh(self) -> list[tuple[str, str, Decimal]]:
        """(trade id, instrument, signed current units) of every open trade, newest first."""
        data = await self._api.read("/openTrades")
        open_trades = []
        for trade in data.get("trades") or []:
            units = decimal(trade.get("currentUnits", "0"), "units")
            if units:
                self.remember(str(trade["id"]), str(trade["instrument"]), units)
                open_trades.append((str(trade["id"]), str(trade["instrument"]), units))
        return sorted(open_trades, key=lambda t: int(t[0]) if t[0].isdigit() else 0, reverse=True)

    async def open_for(self, instrument: str, held: Side) -> list[tuple[str, Decimal]]:
        """Open trades making up the `held` position in `instrument`, newest first.

        A trade opened a moment ago may not be listed yet (OANDA's reads lag its writes briefly);
        then the trades our own fills reported stand in for it."""
        same = [(tid, units) for tid, inst, units in await self.refresh()
                if inst == instrument and (units > 0) == (held is Side.BUY)]
        if same:
            return same
        return [(tid, units) for tid, (inst, units) in reversed(self._trades.items())
                if inst == instrument and units and (units > 0) == (held is Side.BUY)][:1]


class TradeProtection:
    def __init__(self, api: OandaApi, trades: TradeBook, lookup: Lookup, trailing: Trailing) -> None:
        self._api = api
        self._trades = trades
        self._lookup = lookup
        self._trailing = trailing

    async def place(self, spec: InstrumentSpec, symbol: str, stop: OrderRequest | None,
                    target: OrderRequest | None) -> tuple[Order | None, Order | None]:
        first = stop or target
        assert first is not None
        held = first.side.opposite
        trades = await self._trades.open_for(spec.name, held)
        if not trades:
            raise InvalidOrder(f"oanda: no open {'long' if held is Side.BUY else 'short'} trade in "
                               f"{spec.name} to protect", exchange=NAME)
        placed = []
        for n, (trade_id, units) in enumerate(trades):  # normally one; more if trades were added by hand
            placed.append(await self._one(spec, symbol, trade_id, units, stop, target, "" if n == 0 else f"-{n + 1}"))
        sl, tp = placed[0]
        total = sum((abs(units) for _, units in trades), ZERO)
        for order in (sl, tp):
            if order is not None:
                order.quantity = total
        if sl is not None and tp is not None:
            sl.linked_order_id, tp.linked_order_id = tp.id, sl.id
        log.info("oanda.protection.placed", instrument=spec.name, trades=[t for t, _ in trades],
                 stop_loss=str(sl.trigger_price) if sl else None, take_profit=str(tp.trigger_price) if tp else None)
        return sl, tp

    async def _one(self, spec: InstrumentSpec, symbol: str, trade_id: str, units: Decimal,
                   stop: OrderRequest | None, target: OrderRequest | None,
                   suffix: str) -> tuple[Order | None, Order | None]:
        body = self._body(spec, stop, target, suffix)
        try:
            status, data = await self._api.send("PUT", f"/trades/{trade_id}/orders", body=body,
                                                places_order=True, accept=(400, 404))
        except OutcomeUnknown:
            return await self._resolve(symbol, stop, target, suffix)
        if status != 200:
            stop_refused = any(k in data for k in ("stopLossOrderRejectTransaction",
                                                   "trailingStopLossOrderRejectTransaction"))
            if stop is not None and target is not None and not stop_refused \
                    and "takeProfitOrderRejectTransaction" in data:
                # the stop matters more than the target: place it alone
                log.warning("oanda.protection.take_profit_refused", trade_id=trade_id,
                            reason=data["takeProfitOrderRejectTransaction"].get("rejectReason"))
                return (await self._one(spec, symbol, trade_id, units, stop, None, suffix))[0], None
            error = error_for_reply(status, data, places_order=False)
            if isinstance(error, DuplicateClientId):  # an earlier attempt got through
                return await self._resolve(symbol, stop, target, suffix)
            raise error
        sl = self._order(spec, symbol, data, "stopLoss", stop, units, suffix)
        trailing = data.get("trailingStopLossOrderTransaction")
        if sl is not None and isinstance(trailing, dict) and trailing.get("id"):
            sl.trailing_stop_order_id = str(trailing["id"])
        return sl, self._order(spec, symbol, data, "takeProfit", target, units, suffix)

    def _body(self, spec: InstrumentSpec, stop: OrderRequest | None, target: OrderRequest | None,
              suffix: str) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if stop is not None:
            body["stopLoss"] = _details(spec, _trigger(stop), stop.client_order_id + suffix)
            trailing = self._trailing(spec, stop)
            if trailing is not None:
                body["trailingStopLoss"] = {"distance": spec.price_text(trailing), "timeInForce": "GTC",
                                            "clientExtensions": {"id": f"{stop.client_order_id}{suffix}-ts",
                                                                 "tag": TAG}}
        if target is not None:
            body["takeProfit"] = _details(spec, _trigger(target), target.client_order_id + suffix)
        return body

    def _order(self, spec: InstrumentSpec, symbol: str, data: dict[str, Any], key: str,
               request: OrderRequest | None, units: Decimal, suffix: str) -> Order | None:
        if request is None:
            return None
        created = data.get(f"{key}OrderTransaction")
        if not isinstance(created, dict):
            raise InvalidOrder(f"oanda: the venue did not create the {key} order", exchange=NAME)
        fill = data.get(f"{key}OrderFillTransaction")  # the price was already through: filled at once
        average, filled, _ = fill_summary(fill) if isinstance(fill, dict) else (None, ZERO, ZERO)
        price = created.get("price")
        return Order(
            id=str(created["id"]), client_order_id=request.client_order_id + suffix, symbol=symbol,
            side=request.side, kind=request.kind, quantity=abs(units),
            status=OrderStatus.FILLED if fill else OrderStatus.OPEN,
            trigger_price=decimal(price, "price") if price is not None else spec.price(_trigger(request)),
            reduce_only=True, filled_quantity=filled, average_price=average, updated_at=created.get("time"),
        )

    async def _resolve(self, symbol: str, stop: OrderRequest | None, target: OrderRequest | None,
                       suffix: str) -> tuple[Order | None, Order | None]:
        """The request may have been applied: find the orders by client id, never resend blindly."""
        sl = await self._lookup(symbol, stop.client_order_id + suffix) if stop else None
        tp = await self._lookup(symbol, target.client_order_id + suffix) if target else None
        if (stop is not None and sl is None) or (stop is None and tp is None):
            raise OutcomeUnknown("oanda: protection request unanswered and not found by client id", exchange=NAME)
        return sl, tp


def _trigger(request: OrderRequest) -> Decimal:
    price = request.trigger_price if request.trigger_price is not None else request.price
    if price is None or not price.is_finite() or price <= 0:
        raise InvalidOrder(f"oanda: {request.kind.value} needs a positive trigger price", exchange=NAME)
    return price


def _details(spec: InstrumentSpec, price: Decimal, client_id: str) -> dict[str, Any]:
    return {"price": spec.price_text(price), "timeInForce": "GTC",
            "clientExtensions": {"id": client_id, "tag": TAG}}
