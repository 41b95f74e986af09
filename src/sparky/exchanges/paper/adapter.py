"""The paper venue: a simulated exchange used as the default venue and in tests.

Prices come from signals (`note_price`); each price is applied to resting orders first and then
becomes the last price. Matching, validation and accounting live in `book.PaperBook`; this
module adds the async `Exchange` port, the JSON snapshot and failure injection for tests.

Every method runs synchronously inside its coroutine (no await while state changes), so
coroutines on one event loop see each operation as atomic.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

from sparky.exchanges.base import (
    Balance,
    Capabilities,
    Exchange,
    Order,
    OrderKind,
    OrderRequest,
    Position,
    SymbolRules,
)
from sparky.exchanges.candles import Candle
from sparky.exchanges.errors import ExchangeError, ExchangeUnavailable, NotSupported, OutcomeUnknown
from sparky.exchanges.paper.book import PaperBook
from sparky.exchanges.paper.journal import PaperJournal
from sparky.exchanges.paper.rules import NAME, positive
from sparky.exchanges.symbols import joined

__all__ = ["PaperExchange"]

T = TypeVar("T")

#: operations `fail()` accepts; "stop_loss" fails any attempt to create a STOP order
FAILABLE = frozenset({
    "place_order", "place_exit_pair", "cancel_order", "get_order", "position", "positions",
    "balance", "last_price", "open_orders", "symbol_rules", "stop_loss", "ping",
})
_DECIMAL_FIELDS = ("quantity", "price", "trigger_price", "filled_quantity", "average_price")


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _copy(order: Order) -> Order:
    """What callers get: a copy they may change without touching the book (`Order(**vars())` is
    ~3× cheaper than `dataclasses.replace`, and Order has no `__post_init__` to skip)."""
    return Order(**vars(order))


@dataclass
class _Fault:
    error: ExchangeError
    applied: bool
    remaining: int


class PaperExchange(Exchange):
    name = NAME
    capabilities = Capabilities(
        attached_brackets=True, oco=True, reduce_only=True, limit_orders=True, simulated=True)

    def __init__(
        self,
        *,
        state_path: Path | str | None = None,
        starting_equity: Decimal = Decimal("10000"),
        leverage: Decimal = Decimal("10"),
        fee_rate: Decimal = Decimal("0"),
        rules: dict[str, SymbolRules] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        attached_brackets: bool = True,
    ) -> None:
        if not starting_equity.is_finite() or starting_equity < 0:
            raise ValueError(f"paper: starting_equity must be >= 0, got {starting_equity}")
        if not leverage.is_finite() or leverage <= 0:
            raise ValueError(f"paper: leverage must be > 0, got {leverage}")
        if not fee_rate.is_finite() or not 0 <= fee_rate < 1:
            raise ValueError(f"paper: fee_rate must be in [0, 1), got {fee_rate}")
        if not attached_brackets:  # behave like a venue that needs SL/TP sent after the fill
            self.capabilities = replace(self.capabilities, attached_brackets=False, limit_brackets=True)
        self._book = PaperBook(starting_equity=starting_equity, leverage=leverage,
                               fee_rate=fee_rate, rules=rules or {}, clock=clock)
        self._book.stop_gate = self._stop_gate
        self._faults: dict[str, deque[_Fault]] = {}
        #: every OrderRequest the venue received (place_order, both legs of place_exit_pair),
        #: in order, including rejected ones
        self.requests: list[OrderRequest] = []
        self._journal = PaperJournal(Path(state_path)) if state_path is not None else None
        if self._journal is not None:
            try:
                self._journal.load(self._book)
            except (ValueError, KeyError, TypeError, ArithmeticError) as err:
                raise ValueError(f"paper: cannot read the state in {self._journal.path}: {err!r}") from err

    # ------------------------------------------------------- failure injection
    def fail(
        self, operation: str, *, times: int = 1, error: ExchangeError | None = None,
        applied: bool = False,
    ) -> None:
        """Make the next `times` calls of `operation` raise `error`.

        applied=False: the call raises before doing anything. applied=True: the call takes effect
        and then raises (use OutcomeUnknown). "stop_loss" fails creating any STOP order; for a
        bracket attached to an entry the entry still fills and the bracket is not created (no
        error is raised there; with applied=True the bracket is created normally).
        """
        if operation not in FAILABLE:
            raise ValueError(f"paper: cannot inject failures into {operation!r}")
        if times < 1:
            raise ValueError("paper: times must be >= 1")
        error = error or ExchangeUnavailable("paper: injected failure", exchange=NAME)
        self._faults.setdefault(operation, deque()).append(_Fault(error, applied, times))

    def _take(self, operation: str) -> _Fault | None:
        queue = self._faults.get(operation)
        if not queue:
            return None
        fault = queue[0]
        fault.remaining -= 1
        if fault.remaining <= 0:
            queue.popleft()
        return fault

    def _stop_gate(self) -> bool:
        fault = self._take("stop_loss")
        return fault is None or fault.applied

    def _call(
        self, operations: tuple[str, ...], action: Callable[[], T], *, mutates: bool = False
    ) -> T:
        """Run `action` under the injected faults of `operations`; snapshot after a mutation."""
        late: ExchangeError | None = None
        for operation in operations:
            fault = self._take(operation)
            if fault is not None and not fault.applied:
                raise fault.error
            if fault is not None and late is None:
                late = fault.error
        result = action()  # validates before it changes anything: a raise leaves state alone
        if mutates:
            self._save()
        if late is not None:
            raise late
        return result

    # -------------------------------------------------------------- the port
    async def canonical_symbol(self, symbol: str) -> str:
        """Any symbol trades on paper: one spelling per pair (`EUR/USD`, `EUR_USD` → `EURUSD`)."""
        return joined(symbol)

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        return self._call(("symbol_rules",), lambda: self._book.rules(symbol))

    async def last_price(self, symbol: str) -> Decimal:
        return self._call(("last_price",), lambda: self._book.last_price(symbol))

    async def candles(self, symbol: str, interval: str, limit: int) -> list[Candle]:
        """Paper keeps the last price each signal carried, not a history of them: no candles to give."""
        raise NotSupported("paper: no candles: the paper venue keeps only the last price signals carried, "
                           "not a price history (use a strategy on a real venue's market data)", exchange=NAME)

    async def note_price(self, symbol: str, price: Decimal) -> None:
        if isinstance(price, int | str) and not isinstance(price, bool):
            price = Decimal(price)  # floats are refused: money never goes through binary floats
        positive(price, f"price of {symbol}")
        self._call((), lambda: self._book.note_price(symbol, price), mutates=True)

    async def place_order(self, request: OrderRequest) -> Order:
        self.requests.append(request)
        stop = request.kind is OrderKind.STOP
        operations = ("place_order", "stop_loss") if stop else ("place_order",)
        return _copy(self._call(operations, lambda: self._book.place(request), mutates=True))

    async def place_exit_pair(
        self, stop_loss: OrderRequest, take_profit: OrderRequest
    ) -> tuple[Order, Order]:
        self.requests += [stop_loss, take_profit]
        sl, tp = self._call(("place_exit_pair", "stop_loss"),
                            lambda: self._book.place_pair(stop_loss, take_profit), mutates=True)
        return _copy(sl), _copy(tp)

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order | None:
        order = self._call(
            ("get_order",), lambda: self._book.find(symbol, order_id, client_order_id))
        return None if order is None else _copy(order)

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        return _copy(self._call(
            ("cancel_order",), lambda: self._book.cancel(symbol, order_id), mutates=True))

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        def collect() -> list[Order]:
            books = [self._book.resting.get(symbol, {})] if symbol else self._book.resting.values()
            resting = sorted((o for book in books for o in book.values()), key=lambda o: int(o.id[1:]))
            return [_copy(o) for o in resting]
        return self._call(("open_orders",), collect)

    async def position(self, symbol: str) -> Position | None:
        return self._call(("position",), lambda: self._book.position(symbol))

    async def positions(self) -> list[Position]:
        def collect() -> list[Position]:
            return [p for s in self._book.positions if (p := self._book.position(s)) is not None]
        return self._call(("positions",), collect)

    async def balance(self) -> Balance:
        def compute() -> Balance:
            book = self._book
            total, margin = book.total(), book.margin()
            return Balance("USD", total, total - margin,
                           {"realised_pnl": book.realised, "fees": book.fees, "margin": margin})
        return self._call(("balance",), compute)

    async def ping(self) -> bool:
        return self._call(("ping",), lambda: True)

    async def aclose(self) -> None:
        if self._journal is not None:
            self._journal.close(self._book)

    # ------------------------------------------------------------ persistence
    def _save(self) -> None:
        """Journal what the last mutation changed (see journal.py)."""
        if self._journal is None:
            self._book.dirty_orders.clear()
            self._book.dirty_symbols.clear()
            return
        try:
            self._journal.record(self._book)
        except OSError as err:  # state changed in memory but not on disk: look it up, never resend
            raise OutcomeUnknown(f"paper: could not write {self._journal.path}: {err}", exchange=NAME) from err
