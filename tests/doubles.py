"""Test doubles of the `Exchange` port: a venue that misbehaves in one chosen way.

Each delegates everything else to the paper venue the app already runs, so positions, fills and
orders stay real and `paper.requests` still lists every order the venue received. Installed in
place of the paper venue with `install(sparky, Double)`.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any, TypeVar

from sparky.exchanges.base import (
    Balance,
    Exchange,
    Order,
    OrderKind,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    SymbolRules,
)
from sparky.exchanges.errors import RateLimited
from sparky.exchanges.paper.adapter import PaperExchange

D = TypeVar("D", bound="Delegating")


class Delegating(Exchange):
    def __init__(self, paper: PaperExchange) -> None:
        self.paper = paper
        self.name = paper.name
        self.capabilities = paper.capabilities

    @property
    def requests(self) -> list[OrderRequest]:
        """Every order the venue received (the paper venue's record)."""
        return self.paper.requests

    def fail(self, operation: str, **options: Any) -> None:
        """The paper venue's failure injection, still available behind the double."""
        self.paper.fail(operation, **options)

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        return await self.paper.symbol_rules(symbol)

    async def last_price(self, symbol: str) -> Decimal:
        return await self.paper.last_price(symbol)

    async def note_price(self, symbol: str, price: Decimal) -> None:
        await self.paper.note_price(symbol, price)

    async def place_order(self, request: OrderRequest) -> Order:
        return await self.paper.place_order(request)

    async def place_exit_pair(self, stop_loss: OrderRequest, take_profit: OrderRequest) -> tuple[Order, Order | None]:
        return await self.paper.place_exit_pair(stop_loss, take_profit)

    async def get_order(self, symbol: str, *, order_id: str | None = None,
                        client_order_id: str | None = None) -> Order | None:
        return await self.paper.get_order(symbol, order_id=order_id, client_order_id=client_order_id)

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        return await self.paper.cancel_order(symbol, order_id)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        return await self.paper.open_orders(symbol)

    async def position(self, symbol: str) -> Position | None:
        return await self.paper.position(symbol)

    async def positions(self) -> list[Position]:
        return await self.paper.positions()

    async def balance(self) -> Balance:
        return await self.paper.balance()


def install(sparky: Any, double: type[D], **options: Any) -> D:
    """Put `double` (wrapping the app's paper venue) where the app finds the paper venue."""
    venue = double(sparky.paper, **options)
    sparky.services.exchanges.add(venue)
    return venue


class FillWithoutPrice(Delegating):
    """Reports a filled market entry without its average price, as a venue's reply to cancelling
    the rest of a partly filled market order can."""

    async def place_order(self, request: OrderRequest) -> Order:
        order = await self.paper.place_order(request)
        if request.kind is OrderKind.MARKET and not request.reduce_only:
            return replace(order, average_price=None, price=None)
        return order


class UnreadableExitReply(Delegating):
    """Places exits but answers with something the adapter cannot read: an error that is no
    `ExchangeError` (a bug at the edge), after the entry has filled."""

    async def place_exit_pair(self, stop_loss: OrderRequest, take_profit: OrderRequest) -> tuple[Order, Order | None]:
        self.paper.requests += [stop_loss, take_profit]
        raise KeyError("orderId")


class ThrottledAfterTheStop(Delegating):
    """Refuses the stop with a rate limit, and then the next `refusals` reads and cancels too:
    the trouble that broke the stop is still there when the position has to be closed."""

    def __init__(self, paper: PaperExchange, *, refusals: int) -> None:
        super().__init__(paper)
        self.left = 0
        self.refusals = refusals
        self.refused: list[str] = []

    def _throttle(self, call: str) -> None:
        if self.left > 0:
            self.left -= 1
            self.refused.append(call)
            raise RateLimited("paper: too many requests", exchange=self.name)

    async def place_exit_pair(self, stop_loss: OrderRequest, take_profit: OrderRequest) -> tuple[Order, Order | None]:
        self.paper.requests += [stop_loss, take_profit]
        self.left = self.refusals
        raise RateLimited("paper: too many requests", exchange=self.name)

    async def get_order(self, symbol: str, *, order_id: str | None = None,
                        client_order_id: str | None = None) -> Order | None:
        self._throttle("get_order")
        return await super().get_order(symbol, order_id=order_id, client_order_id=client_order_id)

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        self._throttle("cancel_order")
        return await super().cancel_order(symbol, order_id)

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        self._throttle("open_orders")
        return await super().open_orders(symbol)

    async def position(self, symbol: str) -> Position | None:
        self._throttle("position")
        return await super().position(symbol)


class CloseReplyUnreadable(Delegating):
    """Refuses nothing, but its reply to a reduce-only market order cannot be read (and the order
    never reaches the book): the emergency close fails with an error nobody expected."""

    async def place_order(self, request: OrderRequest) -> Order:
        if request.kind is OrderKind.MARKET and request.reduce_only:
            self.paper.requests.append(request)
            raise ValueError("unreadable reply")
        return await self.paper.place_order(request)


class LegHeldAsOrder(Delegating):
    """Holds a resting limit entry's stop-loss leg as an order of its own (as some venues do): while
    an entry rests, it lists one reduce-only stop beside it. Records the cancels it receives."""

    LEG = Order("L1", "leg-sl", "BTCUSDT", Side.SELL, OrderKind.STOP, Decimal("0.1"), OrderStatus.OPEN,
                trigger_price=Decimal("25480.0"), reduce_only=True)

    def __init__(self, paper: PaperExchange) -> None:
        super().__init__(paper)
        self.cancelled: list[str] = []

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        resting = await self.paper.open_orders(symbol)
        entries = [o for o in resting if o.kind is OrderKind.LIMIT and not o.reduce_only]
        return [*resting, replace(self.LEG)] if entries else resting

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        self.cancelled.append(order_id)
        if order_id == self.LEG.id:
            return replace(self.LEG, status=OrderStatus.CANCELED)
        return await self.paper.cancel_order(symbol, order_id)


class CountsPositionReads(Delegating):
    """Counts the times the position is read, after each order the venue received."""

    def __init__(self, paper: PaperExchange) -> None:
        super().__init__(paper)
        #: (orders received so far, symbol) per position read
        self.position_reads: list[tuple[int, str]] = []

    async def position(self, symbol: str) -> Position | None:
        self.position_reads.append((len(self.paper.requests), symbol))
        return await super().position(symbol)


class HedgeModeAccount(CountsPositionReads):
    """An account that may hold both sides of a symbol (`capabilities.hedge_mode`)."""

    def __init__(self, paper: PaperExchange) -> None:
        super().__init__(paper)
        self.capabilities = replace(paper.capabilities, hedge_mode=True)
