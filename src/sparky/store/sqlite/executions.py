"""The rows an execution writes, as functions of the writer's connection.

`SqliteStore` runs them as jobs on its writer thread: one at a time (`upsert_position`,
`record_close`, ...) or several with the request's final status in ONE job (`finish_execution`),
so a webhook's execution is one savepoint of one group commit and never half-written. Rows are
prepared (ids, times, encoding) on the caller's side, so the job on the writer thread only runs SQL.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from sparky.store.base import (
    CloseWrite,
    ExecutionWrite,
    PositionRecord,
    PositionWrite,
    RequestStatus,
    TradeRecord,
    utcnow,
)
from sparky.store.sqlite import codec

Step = Callable[[sqlite3.Connection], None]


def position_row(position: PositionRecord) -> dict[str, Any]:
    now = utcnow()
    return codec.to_row(replace(position, id=position.id or str(uuid.uuid4()),
                                created_at=position.created_at or now, updated_at=now))


def trade_row(trade: TradeRecord) -> dict[str, Any]:
    return codec.to_row(replace(trade, id=trade.id or str(uuid.uuid4()), created_at=trade.created_at or utcnow()))


def upsert_position(position: PositionRecord) -> Step:
    row = position_row(position)

    def upsert(conn: sqlite3.Connection) -> None:
        conn.execute(codec.UPSERT_POSITION, row)

    return upsert


def record_close(trade: TradeRecord) -> Step:
    """The trade inserted (and counted on its strategy) and its position row deleted."""
    row, key = trade_row(trade), (trade.user_id, trade.exchange, trade.symbol)

    def close(conn: sqlite3.Connection) -> None:
        conn.execute(codec.INSERT_TRADE, row)
        count_on_strategy(conn, trade)
        conn.execute(codec.DELETE_POSITION, key)

    return close


def record_partial_close(trade: TradeRecord, remaining: PositionRecord) -> Step:
    row, position = trade_row(trade), position_row(remaining)

    def close_part(conn: sqlite3.Connection) -> None:
        conn.execute(codec.INSERT_TRADE, row)
        count_on_strategy(conn, trade)
        conn.execute(codec.UPSERT_POSITION, position)

    return close_part


def finish_request(request_id: str, status: RequestStatus, *, error_message: str | None,
                   result: dict[str, Any] | None, http_status: int | None) -> Step:
    """A PENDING request moved to its terminal status (a terminal one stays as it is)."""
    if not RequestStatus(status).is_terminal:
        raise ValueError(f"finishing a request needs a terminal status, not {status!r}")
    params = {
        "id": request_id,
        "status": RequestStatus(status).value,
        "error_message": error_message,
        "result": codec.encode_json(result),
        "http_status": http_status,
        "processed_at": codec.encode_time(utcnow()),
    }

    def finish(conn: sqlite3.Connection) -> None:
        conn.execute(codec.FINISH_REQUEST, params)

    return finish


def steps_of(writes: Sequence[ExecutionWrite]) -> list[Step]:
    steps = []
    for write in writes:
        if isinstance(write, PositionWrite):
            steps.append(upsert_position(write.position))
        elif isinstance(write, CloseWrite):
            steps.append(record_close(write.trade))
        else:
            raise TypeError(f"not an execution write: {type(write).__name__}")
    return steps


def in_order(steps: Sequence[Step]) -> Step:
    """One writer job running `steps` in order: one savepoint, so all of them or none."""

    def run(conn: sqlite3.Connection) -> None:
        for step in steps:
            step(conn)

    return run


def count_on_strategy(conn: sqlite3.Connection, trade: TradeRecord) -> None:
    """The trade just inserted counts on its strategy: one UPDATE in the trade's own write job."""
    if trade.strategy_id is not None:
        conn.execute(codec.COUNT_STRATEGY_TRADE, {"strategy_id": trade.strategy_id, "user_id": trade.user_id,
                                                  "won": int(trade.is_winner)})
