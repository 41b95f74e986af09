"""The paper venue: a simulated exchange used as the default venue and in tests.

Prices come from signals (`note_price`); each price is applied to resting orders first and then
becomes the last price. Matching, validation and accounting live in `paper_book.PaperBook`; this
module adds the async `Exchange` port, the JSON snapshot and failure injection for tests.

Every method runs synchronously inside its coroutine (no await while state changes), so
coroutines on one event loop see each operation as atomic.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

from sparky.exchanges.base import (
    Balance, Bracket, Capabilities, Exchange, Order, OrderKind, OrderRequest, OrderStatus, Position,
    Side, SymbolRules,
)
from sparky.exchanges.errors import ExchangeError, ExchangeUnavailable, OutcomeUnknown
from sparky.exchanges.paper_book import NAME, PaperBook, positive

__all__ = ["PaperExchange"]

T = TypeVar("T")

#: operations `fail()` accepts; "stop_loss" fails any attempt to create a STOP order
FAILABLE = frozenset({
    "place_order", "place_exit_pair", "cancel_order", "get_order", "position", "positions",
    "balance", "last_price", "open_orders", "symbol_rules", "stop_loss",
})
_DECIMAL_FIELDS = ("quantity", "price", "trigger_price", "filled_quantity", "average_price")


def _utcnow() -> datetime:
    return datetime.now(UTC)


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
    ) -> None:
        if not starting_equity.is_finite() or starting_equity < 0:
            raise ValueError(f"paper: starting_equity must be >= 0, got {starting_equity}")
        if not leverage.is_finite() or leverage <= 0:
            raise ValueError(f"paper: leverage must be > 0, got {leverage}")
        if not fee_rate.is_finite() or not 0 <= fee_rate < 1:
            raise ValueError(f"paper: fee_rate must be in [0, 1), got {fee_rate}")
        self._book = PaperBook(starting_equity=starting_equity, leverage=leverage,
                               fee_rate=fee_rate, rules=rules or {}, clock=clock)
        self._book.stop_gate = self._stop_gate
        self._faults: dict[str, deque[_Fault]] = {}
        #: every OrderRequest the venue received (place_order, both legs of place_exit_pair),
        #: in order, including rejected ones
        self.requests: list[OrderRequest] = []
        self._state_path = Path(state_path) if state_path is not None else None
        if self._state_path is not None and self._state_path.exists():
            try:
                _load(self._book, json.loads(self._state_path.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError, ArithmeticError) as err:
                raise ValueError(
                    f"paper: cannot read the snapshot {self._state_path}: {err!r}") from err

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
    async def symbol_rules(self, symbol: str) -> SymbolRules:
        return self._call(("symbol_rules",), lambda: self._book.rules(symbol))

    async def last_price(self, symbol: str) -> Decimal:
        return self._call(("last_price",), lambda: self._book.last_price(symbol))

    async def note_price(self, symbol: str, price: Decimal) -> None:
        if isinstance(price, int | str) and not isinstance(price, bool):
            price = Decimal(price)  # floats are refused: money never goes through binary floats
        positive(price, f"price of {symbol}")
        self._call((), lambda: self._book.note_price(symbol, price), mutates=True)

    async def place_order(self, request: OrderRequest) -> Order:
        self.requests.append(request)
        stop = request.kind is OrderKind.STOP
        operations = ("place_order", "stop_loss") if stop else ("place_order",)
        return replace(self._call(operations, lambda: self._book.place(request), mutates=True))

    async def place_exit_pair(
        self, stop_loss: OrderRequest, take_profit: OrderRequest
    ) -> tuple[Order, Order]:
        self.requests += [stop_loss, take_profit]
        sl, tp = self._call(("place_exit_pair", "stop_loss"),
                            lambda: self._book.place_pair(stop_loss, take_profit), mutates=True)
        return replace(sl), replace(tp)

    async def get_order(
        self, symbol: str, *, order_id: str | None = None, client_order_id: str | None = None
    ) -> Order | None:
        order = self._call(
            ("get_order",), lambda: self._book.find(symbol, order_id, client_order_id))
        return None if order is None else replace(order)

    async def cancel_order(self, symbol: str, order_id: str) -> Order:
        return replace(self._call(
            ("cancel_order",), lambda: self._book.cancel(symbol, order_id), mutates=True))

    async def open_orders(self, symbol: str | None = None) -> list[Order]:
        def collect() -> list[Order]:
            return [replace(o) for o in self._book.orders.values()
                    if o.status is OrderStatus.OPEN and (symbol is None or o.symbol == symbol)]
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
        return True

    async def aclose(self) -> None:
        self._save()

    # ------------------------------------------------------------ persistence
    def _save(self) -> None:
        """Write the snapshot atomically (temp file in the same directory, fsync, os.replace)."""
        path = self._state_path
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._book.prune()
            data = json.dumps(_dump(self._book), separators=(",", ":"))
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, path)
            except BaseException:
                with suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as err:  # state changed in memory but not on disk: look it up, never resend
            raise OutcomeUnknown(f"paper: could not write {path}: {err}", exchange=NAME) from err


def _s(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _d(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _dump(book: PaperBook) -> dict[str, Any]:
    def order(o: Order) -> dict[str, Any]:
        d = {f.name: _s(getattr(o, f.name)) for f in fields(Order)}
        b = book.brackets.get(o.id)
        d["bracket"] = None if b is None else {
            "stop_loss": _s(b.stop_loss), "take_profit": _s(b.take_profit)}
        return d

    return {
        "version": 1,
        "starting_equity": str(book.starting_equity),
        "realised_pnl": str(book.realised),
        "fees": str(book.fees),
        "next_id": book.next_id,
        "positions": {s: {"quantity": str(q), "entry_price": str(e)}
                      for s, (q, e) in book.positions.items()},
        "last_prices": {s: str(p) for s, p in book.last.items()},
        "derived_rules": {s: {f.name: _s(getattr(r, f.name)) for f in fields(SymbolRules)}
                          for s, r in book.derived.items()},
        "orders": [order(o) for o in book.orders.values()],
    }


def _load(book: PaperBook, data: dict[str, Any]) -> None:
    if data.get("version") != 1:
        raise ValueError(f"unsupported snapshot version {data.get('version')!r}")
    book.starting_equity = Decimal(data["starting_equity"])
    book.realised, book.fees = Decimal(data["realised_pnl"]), Decimal(data["fees"])
    book.next_id = int(data["next_id"])
    book.positions = {s: (Decimal(p["quantity"]), Decimal(p["entry_price"]))
                      for s, p in data["positions"].items()}
    book.last = {s: Decimal(p) for s, p in data["last_prices"].items()}
    book.derived = {s: SymbolRules(r["symbol"], Decimal(r["tick_size"]), Decimal(r["step_size"]),
                                   Decimal(r["min_quantity"]), Decimal(r["min_notional"]))
                    for s, r in data["derived_rules"].items()}
    book.orders, book.brackets, book.by_client, book.reserved = {}, {}, {}, set()
    for raw in data["orders"]:
        raw = dict(raw)
        bracket = raw.pop("bracket", None)
        raw.update({k: _d(raw[k]) for k in _DECIMAL_FIELDS})
        raw.update(side=Side(raw["side"]), kind=OrderKind(raw["kind"]),
                   status=OrderStatus(raw["status"]))
        order = Order(**raw)
        book.orders[order.id] = order
        book.by_client[order.client_order_id] = order.id
        if bracket is not None:
            book.brackets[order.id] = Bracket(_d(bracket["stop_loss"]), _d(bracket["take_profit"]))
            book.reserved |= {f"{order.client_order_id}-sl", f"{order.client_order_id}-tp"}
