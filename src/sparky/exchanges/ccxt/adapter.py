"""The generic CCXT adapter: any ccxt id (binanceusdm, bybit, okx, hyperliquid…) behind our port.

ccxt brings its own aiohttp session, signing and reply parsing; this adapter adds what the port
promises on top: symbol mapping and rules (`markets.py`), Decimal formatting and size checks
before sending (`params.py`), client ids on every order and look-ups by them (`lookup.py`),
errors in our hierarchy (`wire.py`), and market orders that come back filled. The client and
the per-venue quirks ccxt leaves to us live in `api.py`. Capabilities are read from the ccxt
class (`has`), never from the venue's name.
Protection: attached SL/TP where ccxt can attach them (`createOrderWithTakeProfitAndStopLoss`),
otherwise reduce-only trigger orders (ccxt routes Binance's to its algo endpoint itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TypeVar

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
    Side,
    SymbolRules,
)
from sparky.exchanges.ccxt.api import (
    ClientFactory,
    client_config,
    default_factory,
    finish_client,
    quirks_for,
    unwire_client_id,
    wire_client_id,
)
from sparky.exchanges.ccxt.candles import CcxtCandles
from sparky.exchanges.ccxt.lookup import OrderFinder, Recent
from sparky.exchanges.ccxt.markets import VenueMarket, dec, find_market, venue_market
from sparky.exchanges.ccxt.params import TRIGGER_KINDS, OrderCall, OrderFormatter
from sparky.exchanges.ccxt.shared import LoadedMarkets, hosts, markets_key
from sparky.exchanges.ccxt.wire import call_translated, order_kind, parse_order, parse_position
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import ExchangeError, InvalidOrder, NotSupported, OrderNotFound, OutcomeUnknown
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.metadata import VenueMetadata

__all__ = ["CcxtExchange", "create"]

log = structlog.get_logger("sparky.exchanges.ccxt")
T = TypeVar("T")
SETTLEMENT_CURRENCIES = ("USDT", "USDC", "USD")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class CcxtExchange(CcxtCandles, Exchange):
    def __init__(
        self,
        credentials: VenueCredentials,
        http: HttpClientPool | None = None,  # unused: ccxt brings its own aiohttp session
        *,
        client_factory: ClientFactory | None = None,
        clock: Callable[[], datetime] = _utcnow,
        fill_checks: int = 3,
        fill_check_delay: float = 0.2,
        metadata: VenueMetadata | None = None,
    ) -> None:
        self.name = credentials.exchange.strip().lower()  # the ccxt id, as alerts name it
        self._market_type = str((credentials.extra or {}).get("market_type") or "swap")
        if self._market_type not in ("swap", "spot"):
            raise ValueError(f"{self.name}: market_type must be swap or spot, not {self._market_type!r}")
        self._client = (client_factory or default_factory)(self.name, client_config(credentials))
        finish_client(self._client, credentials)
        self._quirks = quirks_for(self.name)
        #: the venue's markets, loaded once for every client of the same venue, market type and hosts
        self._metadata = metadata or VenueMetadata()
        self._markets_key = markets_key(self._client, self._market_type)
        #: asked once per position by every price refresh: made once, like the markets key
        self._price_scope = ("ccxt", self.name, self._market_type, hosts(self._client))
        self._finder = OrderFinder(self._client, self._quirks, self._call)
        self._clock = clock
        self._fill_checks = fill_checks
        self._fill_check_delay = fill_check_delay
        self._markets: dict[str, VenueMarket] = {}  # by the caller's symbol and by ccxt symbol
        self._our_ids = Recent()  # wire client id → ours, for ids the venue respells (OKX, Hyperliquid)
        self._prices: dict[str, Decimal] = {}  # last price seen per symbol: min-notional pre-check
        contract = self._market_type == "swap"
        self.capabilities = Capabilities(
            attached_brackets=contract and self._client.has.get("createOrderWithTakeProfitAndStopLoss") is True,
            oco=False,
            reduce_only=contract,
            batch_orders=False,  # ccxt batches Binance stops to the plain endpoint, which refuses them
            hedge_mode=False,
            limit_orders=True,
        )
        self._format = OrderFormatter(self._client, self._quirks, exchange=self.name,
                                      attached_brackets=self.capabilities.attached_brackets)

    # ------------------------------------------------------------------ plumbing
    async def _call(self, awaitable: Awaitable[T], *, places_order: bool = False) -> T:
        return await call_translated(awaitable, exchange=self.name, places_order=places_order)

    async def _market(self, symbol: str) -> VenueMarket:
        market = self._markets.get(symbol)
        if market is None:
            await self._load_markets(symbol)
            raw = find_market(self._client.markets, symbol, self._market_type)
            market = self._markets[symbol] = self._market_of(raw)
        return market

    def _market_of(self, raw: dict) -> VenueMarket:
        """The market of a ccxt symbol (an alert's match, or an order/position the venue listed),
        named by its one spelling: base + quote (`ETHUSDT`), whatever the caller wrote."""
        ccxt_symbol = str(raw.get("symbol"))
        if ccxt_symbol in self._markets:
            return self._markets[ccxt_symbol]
        info = self._client.markets[ccxt_symbol]
        market = venue_market(info, f"{info['base']}{info['quote']}", self._client.precisionMode)
        self._markets[ccxt_symbol] = market
        return market

    def _order(self, raw: dict, market: VenueMarket, client_order_id: str | None = None,
               kind: OrderKind | None = None) -> Order:
        wire = raw.get("clientOrderId")
        cid = client_order_id or self._our_ids.get(wire or "") or unwire_client_id(wire, self._quirks)
        return parse_order(raw, market, client_order_id=cid, now=self._clock(), kind=kind)

    async def _load_markets(self, symbol: str | None = None) -> None:
        """The venue's markets on this client: loaded once for every user's client of the venue
        (`shared.py`), reloaded when `symbol` is not among them (newly listed), at most once a minute."""
        loaded = await self._metadata.get(self._markets_key, self._fetch_markets,
                                          has=lambda markets: symbol is None or markets.lists(symbol, self._market_type))
        loaded.hand_to(self._client)

    async def _fetch_markets(self) -> LoadedMarkets:
        await self._call(self._client.load_markets(reload=True))
        return LoadedMarkets.of(self._client)

    async def warm_up(self) -> None:
        """The venue's markets (one `load_markets()`), which the first signal would wait for."""
        await self._load_markets()

    # ------------------------------------------------------------------ market data
    async def canonical_symbol(self, symbol: str) -> str:
        """Base + quote of the venue's market for `symbol` (`BTCUSDT` for BTCUSDT, BTC/USDT:USDT,
        BTC-USDT…): the spelling TradingView alerts carry and positions are listed under."""
        return (await self._market(symbol)).symbol

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        return (await self._market(symbol)).rules

    async def asset_class(self, symbol: str) -> str:
        """From the market's type (spot, swap, future, option): see `markets.asset_class_of`."""
        return (await self._market(symbol)).asset_class

    async def last_price(self, symbol: str) -> Decimal:
        market = await self._market(symbol)
        ticker = await self._call(self._client.fetch_ticker(market.ccxt_symbol))
        price = dec(ticker.get("last")) or dec(ticker.get("close"))
        if price is None or price <= 0:
            raise InvalidOrder(f"{self.name}: no last price for {symbol}", exchange=self.name)
        self._prices[symbol] = price
        return price

    async def prices(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """One `fetch_tickers` for every symbol where the venue has it, else one `fetch_ticker` each.
        Tickers are public endpoints: ccxt signs none of these requests (`price_scope`)."""
        markets = {(await self._market(symbol)).ccxt_symbol: symbol for symbol in symbols}
        if self._client.has.get("fetchTickers"):
            tickers = await self._call(self._client.fetch_tickers(list(markets)))
        else:
            tickers = {name: await self._call(self._client.fetch_ticker(name)) for name in markets}
        quotes = {}
        for name, ticker in tickers.items():
            if name in markets:
                bid, ask, last = (dec(ticker.get(k)) for k in ("bid", "ask", "last"))
                quote = Quote(markets[name], bid=bid, ask=ask, last=last or dec(ticker.get("close")))
                if any(p is not None and p > 0 for p in (quote.bid, quote.ask, quote.last)):
                    quotes[markets[name]] = quote
        return quotes

    @property
    def price_scope(self) -> Hashable | None:
        """Clients of the same venue, market type and hosts read the same public tickers."""
        return self._price_scope

    async def note_price(self, symbol: str, price: Decimal) -> None:
        self._prices[symbol] = price  # only for the min-notional pre-check of market orders

    # ------------------------------------------------------------------ orders
    async def place_order(self, request: OrderRequest) -> Order:
        market = await self._market(request.symbol)
        call = self._format.order_call(request, market, self._prices.get(request.symbol))
        price = call.price
        if call.order_type == "market" and self._quirks.market_needs_price:
            # the venue fills it as a limit at this price ± ccxt's slippage: a stop or target around
            # its trigger, any other around the market now (never an alert's or an earlier read's price)
            price = call.trigger or await self.last_price(request.symbol)
        if call.wire_client_id != request.client_order_id:
            self._our_ids.remember(call.wire_client_id, request.client_order_id)
        if request.kind in TRIGGER_KINDS:
            self._finder.trigger_client_ids.remember(call.wire_client_id)
        log.info("ccxt.order.sent", exchange=self.name, symbol=market.ccxt_symbol, side=request.side.value,
                 kind=request.kind.value, amount=str(call.amount), client_order_id=request.client_order_id)
        raw = await self._call(self._client.create_order(
            market.ccxt_symbol, call.order_type, request.side.value, float(call.amount),
            None if price is None else float(price), call.params), places_order=True)
        try:  # the order exists from here on: whatever goes wrong reading it is an unknown outcome
            order = await self._settle(raw, request, call, market)
        except OutcomeUnknown:
            raise
        except Exception as err:
            raise OutcomeUnknown(f"{self.name}: order {request.client_order_id} sent, reading it failed "
                                 f"({type(err).__name__}); look it up by client id", exchange=self.name) from err
        log.info("ccxt.order.placed", exchange=self.name, order_id=order.id, status=order.status.value,
                 client_order_id=request.client_order_id)
        return order

    async def _settle(self, raw: dict, request: OrderRequest, call: OrderCall, market: VenueMarket) -> Order:
        """The placed order as we report it: completed from the request where the reply is
        partial (Bybit answers with ids only), filled for market orders, brackets located."""
        if request.kind in TRIGGER_KINDS and raw.get("id"):
            self._finder.trigger_ids.remember(str(raw["id"]))
        order = self._order(raw, market, request.client_order_id, request.kind)
        order = replace(
            order,
            side=request.side,
            quantity=order.quantity or market.to_quantity(call.amount),
            price=order.price or call.price,
            trigger_price=order.trigger_price or call.trigger,
            reduce_only=order.reduce_only or request.reduce_only,
        )
        if request.kind is OrderKind.MARKET and not (order.status is OrderStatus.FILLED and order.average_price):
            order = await self._await_fill(order, market)
        if request.bracket is not None and order.status is OrderStatus.FILLED:
            await self._find_attached(order, market, request.bracket)
        return order

    async def _await_fill(self, order: Order, market: VenueMarket) -> Order:
        """Re-read a market order the reply did not show filled, a bounded number of times."""
        for attempt in range(self._fill_checks):
            if attempt:
                await asyncio.sleep(self._fill_check_delay * attempt)
            try:
                raw = await self._finder.by_id(market.ccxt_symbol, order.id)
            except ExchangeError as err:  # the order exists; a failed read is no reason to stop
                log.warning("ccxt.order.fill_check_failed", exchange=self.name, error=err.message)
                continue
            if raw is None:
                continue
            seen = self._order(raw, market, order.client_order_id, OrderKind.MARKET)
            if seen.status is not OrderStatus.OPEN:
                seen.reduce_only = seen.reduce_only or order.reduce_only
                seen.average_price = seen.average_price or order.average_price  # some reads omit it
                return seen
        log.warning("ccxt.order.fill_unconfirmed", exchange=self.name, order_id=order.id)
        raise OutcomeUnknown(f"{self.name}: market order {order.client_order_id} not confirmed filled; "
                             "look it up by client id", exchange=self.name)

    async def _find_attached(self, order: Order, market: VenueMarket, bracket: Bracket) -> None:
        """Ids of the SL/TP orders the venue created for an attached bracket (best effort: when
        they are not found the executor places its own protection)."""
        try:
            resting = await self._finder.open_orders(market.ccxt_symbol)
        except ExchangeError as err:
            log.warning("ccxt.bracket.lookup_failed", exchange=self.name, error=err.message)
            return
        wanted = {OrderKind.STOP: bracket.stop_loss, OrderKind.TAKE_PROFIT: bracket.take_profit}
        triggers = {kind: self._format.price(market, price) for kind, price in wanted.items() if price is not None}
        for raw in resting:
            kind, trigger = order_kind(raw), dec(raw.get("triggerPrice"))
            if str(raw.get("side")) != order.side.opposite.value or trigger is None or triggers.get(kind) != trigger:
                continue
            if kind is OrderKind.STOP:
                order.stop_loss_order_id = str(raw["id"])
            else:
                order.take_profit_order_id = str(raw["id"])
        if bracket.stop_loss is not None and order.stop_loss_order_id is None:
            log.warning("ccxt.bracket.not_found", exchange=self.name, order_id=order.id)

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order | None:
        market = await self._market(symbol)
        if order_id:
            raw = await self._finder.by_id(market.ccxt_symbol, order_id)
        elif client_order_id:
            raw = await self._finder.by_client_id(market.ccxt_symbol, wire_client_id(client_order_id, self._quirks))
        else:
            raise ValueError("get_order needs an order_id or a client_order_id")
        if raw is None:
            return None
        order = self._order(raw, market, client_order_id)
        if client_order_id:
            await self._find_attached_to_found(order, raw, market)
        return order

    async def _find_attached_to_found(self, order: Order, raw: dict, market: VenueMarket) -> None:
        """An entry found again by client id — its reply was lost, or the server restarted — has
        its attached SL/TP looked up too (the entry names their trigger prices), so the executor
        never places a second stop and target next to them."""
        if not self.capabilities.attached_brackets or order.status is not OrderStatus.FILLED:
            return
        if order.kind not in (OrderKind.MARKET, OrderKind.LIMIT) or order.reduce_only:
            return
        bracket = Bracket(dec(raw.get("stopLossPrice")), dec(raw.get("takeProfitPrice")))
        if bracket.stop_loss is not None or bracket.take_profit is not None:
            await self._find_attached(order, market, bracket)

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        market = await self._market(symbol)
        try:
            raw = await self._finder.cancel(market.ccxt_symbol, order_id)
        except OrderNotFound as err:
            raise OrderNotFound(f"{self.name}: {err.message}", exchange=self.name) from err
        order = self._order(raw, market)
        order.id, order.status = order.id or order_id, OrderStatus.CANCELED  # the venue accepted the cancel
        return order

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        ccxt_symbol = (await self._market(symbol)).ccxt_symbol if symbol else None
        await self._load_markets()
        listed = await self._finder.open_orders(ccxt_symbol)
        return [self._order(raw, self._market_of(raw)) for raw in listed if raw.get("symbol") in self._client.markets]

    # ------------------------------------------------------------------ account
    async def position(self, symbol: str) -> Position | None:
        market = await self._market(symbol)
        if not market.contract:
            return await self._spot_position(market)
        raws = await self._call(self._client.fetch_positions([market.ccxt_symbol]))
        held = [p for r in raws if r.get("symbol") == market.ccxt_symbol and (p := parse_position(r, market))]
        if len(held) > 1:
            raise NotSupported(f"{self.name}: {symbol} is held both long and short (hedge mode)", exchange=self.name)
        return held[0] if held else None

    async def _spot_position(self, market: VenueMarket) -> Position | None:
        """Spot has no positions: a base-currency balance above the minimum reads as a long.
        The venue keeps no entry price for it (0)."""
        balance = await self._call(self._client.fetch_balance())
        base = self._client.markets[market.ccxt_symbol]["base"]
        held = dec((balance.get(base) or {}).get("total")) or Decimal(0)
        if held < market.rules.min_quantity or held <= 0:
            return None
        return Position(market.symbol, Side.BUY, held, Decimal(0))

    async def positions(self) -> list[Position]:
        if self._market_type == "spot":
            return []
        await self._load_markets()
        raws = await self._call(self._client.fetch_positions())
        return [p for r in raws if r.get("symbol") in self._client.markets
                and (p := parse_position(r, self._market_of(r)))]

    async def balance(self) -> Balance:
        raw = await self._call(self._client.fetch_balance())
        for currency in SETTLEMENT_CURRENCIES:
            entry = raw.get(currency)
            if isinstance(entry, dict) and entry.get("total") is not None:
                total = dec(entry.get("total")) or Decimal(0)
                return Balance(currency, total, dec(entry.get("free")) or Decimal(0))
        return Balance("USDT", Decimal(0), Decimal(0))

    async def server_time(self) -> datetime | None:
        if not self._client.has.get("fetchTime"):
            return None
        milliseconds = await self._call(self._client.fetch_time())
        return datetime.fromtimestamp(int(milliseconds) / 1000, UTC)

    async def ping(self) -> bool:
        if not self._client.has.get("fetchTime"):
            return True
        try:
            await self._call(self._client.fetch_time())
        except ExchangeError:
            return False
        return True

    async def aclose(self) -> None:
        await self._client.close()  # ccxt's aiohttp session: always closed


def create(credentials: VenueCredentials, http: HttpClientPool, metadata: VenueMetadata | None = None) -> Exchange:
    return CcxtExchange(credentials, http, metadata=metadata)
