"""`SqliteStore.mark_positions`: every position's price and unrealized P&L in one write job.

The writer thread runs the job inside its batch transaction, so a cycle's marks commit together.
Each UPDATE names the row it was computed from (id) and its side, quantity and entry price as
read: a row closed, resized or replaced since is not matched, so nothing is written back to it.
Quantities and prices are compared as the codec wrote them (NUMERIC affinity converts the bound
text exactly as it converted the stored value)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from sparky.store.base import PriceMark, encode_time, utcnow
from sparky.store.sqlite.codec import encode_decimal

MARK_POSITION = (
    "UPDATE positions SET current_price = :current_price, unrealized_pnl_usd = :unrealized_pnl_usd,"
    " unrealized_pnl_percent = :unrealized_pnl_percent, last_price_update = :last_price_update,"
    " updated_at = :updated_at"
    " WHERE id = :id AND user_id = :user_id AND exchange = :exchange AND symbol = :symbol AND side = :side"
    " AND quantity = :quantity AND entry_price = :entry_price"
)


def mark_rows(marks: Sequence[PriceMark]) -> list[dict[str, object]]:
    now = encode_time(utcnow())
    return [{
        "id": m.position_id, "user_id": m.user_id, "exchange": m.exchange, "symbol": m.symbol, "side": m.side,
        "quantity": encode_decimal(m.quantity), "entry_price": encode_decimal(m.entry_price),
        "current_price": encode_decimal(m.current_price), "unrealized_pnl_usd": encode_decimal(m.unrealized_pnl_usd),
        "unrealized_pnl_percent": encode_decimal(m.unrealized_pnl_percent),
        "last_price_update": encode_time(m.last_price_update), "updated_at": now,
    } for m in marks]  # fmt: skip


def write_marks(conn: sqlite3.Connection, rows: list[dict[str, object]]) -> int:
    return sum(conn.execute(MARK_POSITION, row).rowcount for row in rows)
