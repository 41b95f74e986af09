"""The `AiStore` half of `SqliteStore`: AI strategies, decisions, the trade log and the worker's
heartbeat, as jobs on the store's writer thread like every other method (tenants.py)."""

from __future__ import annotations

import sqlite3
import uuid
from abc import abstractmethod
from collections.abc import Callable, Collection
from dataclasses import fields, replace
from typing import Any, TypeVar

from sparky.store.ai import (
    AiDecisionRecord,
    AiStore,
    AiStrategyRecord,
    AiTradeLogRecord,
    AiWorkerHeartbeat,
    check_confidence,
    check_heartbeat,
    check_status,
    check_strategy,
)
from sparky.store.base import encode_time, utcnow
from sparky.store.sqlite.codec import insert_sql, select_sql
from sparky.store.sqlite.columns import ColumnKinds

T = TypeVar("T")

_TABLES: dict[type, str] = {
    AiStrategyRecord: "ai_strategies",
    AiDecisionRecord: "ai_trade_decisions",
    AiTradeLogRecord: "ai_trade_log",
    AiWorkerHeartbeat: "ai_worker_heartbeats",
}
_DECIMALS = frozenset({
    "max_drawdown_percent", "target_sharpe", "performance_fee_percent", "copy_override_percent",
    "min_position_size_usd", "max_position_size_usd", "confidence_final", "pnl_1h", "pnl_24h",
    "max_favorable_excursion", "max_adverse_excursion", "confidence_score", "size_usd", "actual_pnl",
})  # fmt: skip
_TIMES = frozenset({"created_at", "updated_at", "decided_at", "last_cycle_at"})
_JSON = frozenset({
    "target_assets", "market_snapshot", "orderbook_snapshot", "onchain_snapshot", "technical_indicators",
    "portfolio_state", "model_versions", "raw_responses", "parsed_decision", "decision_json", "webhook_response",
})  # fmt: skip
_BOOLS = frozenset({"is_prop_allocation", "is_paper_trading", "is_public_leader", "verified_badge", "signal_sent"})
#: computed by the table (a generated column): never written
_READ_ONLY = frozenset({"outcome_label"})


