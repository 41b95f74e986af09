"""The `Exchange` port: one async contract every venue adapter implements.

Required methods
    symbol_rules, last_price, place_order, get_order, cancel_order, open_orders,
    position, positions, balance, aclose
Optional methods (guarded by `Capabilities`)
    place_exit_pair   -- capabilities.oco or batch_orders: stop-loss and take-profit in one request
    note_price        -- simulated venues use prices carried by signals; real venues ignore them
Optional methods (every venue may override the default)
    cancel_orders     -- several orders of one symbol cancelled at once: one request where the venue
                         has a batch cancel (Aster), else one cancel per order, all concurrent.
    prepare_entry     -- an entry signal for `symbol` arrived: start (in the background) what its
                         order will need first (Aster: the configured leverage). Default: nothing.
    warm_up           -- what the venue's first order would otherwise wait for (symbol rules, clock
                         offset), loaded ahead in the background when the adapter is built. Default:
                         nothing.
    canonical_symbol  -- an alert's symbol as the venue's own instrument id (EURUSD → EUR_USD on
                         OANDA): one spelling per instrument, so the per-symbol key, the duplicate
                         check, rows and responses all name one position the same way. Idempotent;
                         UnknownSymbol when the venue does not list it. Default: unchanged.
    unit_value_usd    -- US dollars one unit of quantity is worth at a price: what turns an
                         alert's position_size_usd into a quantity and a fill back into dollars.
                         Default: the price (quantities in the base asset, prices in USD or a
                         dollar stablecoin); OANDA converts (its units are the base currency).
    asset_class       -- what kind of instrument `symbol` is, in the dashboard's words (one of
                         ASSET_CLASSES): the `asset_class` of its position and trade rows, by which
                         the dashboard splits charts and filters. Default: `crypto`.
    server_time       -- the venue's clock, where it publishes one (`sparky check` reports the skew
                         of ours against it: signed requests outside the venue's window are
                         refused). Default: None (not published).
    quote_value_usd   -- US dollars one unit of the price's currency is worth: what turns a price
                         difference into dollars of P&L. Default: 1 (prices in USD or a dollar
                         stablecoin); OANDA converts (USD_JPY is priced in yen, EUR_GBP in pounds).
    prices            -- quotes of many symbols in one request where the venue allows it (the
                         background price refresh, monitor/prices.py). Default: `last_price` each.
    price_scope       -- who may share this adapter's quotes: adapters with the same (non-None)
                         scope get the same public prices, so one request serves all their users;
                         such an adapter's `prices` sends no credentials. Default None: the
                         account's own prices (OANDA, Tradier: the account's token reads them).
    candles           -- closed candles of a symbol, oldest first (`exchanges/candles.py`: the
                         interval names, the Candle type). Default: NotSupported.

The executor asks about capabilities, never about venue names. All prices and quantities are
`Decimal`; adapters round nothing behind the executor's back except where the venue demands it.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from sparky.exchanges.candles import Candle
from sparky.exchanges.errors import ExchangeError, InvalidOrder, NotSupported

#: the values of the shared database's `asset_class_type` enum
ASSET_CLASSES = ("crypto", "forex", "stocks", "options", "futures")
#: what a venue that does not say otherwise trades (Aster, paper: crypto pairs priced in dollars)
DEFAULT_ASSET_CLASS = "crypto"


class Side(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY


class OrderKind(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    #: stop-market: becomes a market order when the price reaches `trigger_price`
    STOP = "stop"
    #: take-profit-market: becomes a market order when the price reaches `trigger_price`
    TAKE_PROFIT = "take_profit"


class OrderStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self is not OrderStatus.OPEN


@dataclass(frozen=True)
class Capabilities:
    """What an adapter offers; the executor picks its path from these flags."""

    #: SL/TP can be attached to market and limit entries; the venue places them when it fills.
    attached_brackets: bool = False
    #: SL/TP can be attached to limit entries only (e.g. Tradier OTOCO has no market entry).
    limit_brackets: bool = False
    #: SL/TP can be placed as a linked pair (one fill cancels the other).
    oco: bool = False
    reduce_only: bool = False
    batch_orders: bool = False
    #: the account may hold a long and a short of one symbol at once: a close's fill then does not
    #: prove the symbol flat, and the position is read again after it (`execution/closing.py`)
    hedge_mode: bool = False
    trailing_stop: bool = False
    options: bool = False
    limit_orders: bool = True
    #: Fills are simulated: the venue learns prices from signals (`note_price`).
    simulated: bool = False


@dataclass(frozen=True)
class SymbolRules:
    """Trading rules of one symbol, as the venue states them."""

    symbol: str
    tick_size: Decimal
    step_size: Decimal
    min_quantity: Decimal
    min_notional: Decimal


@dataclass(frozen=True)
class Bracket:
    """Protective prices attached to an entry (absolute prices, already rounded)."""

    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    #: trailing stop distance in pips, where the venue supports it (capabilities.trailing_stop)
    trailing_stop_pips: Decimal | None = None


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: Side
    kind: OrderKind
    quantity: Decimal
    client_order_id: str
    #: limit price (LIMIT only)
    price: Decimal | None = None
    #: trigger price (STOP / TAKE_PROFIT only)
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    #: protection the venue attaches on fill (capabilities.attached_brackets only)
    bracket: Bracket | None = None


@dataclass
class Order:
    id: str
    client_order_id: str
    symbol: str
    side: Side
    kind: OrderKind
    quantity: Decimal
    status: OrderStatus
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False
    filled_quantity: Decimal = Decimal(0)
    average_price: Decimal | None = None
    #: ids of the protective orders the venue created for an attached bracket (once filled)
    stop_loss_order_id: str | None = None
    take_profit_order_id: str | None = None
    #: id of the trailing stop the venue created with the entry (or with its stop-loss)
    trailing_stop_order_id: str | None = None
    #: id of the order cancelled when this one fills (OCO partner)
    linked_order_id: str | None = None
    #: UTC time of the last status change, ISO 8601
    updated_at: str | None = None
    #: what the venue charged for this order's fills (commission and the like; negative for a
    #: rebate), in the account's settlement currency. None when the venue does not report it.
    fee: Decimal | None = None
    #: the profit or loss the venue says this order's fills realised, before fees, in the account's
    #: settlement currency (OANDA's `pl`). None when the venue does not report one.
    realized_pnl: Decimal | None = None


@dataclass(frozen=True)
class Position:
    symbol: str
    side: Side
    quantity: Decimal
    entry_price: Decimal


@dataclass(frozen=True)
class Quote:
    """A symbol's prices as the venue gives them; a venue may leave out what it does not quote."""

    symbol: str
    bid: Decimal | None = None
    ask: Decimal | None = None
    last: Decimal | None = None

    def exit_price(self, side: Side) -> Decimal | None:
        """What a position held on `side` would get now: a long sells at the bid, a short buys at
        the ask; the last trade where the venue quotes no book."""
        book = self.bid if side is Side.BUY else self.ask
        return book if book is not None and book > 0 else (self.last if self.last and self.last > 0 else None)


