"""Tradier equities through the brokerage REST API (whole shares; OCO exits; OTOCO limit entries).

Modules: `api.py` (authenticated requests, HTTP errors, order submission and reads),
`forms.py` (form-encoded order bodies: sides, ticks, whole shares, OCO/OTOCO legs),
`wire.py` (replies and their quirks: "null" for empty lists, one object for a one-item list,
rejections as HTTP 200 with `errors`; orders in our vocabulary).

Tradier answers an order request with only `{"order": {"id": …, "status": "ok"}}`, so each order
is followed by `GET …/orders/{id}`: market orders are checked a bounded number of times until they
fill (an order that never fills — e.g. the market is closed — is cancelled and reported, so a
market order returns filled or raises); resting orders are read once to catch a refusal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import structlog

from sparky.exchanges.base import (
    Balance,
    Bracket,
    Capabilities,
    Exchange,
    Order,
    OrderKind,
    OrderRequest,
    OrderStatus,
    Position,
    Quote,
    SymbolRules,
)
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    UnknownSymbol,
)
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.tradier import forms, wire
from sparky.exchanges.tradier.api import (
    ACCOUNT_ID,
    LIVE_URL,
    NAME,
    SANDBOX_URL,
    TradierApi,
    base_url_for,
)
from sparky.exchanges.tradier.cancels import OrderCancels
from sparky.exchanges.tradier.candles import TradierCandles

__all__ = ["LIVE_URL", "SANDBOX_URL", "TradierExchange", "base_url_for", "create"]

log = structlog.get_logger("sparky.exchanges.tradier")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TradierExchange(TradierCandles, Exchange):
    """Tradier equities.

    Capabilities
    - oco: `place_exit_pair` sends ONE `class=oco` order (leg 0 take-profit limit, leg 1 stop-loss
      stop, both on the closing side, gtc): when one leg fills Tradier cancels the other. If
      Tradier refuses the pair, the stop-loss is placed alone and the take-profit reported missing.
    - limit_brackets (not attached_brackets): LIMIT entries only — the entry and its exits go out
      as ONE `class=otoco` order (`oto` with a single exit); Tradier places the exits when the
      entry fills. Tradier's OTOCO cannot start with a market leg, so market entries are protected
      after the fill with the OCO, priced from the actual fill. A MARKET entry that does carry a
      bracket is still honoured: the market order, then the OCO once it filled (two order round
      trips; the exits' ids come back on the entry).
    - reduce_only: by side choice — closing orders are `sell` / `buy_to_cover`, which the back
      office refuses when there is no long / short to reduce.
    - no hedge mode, no options (a separate adapter), no trailing stops.

    Leg orders have ids `<parent id>:entry|sl|tp`; cancelling a leg cancels its whole OCO/OTOCO.
    """

    name = NAME
    capabilities = Capabilities(limit_brackets=True, oco=True, reduce_only=True, limit_orders=True)

    def __init__(
        self,
        credentials: VenueCredentials,
        http: HttpClientPool,
        *,
        clock: Callable[[], datetime] = _utcnow,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        fill_checks: int = 6,
        fill_check_delay: float = 0.1,
        retry_backoff: float = 0.2,
    ) -> None:
        token = credentials.access_token or credentials.api_key
        if not token:
            raise AuthenticationError("tradier: no access token configured", exchange=NAME)
        if not credentials.account_id:
            raise AuthenticationError("tradier: no account id configured", exchange=NAME)
        if not ACCOUNT_ID.fullmatch(credentials.account_id):  # it becomes part of every account path
            raise AuthenticationError("tradier: the account_id must be letters and digits only (like VA12345678)",
                                      exchange=NAME)
        # the pooled client is shared by every account on this base URL: credentials go per request
        self._api = TradierApi(http.get(base_url_for(credentials)), token, credentials.account_id,
                               backoff=retry_backoff)
        self._clock = clock
        self._sleep = sleep
        self._fill_checks = max(1, fill_checks)
        self._fill_delay = fill_check_delay
        self._rules: dict[str, SymbolRules] = {}
        self._cancels = OrderCancels()

    # ----------------------------------------------------------------- market data
    async def canonical_symbol(self, symbol: str) -> str:
        """The upper-case ticker (`aapl` → `AAPL`); a symbol Tradier does not list is found out
        by the order's quote read, as before."""
        return forms.normalise_symbol(symbol)

    async def asset_class(self, symbol: str) -> str:
        """This adapter trades equities (options would be a venue of their own): `stocks`."""
        return "stocks"

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        key = forms.normalise_symbol(symbol)
        if key not in self._rules:
            price = wire.quote_price(await self._api.quote(key))
            tick = forms.tick_for(price) if price is not None else forms.PENNY
            self._rules[key] = SymbolRules(key, tick, forms.SHARE, forms.SHARE, Decimal(0))
        return self._rules[key]

    async def last_price(self, symbol: str) -> Decimal:
        key = forms.normalise_symbol(symbol)
        price = wire.quote_price(await self._api.quote(key))
        if price is None:
            raise InvalidOrder(f"tradier: no last, bid or ask price for {key}", exchange=NAME)
        return price

    async def prices(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Every symbol in one `GET /markets/quotes?symbols=A,B` (the account's token reads them)."""
        keys = {forms.normalise_symbol(symbol): symbol for symbol in symbols}
        if not keys:
            return {}
        found = wire.parse_quotes(await self._api.get("/markets/quotes", {"symbols": ",".join(keys)}), set(keys))
        return {keys[key]: replace(quote, symbol=keys[key]) for key, quote in found.items()}

    # ----------------------------------------------------------------- placing orders
    async def place_order(self, request: OrderRequest) -> Order:
        bracket = request.bracket
        if bracket is not None and (bracket.stop_loss is not None or bracket.take_profit is not None):
            if bracket.trailing_stop_pips is not None:  # capabilities.trailing_stop is False
                log.warning("tradier.bracket.trailing_ignored", client_order_id=request.client_order_id)
            if request.kind is OrderKind.LIMIT:
                form = forms.bracket_form(request, bracket)
                parent = await self._api.submit(form, form["symbol[0]"])
                return await self._confirm(parent, wire.ENTRY, request)
            if request.kind is OrderKind.MARKET:
                return await self._market_then_exits(request, bracket)
            raise forms.refuse("a bracket can only ride on a market or limit entry")
        try:
            return await self._place_single(request)
        except wire.CrossesZero:
            # Tradier counts shares held by resting exits as unavailable: free them, then close
            if not (request.reduce_only and request.kind is OrderKind.MARKET) or not await self._free_shares(request):
                raise
            return await self._place_single(request)

    async def place_exit_pair(self, stop_loss: OrderRequest, take_profit: OrderRequest) -> tuple[Order, Order | None]:
        form = forms.oco_form(stop_loss, take_profit)  # our own checks: a refusal here is final
        try:
            return await self._place_oco(form, stop_loss, take_profit)
        except (UnknownSymbol, wire.CrossesZero):
            raise
        except InvalidOrder as err:  # e.g. a target too near the market: a stop alone beats no stop
            log.warning("tradier.oco.refused", error=err.message, client_order_id=stop_loss.client_order_id)
            return await self._place_single(replace(stop_loss, reduce_only=True)), None

    async def _place_single(self, request: OrderRequest) -> Order:
        form = forms.single_form(request)
        order_id = await self._api.submit(form, form["symbol"])
        if request.kind is OrderKind.MARKET:
            return await self._await_fill(order_id, request)
        return await self._confirm(order_id, None, request)

    async def _await_fill(self, order_id: str, request: OrderRequest) -> Order:
        """Read a market order until it fills (bounded); cancel it if it does not."""
        for check in range(self._fill_checks):
            if check:
                await self._sleep(min(self._fill_delay * 2 ** (check - 1), 1.0))
            raw = await self._read_placed(order_id)
            order = None if raw is None else self._accepted(raw, None, market=True)
            if order is not None and order.status is OrderStatus.FILLED:
                return order
        try:
            await self._api.cancel(order_id)
        except ExchangeError:  # filled in the meantime, or unreachable: the read below decides
            pass
        raw = await self._read_placed(order_id)
        order = None if raw is None else wire.order_for(raw, None)
        if order is not None and order.filled_quantity > 0 and order.status.is_final:
            order.status = OrderStatus.FILLED  # (partly) filled before the cancel took: report what filled
            return order
        if order is None or order.status is OrderStatus.OPEN:
            raise OutcomeUnknown(f"tradier: market order {order_id} neither filled nor cancelled", exchange=NAME)
        log.warning("tradier.order.unfilled_cancelled", order_id=order_id, tag=request.client_order_id)
        raise InvalidOrder(f"tradier: market order {order_id} did not fill (is the market open?); cancelled",
                           exchange=NAME)

    async def _read_placed(self, order_id: str) -> dict[str, Any] | None:
        try:
            return await self._api.order(order_id)
        except ExchangeError as err:
            raise OutcomeUnknown(f"tradier: cannot read order {order_id}: {err.message}", exchange=NAME) from err

    def _accepted(self, raw: dict[str, Any], role: str | None, *, market: bool = False) -> Order | None:
        """The order `role` of `raw`; raises our error when Tradier refused or dropped it."""
        order = wire.order_for(raw, role)
        if order is None:
            return None
        if market and order.status is OrderStatus.CANCELED and order.filled_quantity > 0:
            order.status = OrderStatus.FILLED  # partly filled, rest cancelled: report what filled
        if order.status is OrderStatus.REJECTED or (market and order.status is OrderStatus.CANCELED):
            reasons = wire.reason_codes(raw) + [c for leg in wire.items(raw, "leg") for c in wire.reason_codes(leg)]
            error, _ = wire.classify(reasons)
            raise error(f"tradier: order {order.id} {order.status.value}: {'; '.join(reasons) or 'no reason given'}",
                        exchange=NAME)
        return order

    async def _confirm(self, parent: str, role: str | None, request: OrderRequest) -> Order:
        """One read of a resting order to catch a refusal; taken as open when it cannot be read."""
        try:
            raw = await self._api.order(parent)
        except ExchangeError:
            raw = None
        order = None if raw is None else self._accepted(raw, role)
        return order or self._assumed(parent, role, request)

    def _assumed(self, parent: str, role: str | None, request: OrderRequest) -> Order:
        """What we sent, as accepted (the reply had an id) but not yet read back."""
        target = request.kind is OrderKind.TAKE_PROFIT
        return Order(
            id=wire.leg_id(parent, role) if role else parent, client_order_id=request.client_order_id,
            symbol=forms.normalise_symbol(request.symbol), side=request.side,
            kind=request.kind, quantity=request.quantity, status=OrderStatus.OPEN,
            price=request.trigger_price if target else request.price,
            trigger_price=request.trigger_price, reduce_only=request.reduce_only or role in (wire.STOP_LOSS,
                                                                                             wire.TAKE_PROFIT),
            updated_at=self._clock().isoformat(),
        )

    async def _place_oco(self, form: forms.Form, stop_loss: OrderRequest,
                         take_profit: OrderRequest) -> tuple[Order, Order]:
        parent = await self._api.submit(form, form["symbol[0]"])
        try:
            raw = await self._api.order(parent)
        except ExchangeError:
            raw = None
        sl = None if raw is None else self._accepted(raw, wire.STOP_LOSS)
        tp = None if raw is None else self._accepted(raw, wire.TAKE_PROFIT)
        if sl is None or tp is None:
            sl = self._assumed(parent, wire.STOP_LOSS, stop_loss)
            tp = self._assumed(parent, wire.TAKE_PROFIT, take_profit)
            sl.linked_order_id, tp.linked_order_id = tp.id, sl.id
        return sl, tp

    async def _market_then_exits(self, request: OrderRequest, bracket: Bracket) -> Order:
        """Market entry, then its exits once it filled. An exit failure never fails the filled
        entry: it comes back without bracket ids and the caller protects it."""
        entry = await self._place_single(replace(request, bracket=None))
        if entry.status is not OrderStatus.FILLED:
            return entry
        quantity, exit_side = entry.filled_quantity or request.quantity, request.side.opposite
        cid = request.client_order_id
        sl: OrderRequest | None = None
        tp: OrderRequest | None = None
        stop: Order | None
        target: Order | None
        if bracket.stop_loss is not None:
            sl = OrderRequest(request.symbol, exit_side, OrderKind.STOP, quantity, f"{cid}-sl",
                              trigger_price=bracket.stop_loss, reduce_only=True)
        if bracket.take_profit is not None:
            tp = OrderRequest(request.symbol, exit_side, OrderKind.TAKE_PROFIT, quantity, f"{cid}-tp",
                              trigger_price=bracket.take_profit, reduce_only=True)
        try:
            if sl is not None and tp is not None:
                stop, target = await self.place_exit_pair(sl, tp)
            elif sl is not None:
                stop, target = await self._place_single(sl), None
            else:
                assert tp is not None  # the bracket has a stop or a target
                stop, target = None, await self._place_single(tp)
        except ExchangeError as err:
            log.error("tradier.bracket.not_placed", error=err.message, client_order_id=cid)
            stop = target = None
            if isinstance(err, OutcomeUnknown):  # they may exist: never let the caller send them twice
                stop, target = await self._lookup_quietly(sl), await self._lookup_quietly(tp)
        entry.stop_loss_order_id = stop.id if stop else None
        entry.take_profit_order_id = target.id if target else None
        return entry

    async def _lookup_quietly(self, request: OrderRequest | None) -> Order | None:
        if request is None:
            return None
        try:
            return await self.get_order(request.symbol, client_order_id=request.client_order_id)
        except ExchangeError:
            return None

    async def _free_shares(self, close: OrderRequest) -> bool:
        """Cancel resting exits on the close's side (they hold the shares the close needs)."""
        symbol = forms.normalise_symbol(close.symbol)
        parents = {wire.split_id(o.id)[0] for o in await self.open_orders(symbol)
                   if o.reduce_only and o.side is close.side}
        for parent in sorted(parents):
            try:
                await self._api.cancel(parent)
            except InvalidOrder:
                pass  # already final
        log.warning("tradier.close.exits_cancelled", symbol=symbol, orders=sorted(parents))
        return bool(parents)

    # ----------------------------------------------------------------- orders
    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order | None:
        if order_id:
            parent, role = wire.split_id(order_id)
            if role not in (None, *wire.ROLES):
                return None
            raw = await self._api.order(parent)
            return None if raw is None else wire.order_for(raw, role)
        if client_order_id:
            raw = await self._api.find_by_tag(symbol, client_order_id)
            return None if raw is None else wire.order_for_client_id(raw, client_order_id)
        return None

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        """Cancel the Tradier order holding `order_id` (both legs of an OCO: one `DELETE`, `cancels.py`)."""
        parent, role = wire.split_id(order_id)
        if not parent.isdigit() or role not in (None, *wire.ROLES):
            raise OrderNotFound(f"tradier: no order {order_id!r}", exchange=NAME)
        return await self._cancels.cancel(parent, order_id, lambda: self._cancel(parent, role, order_id))

    async def _cancel(self, parent: str, role: str | None, order_id: str) -> Order:
        order = await self._open_order(parent, role)
        if order is None:
            raise OrderNotFound(f"tradier: order {order_id} is not open", exchange=NAME)
        try:
            await self._api.cancel(parent)
        except (InvalidOrder, OrderNotFound) as err:
            # Tradier answers 400 when the order just became final (filled, cancelled by its OCO)
            if await self._open_order(parent, role) is None:
                raise OrderNotFound(f"tradier: order {order_id} is not open", exchange=NAME) from err
            raise
        log.info("tradier.order.cancelled", order_id=order_id)
        order.status, order.updated_at = OrderStatus.CANCELED, self._clock().isoformat()
        return order

    async def _open_order(self, parent: str, role: str | None) -> Order | None:
        raw = await self._api.order(parent)
        order = None if raw is None else wire.order_for(raw, role)
        return order if order is not None and not order.status.is_final else None

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        wanted = forms.normalise_symbol(symbol) if symbol else None
        return [order for raw in await self._api.orders() for order in wire.live_orders(raw)
                if wanted is None or order.symbol == wanted]

    # ----------------------------------------------------------------- account
    async def positions(self) -> list[Position]:
        return wire.parse_positions(await self._api.get(f"{self._api.account}/positions"))

    async def position(self, symbol: str) -> Position | None:
        key = forms.normalise_symbol(symbol)
        return next((p for p in await self.positions() if p.symbol == key), None)

    async def balance(self) -> Balance:
        return wire.parse_balance(await self._api.get(f"{self._api.account}/balances"))

    async def ping(self) -> bool:
        try:
            await self._api.call("GET", "/markets/clock")
        except ExchangeError:
            return False
        return True


def create(credentials: VenueCredentials, http: HttpClientPool, metadata: object = None) -> Exchange:
    """`metadata` is not used: nothing this adapter loads is shared between accounts."""
    return TradierExchange(credentials, http)
