"""Persistence of the paper venue: a snapshot plus an append-only journal of changes.

Each mutation appends one JSON line holding only what it changed (orders, the touched symbols'
position / last price / rules, the balance counters), so the cost of a write does not grow with the
history. Lines are states, not deltas, so replaying one twice is harmless. Every `compact_every`
lines the whole state is written as a new snapshot (atomic replace) and the journal starts over.
Appends reach the kernel before the call returns (a crash of the process loses nothing); the
snapshot written at close is also fsynced. A torn last line (power loss mid-write) is ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import suppress
from dataclasses import fields
from decimal import Decimal
from operator import attrgetter
from pathlib import Path
from typing import IO, Any

from sparky.exchanges.base import Bracket, Order, OrderKind, OrderStatus, Side, SymbolRules
from sparky.exchanges.paper.book import PaperBook
from sparky.private_files import DIR_MODE, open_private

VERSION = 1
_DECIMAL_FIELDS = ("quantity", "price", "trigger_price", "filled_quantity", "average_price", "fee", "realized_pnl")


def _s(value: Any) -> Any:
    return str(value) if isinstance(value, Decimal) else value


def _d(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


#: field names, looked up once: the journal writes an order on every change to it
_ORDER_FIELDS = tuple(f.name for f in fields(Order))
_RULES_FIELDS = tuple(f.name for f in fields(SymbolRules))
_order_values = attrgetter(*_ORDER_FIELDS)


def _dump_order(book: PaperBook, order: Order) -> dict[str, Any]:
    data = {name: str(value) if isinstance(value, Decimal) else value
            for name, value in zip(_ORDER_FIELDS, _order_values(order), strict=True)}
    bracket = book.brackets.get(order.id)
    data["bracket"] = None if bracket is None else {
        "stop_loss": _s(bracket.stop_loss), "take_profit": _s(bracket.take_profit)}
    return data


def _dump_symbol(book: PaperBook, symbol: str) -> dict[str, Any]:
    qty, entry = book.positions.get(symbol, (Decimal(0), Decimal(0)))
    rules = book.derived.get(symbol)
    return {
        "position": {"quantity": str(qty), "entry_price": str(entry)},
        "last": _s(book.last.get(symbol)),
        "rules": None if rules is None else {name: _s(getattr(rules, name)) for name in _RULES_FIELDS},
        "pinned": sorted(book.pinned.get(symbol, ()), key=lambda i: int(i[1:])),
    }


def _counters(book: PaperBook) -> dict[str, Any]:
    return {"version": VERSION, "starting_equity": str(book.starting_equity), "realised_pnl": str(book.realised),
            "fees": str(book.fees), "next_id": book.next_id}


def dump_state(book: PaperBook) -> dict[str, Any]:
    symbols = set(book.positions) | set(book.last) | set(book.derived) | set(book.pinned)
    return {**_counters(book), "symbols": {s: _dump_symbol(book, s) for s in sorted(symbols)},
            "orders": [_dump_order(book, o) for o in book.orders.values()]}


def _apply(book: PaperBook, data: dict[str, Any]) -> None:
    if data.get("version") != VERSION:
        raise ValueError(f"unsupported paper state version {data.get('version')!r}")
    book.starting_equity = Decimal(data["starting_equity"])
    book.realised, book.fees = Decimal(data["realised_pnl"]), Decimal(data["fees"])
    book.next_id = int(data["next_id"])
    for symbol, entry in data["symbols"].items():
        qty = Decimal(entry["position"]["quantity"])
        if qty == 0:
            book.positions.pop(symbol, None)
        else:
            book.positions[symbol] = (qty, Decimal(entry["position"]["entry_price"]))
        if entry["last"] is not None:
            book.last[symbol] = Decimal(entry["last"])
        if (rules := entry["rules"]) is not None:
            book.derived[symbol] = SymbolRules(rules["symbol"], Decimal(rules["tick_size"]),
                                               Decimal(rules["step_size"]), Decimal(rules["min_quantity"]),
                                               Decimal(rules["min_notional"]))
        if "pinned" in entry:  # states written before orders were pinned have none
            book.pinned[symbol] = set(entry["pinned"])
    for raw in data["orders"]:
        raw = dict(raw)
        bracket = raw.pop("bracket", None)
        raw.update({k: _d(raw.get(k)) for k in _DECIMAL_FIELDS})
        raw.update(side=Side(raw["side"]), kind=OrderKind(raw["kind"]), status=OrderStatus(raw["status"]))
        order = Order(**raw)
        book.orders.pop(order.id, None)  # re-insert: the dict keeps placement order by id sequence
        book.orders[order.id] = order
        book.by_client[order.client_order_id] = order.id
        if bracket is not None:
            book.brackets[order.id] = Bracket(_d(bracket["stop_loss"]), _d(bracket["take_profit"]))
            book.reserved |= {f"{order.client_order_id}-sl", f"{order.client_order_id}-tp"}


class PaperJournal:
    def __init__(self, path: Path, *, compact_every: int = 2000) -> None:
        self.path = path
        self.journal_path = path.with_name(path.name + ".journal")
        self._compact_every = compact_every
        self._lines = 0
        self._handle: IO[str] | None = None

    def load(self, book: PaperBook) -> None:
        """Snapshot, then every complete journal line after it."""
        if self.path.exists():
            _apply(book, json.loads(self.path.read_text(encoding="utf-8")))
        if self.journal_path.exists():
            raw = self.journal_path.read_text(encoding="utf-8")
            complete = raw.split("\n")[:-1]  # the text after the last newline is a torn write
            for line in complete:
                _apply(book, json.loads(line))
            self._lines = len(complete)
        book.orders = dict(sorted(book.orders.items(), key=lambda item: int(item[0][1:])))
        book.reindex()
        book.dirty_orders.clear()
        book.dirty_symbols.clear()

    def record(self, book: PaperBook) -> None:
        """Append what the last mutation changed; compact when the journal is long."""
        entry = {**_counters(book),
                 "symbols": {s: _dump_symbol(book, s) for s in book.dirty_symbols},
                 "orders": [_dump_order(book, book.orders[i]) for i in sorted(book.dirty_orders)
                            if i in book.orders]}
        book.dirty_orders.clear()
        book.dirty_symbols.clear()
        if self._handle is None:
            self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            fd = open_private(self.journal_path, os.O_WRONLY | os.O_APPEND)
            self._handle = os.fdopen(fd, "a", encoding="utf-8")  # kept open
        self._handle.write(json.dumps(entry, separators=(",", ":")) + "\n")
        self._handle.flush()
        self._lines += 1
        if self._lines >= self._compact_every:
            self.compact(book)

    def compact(self, book: PaperBook, *, sync: bool = False) -> None:
        """Write the whole state as the snapshot (atomic replace), then start an empty journal."""
        book.prune()
        self.path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # mkstemp makes it 0600, like every file Sparky keeps
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(json.dumps(dump_state(book), separators=(",", ":")))
                if sync:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with suppress(OSError):
                os.unlink(tmp)
            raise
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        # emptied only after the snapshot holds everything it had
        os.close(open_private(self.journal_path, os.O_WRONLY | os.O_TRUNC))
        self._lines = 0

    def close(self, book: PaperBook) -> None:
        self.compact(book, sync=True)
