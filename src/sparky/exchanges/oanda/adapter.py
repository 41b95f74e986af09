"""OANDA v20 adapter (forex, metals, CFDs) over REST with a bearer token.

Entries are one `POST /orders` (MARKET FOK or LIMIT GTC, units negative for a sell) with the
stop loss, take profit and optional trailing stop attached on fill, so an open with SL+TP is one
round trip; the attached orders are named `@<entry client id>-sl` / `-tp` (OANDA order
specifiers), so knowing them costs no extra read. Protection for an existing position is set on
its trade (`protect.py`), where the venue cancels the other exit when one fills (native OCO).
Closes use the position closeout endpoint for exactly the side held. Every order carries the
caller's client id in clientExtensions.id, and `@<client id>` finds it again after a timeout.

Symbols are OANDA's instrument names (`canonical_symbol`: EURUSD → EUR_USD), and positions are
listed under them. Units are the base currency, so a dollar size is converted with the base
currency's dollar value (`conversion.py`).

Trailing stops come from the account settings (`trailing_stop_distance` as a price distance or
`trailing_stop_pips`); a per-signal value is read from `Bracket.trailing_stop_pips` once the port
carries one. Instrument rules in `rules.py`, order bodies, reply parsing and errors in `wire.py`,
HTTP in `api.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from sparky.exchanges.base import (
    Balance,
    Capabilities,
    Exchange,
    Order,
    OrderKind,
    OrderRequest,
    OrderStatus,
    Position,
    Quote,
    Side,
    SymbolRules,
)
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import (
    ExchangeError,
    ExchangeUnavailable,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    UnknownSymbol,
)
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.oanda.api import OandaApi
from sparky.exchanges.oanda.candles import OandaCandles
from sparky.exchanges.oanda.conversion import DollarValue
from sparky.exchanges.oanda.protect import TradeBook, TradeProtection
from sparky.exchanges.oanda.rules import (
    NAME,
    TAG,
    InstrumentSpec,
    TrailingStop,
    decimal,
    instrument_name,
    positive_setting,
)
from sparky.exchanges.oanda.wire import (
    DEPENDENT,
    ORDER_MISSING,
    ZERO,
    DuplicateClientId,
    dependent_id,
    entry_order,
    error_for_code,
    error_for_reply,
    fill_fee,
    fill_pnl,
    fill_summary,
    mid_price,
    order_from_venue,
    parse_quotes,
    position_from,
    reject_code,
)
from sparky.exchanges.single_flight import SingleFlight

__all__ = ["OandaExchange", "create"]

log = structlog.get_logger("sparky.exchanges.oanda")
#: the single-flight key of the whole instrument list (instrument names always hold an underscore)
ALL_INSTRUMENTS = "*"


def _utcnow() -> datetime:
    return datetime.now(UTC)


class OandaExchange(OandaCandles, Exchange):
    name = NAME
    capabilities = Capabilities(attached_brackets=True, oco=True, reduce_only=True, trailing_stop=True,
                                limit_orders=True, hedge_mode=False)

    def __init__(self, credentials: VenueCredentials, http: HttpClientPool, *,
                 clock: Callable[[], datetime] = _utcnow, retry_attempts: int = 3, retry_backoff: float = 0.2,
                 lookup_attempts: int = 3, lookup_backoff: float = 0.25) -> None:
        self._api = OandaApi(credentials, http, retry_attempts=retry_attempts, retry_backoff=retry_backoff)
        self._clock = clock
        self._lookup_attempts = max(1, lookup_attempts)
        self._lookup_backoff = lookup_backoff
        self._specs: dict[str, InstrumentSpec] = {}
        #: one request in flight per instrument (and one for the whole list): concurrent first
        #: look-ups wait for it instead of each asking
        self._lookups = SingleFlight()
        self._trades = TradeBook(self._api)
        self._trailing = TrailingStop.from_settings(credentials.extra or {})
        self._protection = TradeProtection(self._api, self._trades, self._find, self._trailing_distance)
        self._dollars = DollarValue(self._spec, self._mid, clock)

    async def warm_up(self) -> None:
        """Every instrument of the account in one request (`GET /instruments`, no filter): the
        first signal for each would otherwise ask for its own before its order."""
        await self._lookups.run(ALL_INSTRUMENTS, self._load_instruments)

    async def _load_instruments(self) -> None:
        listed = (await self._api.read("/instruments")).get("instruments") or []
        for item in listed:
            try:
                spec = InstrumentSpec.from_venue(item)
            except Exception:  # noqa: BLE001 — a malformed entry: the signal that needs it asks for it alone
                continue
            self._specs.setdefault(spec.name, spec)
        log.info("oanda.rules.loaded", instruments=len(listed))

    # ------------------------------------------------------------------ market data
    async def _spec(self, symbol: str) -> InstrumentSpec:
        instrument = instrument_name(symbol)
        spec = self._specs.get(instrument)
        if spec is None and (listing := self._lookups.running(ALL_INSTRUMENTS)) is not None:
            await asyncio.wait([listing])  # the whole list is on its way (warm-up): it has this one too
            spec = self._specs.get(instrument)
        if spec is None:
            spec = await self._lookups.run(instrument, lambda: self._load_instrument(symbol, instrument))
        return spec

    async def _load_instrument(self, symbol: str, instrument: str) -> InstrumentSpec:
        status, data = await self._api.get("/instruments", params={"instruments": instrument}, accept=(400,))
        listed = [i for i in data.get("instruments") or [] if i.get("name") == instrument]
        if status != 200 or not listed:
            raise UnknownSymbol(f"oanda: {symbol} ({instrument}) is not tradeable on this account", exchange=NAME)
        spec = self._specs[instrument] = InstrumentSpec.from_venue(listed[0])
        log.info("oanda.rules.loaded", instrument=instrument, display_precision=spec.display_precision,
                 units_precision=spec.units_precision, minimum=str(spec.minimum_units))
        return spec

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        spec = await self._spec(symbol)
        return SymbolRules(symbol, spec.tick, spec.step, spec.minimum_units, ZERO)

    async def canonical_symbol(self, symbol: str) -> str:
        """OANDA's instrument name (EURUSD, EUR/USD, EUR_USD → EUR_USD), checked against the
        account's instruments (loaded once per instrument, as the order needs them anyway)."""
        return (await self._spec(symbol)).name

    async def asset_class(self, symbol: str) -> str:
        """OANDA is the forex venue: its positions are currency (and CFD) pairs, `forex` to the dashboard."""
        return "forex"

    async def unit_value_usd(self, symbol: str, price: Decimal) -> Decimal:
        """Units are the base currency: see `conversion.py`."""
        return await self._dollars.of_unit((await self._spec(symbol)).name, price)

    async def quote_value_usd(self, symbol: str, price: Decimal) -> Decimal:
        """Prices are in the quote currency: see `conversion.py`."""
        return await self._dollars.of_quote((await self._spec(symbol)).name, price)

    async def last_price(self, symbol: str) -> Decimal:
        return await self._mid(await self._spec(symbol))

    async def prices(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Every instrument in one `GET /pricing?instruments=A,B` (symbols are OANDA's names)."""
        if not symbols:
            return {}
        data = await self._api.read("/pricing", params={"instruments": ",".join(symbols)})
        return parse_quotes(data, set(symbols))

    async def _mid(self, spec: InstrumentSpec) -> Decimal:
        data = await self._api.read("/pricing", params={"instruments": spec.name})
        prices = [p for p in data.get("prices") or [] if p.get("instrument") == spec.name]
        if not prices:
            raise InvalidOrder(f"oanda: no price for {spec.name}", exchange=NAME)
        return mid_price(prices[0], spec)

    # ------------------------------------------------------------------ orders
    async def place_order(self, request: OrderRequest) -> Order:
        spec = await self._spec(request.symbol)
        if request.kind in (OrderKind.STOP, OrderKind.TAKE_PROFIT):
            stop, target = (request, None) if request.kind is OrderKind.STOP else (None, request)
            sl, tp = await self._protection.place(spec, request.symbol, stop, target)
            placed = sl or tp
            assert placed is not None
            return placed
        if request.kind is OrderKind.MARKET and request.reduce_only:
            return await self._close(request, spec)
        return await self._enter(request, spec)

    async def place_exit_pair(self, stop_loss: OrderRequest, take_profit: OrderRequest) -> tuple[Order, Order | None]:
        spec = await self._spec(stop_loss.symbol)
        sl, tp = await self._protection.place(spec, stop_loss.symbol, stop_loss, take_profit)
        assert sl is not None
        return sl, tp

    async def _enter(self, request: OrderRequest, spec: InstrumentSpec) -> Order:
        units = spec.units(request.quantity)
        if units <= 0 or units < spec.minimum_units:
            raise InvalidOrder(f"oanda: {format(units, 'f')} units of {spec.name} is below the minimum trade "
                               f"size {spec.minimum_units}", exchange=NAME)
        cid = request.client_order_id
        order = entry_order(request, spec, units, self._trailing_distance(spec, request))
        log.info("oanda.order.sent", instrument=spec.name, units=order["units"], type=order["type"],
                 client_order_id=cid, stop_loss=order.get("stopLossOnFill", {}).get("price"),
                 take_profit=order.get("takeProfitOnFill", {}).get("price"))
        try:
            data = await self._api.call("POST", "/orders", body={"order": order}, places_order=True)
        except DuplicateClientId:
            return await self._existing(request)
        fill, cancel = data.get("orderFillTransaction"), data.get("orderCancelTransaction")
        if fill is None and cancel is not None:  # a 201 that did nothing: FOK not filled, bracket refused …
            log.warning("oanda.order.cancelled_by_venue", client_order_id=cid, reason=cancel.get("reason"))
            raise error_for_code(cancel.get("reason"), "the venue cancelled the order")
        created = data.get("orderCreateTransaction") or {}
        result = Order(
            id=str(created.get("id") or (fill or {}).get("orderID")), client_order_id=cid, symbol=request.symbol,
            side=request.side, kind=request.kind, quantity=units, status=OrderStatus.OPEN,
            price=spec.price(request.price) if request.kind is OrderKind.LIMIT and request.price else None,
            updated_at=created.get("time") or self._clock().isoformat(),
        )
        if fill is not None:
            self._apply_fill(result, fill)
            result.stop_loss_order_id = dependent_id(data, "stopLoss", order, "stopLossOnFill")
            result.take_profit_order_id = dependent_id(data, "takeProfit", order, "takeProfitOnFill")
            result.trailing_stop_order_id = dependent_id(data, "trailingStopLoss", order, "trailingStopLossOnFill")
        return result

    async def _close(self, request: OrderRequest, spec: InstrumentSpec) -> Order:
        """Reduce-only market: close out exactly the side held (a sell closes the long, a buy the short)."""
        side = "long" if request.side is Side.SELL else "short"
        cid = request.client_order_id
        body = {f"{side}Units": "ALL", f"{side}ClientExtensions": {"id": cid, "tag": TAG}}
        log.info("oanda.position.close_sent", instrument=spec.name, side=side, client_order_id=cid)
        try:
            data = await self._api.call("PUT", f"/positions/{spec.name}/close", body=body, places_order=True)
        except DuplicateClientId:
            return await self._existing(request)
        fill, cancel = data.get(f"{side}OrderFillTransaction"), data.get(f"{side}OrderCancelTransaction")
        if fill is None:
            if cancel is not None:
                raise error_for_code(cancel.get("reason"), "the venue cancelled the close")
            raise OutcomeUnknown("oanda: the close reply carries no fill; look it up by client id", exchange=NAME)
        created = data.get(f"{side}OrderCreateTransaction") or {}
        result = Order(id=str(created.get("id") or fill.get("orderID")), client_order_id=cid, symbol=request.symbol,
                       side=request.side, kind=OrderKind.MARKET, quantity=request.quantity,
                       status=OrderStatus.OPEN, reduce_only=True)
        self._apply_fill(result, fill)
        result.quantity = result.filled_quantity
        log.info("oanda.position.closed", instrument=spec.name, side=side, units=fill.get("units"),
                 price=str(result.average_price))
        return result

    def _trailing_distance(self, spec: InstrumentSpec, request: OrderRequest) -> Decimal | None:
        """A trailing stop in pips asked for by the signal (when `Bracket` carries one), else the
        account's setting, else none."""
        pips = getattr(request.bracket, "trailing_stop_pips", None)
        if pips is not None:
            return TrailingStop(pips=positive_setting(pips, "trailing_stop_pips")).distance_for(spec)
        return self._trailing.distance_for(spec) if self._trailing is not None else None

    def _apply_fill(self, order: Order, fill: dict[str, Any]) -> None:
        average, filled, _ = fill_summary(fill)
        order.status, order.filled_quantity, order.average_price = OrderStatus.FILLED, filled, average
        order.fee, order.realized_pnl = fill_fee(fill), fill_pnl(fill)
        order.updated_at = fill.get("time") or order.updated_at
        self._trades.note_fill(fill)
        log.info("oanda.order.filled", order_id=order.id, client_order_id=order.client_order_id,
                 units=fill.get("units"), price=str(average))

    async def _existing(self, request: OrderRequest) -> Order:
        """CLIENT_ORDER_ID_ALREADY_EXISTS: the order went through earlier; return it, never a second one."""
        found = await self._find(request.symbol, request.client_order_id)
        if found is None:
            raise InvalidOrder(f"oanda: client id {request.client_order_id} is taken but no order has it",
                               exchange=NAME)
        log.warning("oanda.order.already_exists", client_order_id=request.client_order_id, status=found.status)
        return found

    # ------------------------------------------------------------------ lookups
    async def get_order(self, symbol: str, *, order_id: str | None = None,
                        client_order_id: str | None = None) -> Order | None:
        if order_id:
            return await self._order(symbol, order_id, patient=order_id.startswith("@"))
        if client_order_id:
            return await self._find(symbol, client_order_id)
        raise ValueError("get_order needs order_id or client_order_id")

    async def _find(self, symbol: str, client_order_id: str) -> Order | None:
        return await self._order(symbol, f"@{client_order_id}", patient=True)

    async def _order(self, symbol: str, specifier: str, *, patient: bool) -> Order | None:
        data = await self._order_data(specifier, patient=patient)
        return None if data is None else await self._to_order(data, symbol)

    async def _order_data(self, specifier: str, *, patient: bool) -> dict[str, Any] | None:
        """GET /orders/{id or @clientId}. A just-created order can be missing from reads for a
        moment, so a client-id lookup (used to settle an unknown outcome) asks a few times."""
        attempts = self._lookup_attempts if patient else 1
        for attempt in range(attempts):
            status, data = await self._api.get(f"/orders/{specifier}", accept=(404,))
            if status != 404:
                if not isinstance(data.get("order"), dict):
                    raise ExchangeUnavailable(f"oanda: order {specifier}: reply without an order", exchange=NAME)
                return data["order"]
            if reject_code(data) not in ORDER_MISSING and reject_code(data) is not None:
                raise error_for_reply(status, data, places_order=False)
            if attempt + 1 < attempts:
                await asyncio.sleep(self._lookup_backoff * 2**attempt)
        return None

    async def _to_order(self, data: dict[str, Any], symbol: str) -> Order:
        fill = None
        if data.get("state") == "FILLED" and data.get("fillingTransactionID"):
            fill = (await self._api.read(f"/transactions/{data['fillingTransactionID']}"))["transaction"]
        trade_units = None
        if data.get("type") in DEPENDENT and fill is None:
            trade_units = await self._trades.units(str(data["tradeID"]))
        return order_from_venue(data, symbol, fill=fill, trade_units=trade_units)

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        found = await self._order_data(order_id, patient=False)
        if found is None or found.get("state") not in ("PENDING", "TRIGGERED"):
            # already filled or cancelled (OANDA cancels a trade's exits when it closes)
            raise OrderNotFound(f"oanda: order {order_id} is not open", exchange=NAME)
        current = await self._to_order(found, symbol)
        _, data = await self._api.idempotent("PUT", f"/orders/{order_id}/cancel")
        current.status = OrderStatus.CANCELED
        current.updated_at = (data.get("orderCancelTransaction") or {}).get("time") or self._clock().isoformat()
        log.info("oanda.order.cancelled", order_id=current.id, client_order_id=current.client_order_id)
        return current

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        wanted = instrument_name(symbol) if symbol else None
        pending = (await self._api.read("/pendingOrders")).get("orders") or []
        if any(o.get("type") in DEPENDENT for o in pending):
            await self._trades.refresh()  # one read gives every dependent order its trade's side and size
        orders = []
        for data in pending:
            instrument = data.get("instrument") or self._trades.instrument(str(data.get("tradeID")))
            if instrument is None or (wanted is not None and instrument != wanted):
                continue
            trade_units = await self._trades.units(str(data["tradeID"])) if data.get("type") in DEPENDENT else None
            orders.append(order_from_venue(data, symbol or instrument, trade_units=trade_units))
        return orders

    async def position(self, symbol: str) -> Position | None:
        instrument = instrument_name(symbol)
        for data in (await self._api.read("/openPositions")).get("positions") or []:
            if data.get("instrument") == instrument:
                return position_from(data, symbol)
        return None

    async def positions(self) -> list[Position]:
        found = [position_from(p, str(p.get("instrument")))  # the canonical spelling: EUR_USD
                 for p in (await self._api.read("/openPositions")).get("positions") or []]
        return [p for p in found if p is not None]

    async def balance(self) -> Balance:
        account = (await self._api.read("/summary"))["account"]
        extra = {key: decimal(account[field], field) for key, field in
                 (("nav", "NAV"), ("unrealized_pnl", "unrealizedPL"), ("margin_used", "marginUsed"))
                 if account.get(field) is not None}
        return Balance(str(account.get("currency", "USD")), decimal(account["balance"], "balance"),
                       decimal(account["marginAvailable"], "marginAvailable"), extra)

    async def aclose(self) -> None:
        await self._lookups.aclose()

    async def ping(self) -> bool:
        try:
            await self._api.read("/summary")
        except ExchangeError:
            return False
        return True


def create(credentials: VenueCredentials, http: HttpClientPool, metadata: object = None) -> Exchange:
    """`metadata` is not used: what this venue lists can differ per account, so it is kept per adapter."""
    return OandaExchange(credentials, http)
