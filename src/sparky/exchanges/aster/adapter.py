"""Aster futures, v1 REST API with HMAC keys (the `api_key`/`api_secret` of `bot_credentials`).

Requests go to `https://fapi.asterdex.com` in every environment and are signed as on Binance
USDⓈ-M (`api.py`). One-way position mode only (positionSide BOTH): a hedge-mode account is refused
with a clear error rather than traded wrongly. Aster has no OCO, so stop-loss and take-profit go out
together in one `batchOrders` request and the executor cancels the survivor.

credentials.extra: `working_type` (MARK_PRICE | CONTRACT_PRICE, default MARK_PRICE) triggers the
exits; `recv_window` (ms, default 5000); `margin_asset` (default USDT) for `balance()`; `leverage`
(1–125) set on each symbol before its first entry (`leverage.py`: started beside the signal's reads).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import structlog

from sparky.exchanges.aster.api import DEFAULT_RECV_WINDOW, Params, ServerClock, Signer, base_url, encode
from sparky.exchanges.aster.cancels import cancel_batch
from sparky.exchanges.aster.candles import AsterCandles
from sparky.exchanges.aster.fills import fill_fee
from sparky.exchanges.aster.leverage import Leverage
from sparky.exchanges.aster.quotes import AsterQuotes
from sparky.exchanges.aster.rules import SymbolSpec, parse_exchange_info, prepare
from sparky.exchanges.aster.settle import settled
from sparky.exchanges.aster.wire import (
    INVALID_TIMESTAMP,
    WIRE_TYPES,
    VendorError,
    batch_item,
    dec,
    error_code,
    parse_balance,
    parse_order,
    parse_positions,
    read,
    translate,
)
from sparky.exchanges.base import (
    Balance,
    Capabilities,
    Exchange,
    Order,
    OrderKind,
    OrderRequest,
    OrderStatus,
    Position,
    SymbolRules,
)
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailable,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
    OutcomeUnknown,
    UnknownSymbol,
    logged_reply,
)
from sparky.exchanges.http import HttpClientPool, send
from sparky.exchanges.metadata import VenueMetadata
from sparky.exchanges.symbols import joined

__all__ = ["AsterExchange", "create"]

log = structlog.get_logger("sparky.exchanges.aster")

NAME = "aster"
WORKING_TYPES = frozenset({"MARK_PRICE", "CONTRACT_PRICE"})
CLIENT_ID = re.compile(r"^[.A-Z:/a-z0-9_-]{1,36}$")  # the docs' newClientOrderId rule


class AsterExchange(AsterQuotes, AsterCandles, Exchange):
    name = NAME
    capabilities = Capabilities(reduce_only=True, batch_orders=True, limit_orders=True)  # no hedge mode

    def __init__(self, credentials: VenueCredentials, http: HttpClientPool, *,
                 clock: Callable[[], float] = time.time, fill_lookups: int = 5,
                 fill_poll_seconds: float = 0.2, metadata: VenueMetadata | None = None) -> None:
        extra = credentials.extra or {}
        self._base_url = base_url(credentials)
        self._client = http.get(self._base_url)
        self._working_type = str(extra.get("working_type") or "MARK_PRICE").upper()
        if self._working_type not in WORKING_TYPES:
            raise ValueError(f"aster: working_type must be one of {sorted(WORKING_TYPES)}, "
                             f"got {self._working_type}")
        recv_window = int(extra.get("recv_window") or DEFAULT_RECV_WINDOW)
        self._signer = Signer(credentials.api_key or "", credentials.api_secret or "", recv_window)
        self._has_keys = bool(credentials.api_key and credentials.api_secret)
        self._margin_asset = str(extra.get("margin_asset") or "USDT")
        #: the symbol rules and the clock offset are the same for every account on the host: shared
        self._metadata = metadata or VenueMetadata()
        self._clock = self._metadata.shared(("aster.clock", self._base_url, clock), lambda: ServerClock(clock))
        self._fill_lookups = fill_lookups
        self._fill_poll_seconds = fill_poll_seconds
        #: last ticker price per symbol: the reference for the min-notional check of market orders
        self._prices: dict[str, Decimal] = {}
        #: leverage to set on a symbol before its first entry (credentials option `leverage`)
        leverage = int(extra["leverage"]) if extra.get("leverage") else None
        if leverage is not None and not 1 <= leverage <= 125:
            raise ValueError(f"aster: leverage must be between 1 and 125, got {leverage}")
        self._leverage = Leverage(leverage, self.set_leverage)

    # ------------------------------------------------------------------ transport
    async def _call(self, method: str, path: str, params: Sequence[tuple[str, str]] = (), *,
                    signed: bool = False, places_order: bool = False, what: str) -> Any:
        """One request, its reply as JSON; every failure as our error. A -1021 (our timestamp
        outside the venue's window) re-measures the clock and resends once: the venue refused the
        request before acting on it, so resending cannot duplicate an order."""
        if signed:
            if not self._has_keys:
                raise AuthenticationError(f"{NAME}: api_key and api_secret are required", exchange=NAME)
            await self._clock.sync(self._server_time)
        for attempt in (1, 2):
            generation = self._clock.generation
            response = await self._send(method, path, list(params), signed, places_order)
            try:
                body = response.json()
            except ValueError as err:
                if response.is_success:
                    unreadable = OutcomeUnknown if places_order else ExchangeUnavailable
                    raise unreadable(f"{NAME}: {what}: unreadable reply", exchange=NAME) from err
                body = None
            code = error_code(body)
            if response.is_success and code is None:
                return body
            if signed and code == INVALID_TIMESTAMP and attempt == 1:
                log.warning("aster.clock.rejected", what=what)
                await self._clock.sync(self._server_time, stale=generation)
                continue
            log.info("aster.refused", what=what, status=response.status_code, reply=logged_reply(response.text))
            raise translate(response.status_code, body, places_order=places_order, what=what) \
                from VendorError(response.status_code, body)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(self, method: str, path: str, params: Params, signed: bool, places_order: bool) -> Any:
        payload = self._signer.signed_payload(params, self._clock.now_ms()) if signed else encode(params)
        headers = dict(self._signer.headers) if signed else {}
        if method == "POST":  # form body: exactly the bytes that were signed
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return await send(self._client, method, path, exchange=NAME, places_order=places_order,
                              content=payload.encode(), headers=headers)
        url = f"{path}?{payload}" if payload else path
        return await send(self._client, method, url, exchange=NAME, places_order=places_order, headers=headers)

    async def _server_time(self) -> int:
        body = await self._call("GET", "/fapi/v1/time", what="server time")
        return int(read(lambda: dec(body["serverTime"]), what="server time"))

    async def server_time(self) -> datetime:
        return datetime.fromtimestamp(await self._server_time() / 1000, UTC)

    # ------------------------------------------------------------------ rules and prices
    async def _spec(self, symbol: str) -> SymbolSpec:
        spec = (await self._rules(symbol)).get(symbol)
        if spec is None:
            raise UnknownSymbol(f"{NAME}: {symbol} is not listed", exchange=NAME)
        return spec

    async def _rules(self, symbol: str | None = None) -> dict[str, SymbolSpec]:
        """Every symbol's rules, from one exchangeInfo request shared by every account on the host
        (`metadata.py`); reloaded when `symbol` is missing (newly listed), at most once a minute."""
        return await self._metadata.get(("aster.rules", self._base_url), self._load_rules,
                                        has=lambda specs: symbol is None or symbol in specs)

    async def _load_rules(self) -> dict[str, SymbolSpec]:
        body = await self._call("GET", "/fapi/v1/exchangeInfo", what="exchangeInfo")
        specs = read(lambda: parse_exchange_info(body), what="exchangeInfo")
        log.info("aster.rules.loaded", symbols=len(specs))
        return specs

    async def warm_up(self) -> None:
        """exchangeInfo and (with keys) the clock offset, at once: the first signal's symbol check
        and first signed request would otherwise wait for each in turn. Both are the host's: loaded
        already for another account, they cost nothing here."""
        work = [self._rules()]
        if self._has_keys:
            work.append(self._clock.sync(self._server_time))
        failures = [r for r in await asyncio.gather(*work, return_exceptions=True) if isinstance(r, BaseException)]
        if failures:
            raise failures[0]

    async def canonical_symbol(self, symbol: str) -> str:  # BTC/USDT, BTC-USDT → BTCUSDT, if listed
        return (await self._spec(joined(symbol))).rules.symbol

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        return (await self._spec(symbol)).rules

    async def last_price(self, symbol: str) -> Decimal:
        body = await self._call("GET", "/fapi/v1/ticker/price", [("symbol", symbol)], what="ticker")
        price = read(lambda: dec(body["price"]), what="ticker")
        if price <= 0:
            raise InvalidOrder(f"{NAME}: no price for {symbol}", exchange=NAME)
        self._prices[symbol] = price
        return price

    # ------------------------------------------------------------------ orders
    def _order_params(self, spec: SymbolSpec, request: OrderRequest) -> Params:
        if not CLIENT_ID.match(request.client_order_id):
            raise InvalidOrder(f"{NAME}: client order id {request.client_order_id!r} is not valid here",
                               exchange=NAME)
        if request.bracket is not None:
            raise NotSupported(f"{NAME}: protection cannot be attached to an entry", exchange=NAME)
        wire = prepare(spec, request, self._prices.get(request.symbol))
        params: Params = [("symbol", request.symbol), ("side", request.side.value.upper()),
                          ("type", WIRE_TYPES[request.kind])]
        if request.kind is OrderKind.LIMIT:
            params += [("timeInForce", "GTC"), ("quantity", wire.quantity), ("price", wire.price or "")]
        else:
            params.append(("quantity", wire.quantity))
        if wire.stop_price is not None:
            params += [("stopPrice", wire.stop_price), ("workingType", self._working_type),
                       ("priceProtect", "TRUE")]
        if request.reduce_only:
            params.append(("reduceOnly", "true"))
        params.append(("newClientOrderId", request.client_order_id))
        return params

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        """`POST /fapi/v1/leverage`; returns the leverage the venue now applies to `symbol`."""
        body = await self._call("POST", "/fapi/v1/leverage", [("symbol", symbol), ("leverage", str(leverage))],
                                signed=True, what="leverage")
        applied = int(body.get("leverage", leverage)) if isinstance(body, dict) else leverage
        log.info("aster.leverage.set", symbol=symbol, leverage=applied)
        return applied

    def prepare_entry(self, symbol: str) -> None:
        self._leverage.start(symbol)  # the configured leverage, beside the signal's first reads

    async def place_order(self, request: OrderRequest) -> Order:
        if not request.reduce_only:
            await self._leverage.ensure(request.symbol)  # once per symbol, before its first entry
        params = self._order_params(await self._spec(request.symbol), request)
        # RESULT: a market order's reply carries its fill (status, executedQty, avgPrice)
        params.append(("newOrderRespType", "RESULT"))
        log.info("aster.order.sent", client_order_id=request.client_order_id, side=request.side.value,
                 kind=request.kind.value, quantity=str(request.quantity), reduce_only=request.reduce_only)
        body = await self._call("POST", "/fapi/v1/order", params, signed=True, places_order=True,
                                what=f"{request.kind.value} order")
        order = read(lambda: parse_order(body), what="order reply", places_order=True)
        if request.kind is OrderKind.MARKET:
            order = await settled(order, request, look_up=self.get_order, cancel=self._cancel,
                                  lookups=self._fill_lookups, poll_seconds=self._fill_poll_seconds)
        log.info("aster.order.placed", client_order_id=order.client_order_id, order_id=order.id,
                 status=order.status.value, filled=str(order.filled_quantity))
        return order

    async def get_order(self, symbol: str, *, order_id: str | None = None,
                        client_order_id: str | None = None) -> Order | None:
        if order_id is None and client_order_id is None:
            raise ValueError("aster: get_order needs order_id or client_order_id")
        key = ("orderId", order_id) if order_id is not None and order_id.isdigit() \
            else ("origClientOrderId", order_id or client_order_id or "")
        try:
            body = await self._call("GET", "/fapi/v1/order", [("symbol", symbol), key], signed=True,
                                    what="order lookup")
        except OrderNotFound:  # -2013: the venue has no such order
            return None
        return read(lambda: parse_order(body), what="order lookup")

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        key = "orderId" if order_id.isdigit() else "origClientOrderId"
        return await self._cancel(symbol, [(key, order_id)])

    async def cancel_orders(self, symbol: str, order_ids: Sequence[str]) -> dict[str, ExchangeError | None]:
        """One `DELETE /fapi/v1/batchOrders` naming the ids (`cancels.py`), not one request each."""
        return await cancel_batch(self._call, symbol, order_ids)

    async def _cancel(self, symbol: str, key: Params) -> Order:
        body = await self._call("DELETE", "/fapi/v1/order", [("symbol", symbol), *key], signed=True,
                                what="cancel")
        order = read(lambda: parse_order(body), what="cancel reply")
        log.info("aster.order.cancelled", order_id=order.id, client_order_id=order.client_order_id)
        return order

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        params: Params = [("symbol", symbol)] if symbol else []
        body = await self._call("GET", "/fapi/v1/openOrders", params, signed=True, what="open orders")
        return read(lambda: [parse_order(item) for item in body], what="open orders")

    # ------------------------------------------------------------------ exits
    async def place_exit_pair(self, stop_loss: OrderRequest,
                              take_profit: OrderRequest) -> tuple[Order, Order | None]:
        """SL (STOP_MARKET) and TP (TAKE_PROFIT_MARKET), reduce-only, in ONE batchOrders request."""
        if (stop_loss.kind, take_profit.kind) != (OrderKind.STOP, OrderKind.TAKE_PROFIT) \
                or stop_loss.side is not take_profit.side or stop_loss.symbol != take_profit.symbol:
            raise InvalidOrder(f"{NAME}: an exit pair is a STOP and a TAKE_PROFIT on one side of one symbol",
                               exchange=NAME)
        spec = await self._spec(stop_loss.symbol)
        legs = [dict(self._order_params(spec, replace(leg, reduce_only=True))) for leg in (stop_loss, take_profit)]
        batch = json.dumps(legs, separators=(",", ":"))  # no spaces: nothing for encoders to disagree on
        log.info("aster.exit_pair.sent", stop_loss=stop_loss.client_order_id,
                 take_profit=take_profit.client_order_id)
        try:
            body = await self._call("POST", "/fapi/v1/batchOrders", [("batchOrders", batch)], signed=True,
                                    places_order=True, what="exit pair")
            if not isinstance(body, list) or len(body) != 2:
                log.warning("aster.batch.unexpected_reply", reply=logged_reply(body))
                raise OutcomeUnknown(f"{NAME}: batchOrders: unexpected reply", exchange=NAME)
            sl, tp = batch_item(body[0], "stop-loss"), batch_item(body[1], "take-profit")
        except OutcomeUnknown:
            return await self._find_pair(stop_loss, take_profit)
        if isinstance(sl, ExchangeError):
            if isinstance(tp, Order):  # never leave a lone take-profit behind
                await self._cancel_leftover(tp)
            raise sl
        if isinstance(tp, ExchangeError):
            log.warning("aster.exit_pair.take_profit_failed", error=tp.message)
            return sl, None
        return sl, tp

    async def _find_pair(self, stop_loss: OrderRequest, take_profit: OrderRequest) -> tuple[Order, Order | None]:
        """After an unknown outcome: what the venue holds under our client ids, never a resend."""
        symbol, live = stop_loss.symbol, (OrderStatus.OPEN, OrderStatus.FILLED)
        found = await asyncio.gather(self.get_order(symbol, client_order_id=stop_loss.client_order_id),
                                     self.get_order(symbol, client_order_id=take_profit.client_order_id),
                                     return_exceptions=True)
        for result in found:
            if isinstance(result, ExchangeError):  # still unknown; a retry could only duplicate the pair
                raise OutcomeUnknown(f"{NAME}: exit pair outcome unknown and the look-up failed "
                                     f"({result.message})", exchange=NAME) from result
            if isinstance(result, BaseException):
                raise result
        sl, tp = cast(list[Order | None], found)  # no exception left among them
        tp = tp if tp is not None and tp.status in live else None
        if sl is None or sl.status not in live:
            if tp is not None and tp.status is OrderStatus.OPEN:
                await self._cancel_leftover(tp)
            raise OutcomeUnknown(f"{NAME}: stop-loss {stop_loss.client_order_id} not found after an unknown "
                                 "outcome", exchange=NAME)
        log.warning("aster.exit_pair.resolved", stop_loss=sl.id, take_profit=tp.id if tp else None)
        return sl, tp

    async def _cancel_leftover(self, order: Order) -> None:
        try:
            await self._cancel(order.symbol, [("orderId", order.id)])
        except OrderNotFound:
            pass
        except ExchangeError as err:  # reduce-only: it cannot open a position; reconciliation sweeps it
            log.error("aster.exit_pair.cancel_failed", order_id=order.id, error=err.message)

    # ------------------------------------------------------------------ account
    async def _positions(self, symbol: str | None) -> list[Position]:
        params: Params = [("symbol", symbol)] if symbol else []
        body = await self._call("GET", "/fapi/v2/positionRisk", params, signed=True, what="positions")
        return read(lambda: parse_positions(body), what="positions")

    async def position(self, symbol: str) -> Position | None:
        return next((p for p in await self._positions(symbol) if p.symbol == symbol), None)

    async def positions(self) -> list[Position]:
        return await self._positions(None)

    async def balance(self) -> Balance:
        body = await self._call("GET", "/fapi/v2/balance", signed=True, what="balance")
        return read(lambda: parse_balance(body, self._margin_asset), what="balance")

    async def order_fee(self, order: Order) -> Decimal | None:
        """Aster's order replies carry no commission: it is read from the trade list (`fills.py`)."""
        return await fill_fee(self._call, self._spec, order, default_asset=self._margin_asset)

    async def aclose(self) -> None:
        await self._leverage.aclose()

    async def ping(self) -> bool:
        try:
            await self._call("GET", "/fapi/v1/ping", what="ping")
        except ExchangeError:
            return False
        return True


def create(credentials: VenueCredentials, http: HttpClientPool, metadata: VenueMetadata | None = None) -> Exchange:
    return AsterExchange(credentials, http, metadata=metadata)