@dataclass(frozen=True)
class Balance:
    currency: str
    total: Decimal
    available: Decimal
    extra: dict[str, Decimal] = field(default_factory=dict)


class Exchange(ABC):
    """The port. See the module docstring for the required and optional methods."""

    name: str
    capabilities: Capabilities = Capabilities()

    @abstractmethod
    async def symbol_rules(self, symbol: str) -> SymbolRules:
        """Rules of `symbol`; raises UnknownSymbol when the venue does not list it."""

    @abstractmethod
    async def last_price(self, symbol: str) -> Decimal:
        """Latest traded/mark price; raises InvalidOrder when none is known."""

    @abstractmethod
    async def place_order(self, request: OrderRequest) -> Order:
        """Send one order. Market orders return filled (or raise)."""

    @abstractmethod
    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order | None:
        """Look an order up by venue id or client id; None when the venue has no such order."""

    @abstractmethod
    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        """Cancel an open order; raises OrderNotFound when it is not open."""

    @abstractmethod
    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Orders resting on the venue, optionally for one symbol."""

    @abstractmethod
    async def position(self, symbol: str) -> Position | None:
        """The open position in `symbol`, or None when flat."""

    @abstractmethod
    async def positions(self) -> list[Position]:
        """Every open position on the account."""

    @abstractmethod
    async def balance(self) -> Balance:
        """Account balance in the settlement currency."""

    async def cancel_orders(self, symbol: str, order_ids: Sequence[str]) -> dict[str, ExchangeError | None]:
        """Cancel every order in `order_ids` (of `symbol`); by id, None where it was cancelled, else
        what the venue said (OrderNotFound when it is not open). Never raises an ExchangeError: a
        refusal is the answer for that id. Default: one `cancel_order` per id, all at once."""

        async def cancel(order_id: str) -> ExchangeError | None:
            try:
                await self.cancel_order(symbol, order_id)
            except ExchangeError as err:
                return err
            return None

        ids = list(dict.fromkeys(order_ids))
        return dict(zip(ids, await asyncio.gather(*(cancel(oid) for oid in ids)), strict=True))

    def prepare_entry(self, symbol: str) -> None:
        """An entry on `symbol` is coming: start what its order needs first, in the background (the
        adapter keeps the task, and its order waits for it or does the work itself). Never raises."""
        return None

    async def warm_up(self) -> None:
        """Load ahead what the first signal would otherwise wait for (see the module docstring).
        Run in the background; a failure is logged and the first signal loads it as it would have."""
        return None

    async def place_exit_pair(
        self, stop_loss: OrderRequest, take_profit: OrderRequest
    ) -> tuple[Order, Order | None]:
        """Place SL and TP together in one request: linked so one fill cancels the other where
        capabilities.oco, or as one batch where capabilities.batch_orders (then the executor
        cancels the survivor). Raises when the stop-loss was not placed (cancelling a take-profit
        that was); returns (stop, None) when only the take-profit failed."""
        raise NotSupported(f"{self.name} has no OCO orders", exchange=self.name)

    async def canonical_symbol(self, symbol: str) -> str:
        """The venue's own id for `symbol` (see the module docstring). Raises UnknownSymbol when the
        venue does not list it, ExchangeUnavailable / RateLimited when it cannot tell right now."""
        return symbol

    async def unit_value_usd(self, symbol: str, price: Decimal) -> Decimal:
        """US dollars one unit of `symbol`'s quantity is worth when it trades at `price`."""
        return price

    async def order_fee(self, order: Order) -> Decimal | None:
        """What the venue charged for a filled order. Most venues put it on the order (`order.fee`);
        one that reports it apart (Aster's trade list) reads it here, once the fill is confirmed.
        None when unknown, never an error: a fee that cannot be read never fails the order."""
        return order.fee

    async def asset_class(self, symbol: str) -> str:
        """One of ASSET_CLASSES for `symbol` (see the module docstring). Called once a position is
        open: venues answer from what they already know and must not fail for a symbol they trade."""
        return DEFAULT_ASSET_CLASS

    async def quote_value_usd(self, symbol: str, price: Decimal) -> Decimal:
        """US dollars one unit of the currency `symbol` is priced in is worth, `price` being its
        price now (see the module docstring)."""
        return Decimal(1)

    async def prices(self, symbols: Sequence[str]) -> dict[str, Quote]:
        """Quotes of `symbols`, in as few requests as the venue allows. Symbols the venue has no
        price for are left out; an error for the whole request raises. Default: `last_price` of
        each, one after the other (a venue with no batched quote)."""
        quotes = {}
        for symbol in symbols:
            try:
                quotes[symbol] = Quote(symbol, last=await self.last_price(symbol))
            except InvalidOrder:  # no price known for it (UnknownSymbol included): left out
                continue
        return quotes

    @property
    def price_scope(self) -> Hashable | None:
        """See the module docstring: a key shared by adapters whose prices are public, else None."""
        return None

    async def candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """The last `limit` closed candles of `symbol` (the one still forming left out), oldest
        first; `interval` is one of `candles.INTERVALS`, UnsupportedInterval when the venue has not
        got it. Default: NotSupported (a venue with no price history)."""
        raise NotSupported(f"{self.name} has no candles", exchange=self.name)

    async def note_price(self, symbol: str, price: Decimal) -> None:
        """A price seen in a signal. Simulated venues apply it to resting orders first."""
        return None

    async def ping(self) -> bool:
        """Cheap reachability check for /health."""
        return True

    async def server_time(self) -> datetime | None:
        """The venue's clock now (UTC); None where the venue does not publish it."""
        return None

    async def aclose(self) -> None:
        """Release connections; called once at shutdown."""
        return None