def _columns(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


_KINDS = ColumnKinds(decimals=_DECIMALS, times=_TIMES, json=_JSON, bools=_BOOLS)
_encode, _record = _KINDS.encode, _KINDS.record


def _row(record: Any) -> dict[str, Any]:
    return {n: _encode(n, getattr(record, n)) for n in _columns(type(record)) if n not in _READ_ONLY}


def _select(cls: type) -> str:
    return select_sql(_TABLES[cls], _columns(cls))


_STRATEGY_SQL = _select(AiStrategyRecord)
_HEARTBEAT_COLUMNS = _columns(AiWorkerHeartbeat)
_UPSERT_HEARTBEAT = (
    f"INSERT INTO ai_worker_heartbeats ({', '.join(_HEARTBEAT_COLUMNS)}, updated_at)"
    f" VALUES ({', '.join(':' + c for c in _HEARTBEAT_COLUMNS)}, :updated_at)"
    " ON CONFLICT (worker_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in (*_HEARTBEAT_COLUMNS[1:], "updated_at"))
)


def _insert_checked(conn: sqlite3.Connection, table: str, row: dict[str, Any], what: str) -> None:
    try:
        conn.execute(insert_sql(table, tuple(row)), row)
    except sqlite3.IntegrityError as err:  # the strategy it names is missing, or a CHECK refused it
        text = str(err)
        if "FOREIGN KEY" in text:
            raise ValueError(f"{what}: no AI strategy with that id") from None
        raise ValueError(f"{what}: {text}") from None


class SqliteAi(AiStore):
    """`AiStore` on `SqliteStore`'s connection: mixed into `SqliteStore`, which has `_call`."""

    @abstractmethod
    async def _call(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T: ...

    async def add_ai_strategy(self, strategy: AiStrategyRecord) -> AiStrategyRecord:
        check_strategy(strategy)
        now = utcnow()
        stored = replace(strategy, id=strategy.id or str(uuid.uuid4()), created_at=strategy.created_at or now,
                         updated_at=now)
        row = _row(stored)

        def add(conn: sqlite3.Connection) -> AiStrategyRecord:
            _insert_checked(conn, "ai_strategies", row, "ai_strategies")
            return _record(AiStrategyRecord, conn.execute(f"{_STRATEGY_SQL} WHERE id = ?", (row["id"],)).fetchone())

        return await self._call(add, write=True)

    async def get_ai_strategy(self, strategy_id: str) -> AiStrategyRecord | None:
        def get(conn: sqlite3.Connection) -> AiStrategyRecord | None:
            row = conn.execute(f"{_STRATEGY_SQL} WHERE id = ?", (strategy_id,)).fetchone()
            return None if row is None else _record(AiStrategyRecord, row)

        return await self._call(get, write=False)

    async def list_ai_strategies(
        self, *, user_id: str | None = None, statuses: Collection[str] | None = None
    ) -> list[AiStrategyRecord]:
        conditions, args = [], []
        if user_id is not None:
            conditions.append("user_id = ?")
            args.append(user_id)
        if statuses is not None:
            wanted = list(statuses)
            if not wanted:
                return []
            conditions.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"{_STRATEGY_SQL}{where} ORDER BY created_at, id"
        return await self._call(lambda c: [_record(AiStrategyRecord, r) for r in c.execute(sql, args)], write=False)

    async def set_ai_strategy_status(self, strategy_id: str, status: str) -> AiStrategyRecord | None:
        check_status(status)
        args = (status, encode_time(utcnow()), strategy_id)

        def set_(conn: sqlite3.Connection) -> AiStrategyRecord | None:
            conn.execute("UPDATE ai_strategies SET status = ?, updated_at = ? WHERE id = ?", args)
            row = conn.execute(f"{_STRATEGY_SQL} WHERE id = ?", (strategy_id,)).fetchone()
            return None if row is None else _record(AiStrategyRecord, row)

        return await self._call(set_, write=True)

    async def record_ai_decision(self, decision: AiDecisionRecord) -> AiDecisionRecord:
        check_confidence("confidence_final", decision.confidence_final)
        now = utcnow()
        stored = replace(decision, id=decision.id or str(uuid.uuid4()), decided_at=decision.decided_at or now,
                         created_at=decision.created_at or now)
        row = _row(stored)
        sql = f"{_select(AiDecisionRecord)} WHERE id = ?"

        def record(conn: sqlite3.Connection) -> AiDecisionRecord:
            _insert_checked(conn, "ai_trade_decisions", row, "ai_trade_decisions")
            return _record(AiDecisionRecord, conn.execute(sql, (row["id"],)).fetchone())

        return await self._call(record, write=True)

    async def record_ai_trade_log(self, entry: AiTradeLogRecord) -> AiTradeLogRecord:
        check_confidence("confidence_score", entry.confidence_score)
        stored = replace(entry, id=entry.id or str(uuid.uuid4()), created_at=entry.created_at or utcnow())
        row = _row(stored)
        sql = f"{_select(AiTradeLogRecord)} WHERE id = ?"

        def record(conn: sqlite3.Connection) -> AiTradeLogRecord:
            _insert_checked(conn, "ai_trade_log", row, "ai_trade_log")
            return _record(AiTradeLogRecord, conn.execute(sql, (row["id"],)).fetchone())

        return await self._call(record, write=True)

    async def record_ai_worker_heartbeat(self, heartbeat: AiWorkerHeartbeat) -> None:
        check_heartbeat(heartbeat)
        row = {**_row(heartbeat), "updated_at": encode_time(utcnow())}
        await self._call(lambda c: c.execute(_UPSERT_HEARTBEAT, row), write=True)

    async def ai_worker_heartbeats(self) -> list[AiWorkerHeartbeat]:
        sql = f"{_select(AiWorkerHeartbeat)} ORDER BY last_cycle_at DESC, worker_id"
        return await self._call(lambda c: [_record(AiWorkerHeartbeat, r) for r in c.execute(sql)], write=False)
