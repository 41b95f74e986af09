"""The `ValidationLog` half of `SqliteStore`: `strategy_validation_log` rows, as jobs on the
store's writer thread like every other method."""

from __future__ import annotations

import sqlite3
import uuid
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import fields
from typing import TypeVar

from sparky.store.base import encode_time, utcnow
from sparky.store.sqlite.codec import insert_sql, select_sql
from sparky.store.sqlite.columns import ColumnKinds
from sparky.store.validation_log import StrategyValidationRecord, ValidationLog

T = TypeVar("T")

_COLUMNS = tuple(f.name for f in fields(StrategyValidationRecord))
_DECIMALS = frozenset({"price_at_signal", "ml_confidence", "confidence_threshold"})
_TIMES = frozenset({"signal_timestamp", "created_at"})
_JSON = frozenset({"market_context", "feature_scores", "decision_reasons"})
_INSERT = insert_sql("strategy_validation_log", _COLUMNS)
_SELECT = select_sql("strategy_validation_log", _COLUMNS)


_KINDS = ColumnKinds(decimals=_DECIMALS, times=_TIMES, json=_JSON, bools=frozenset({"trade_executed"}))
_encode, _decode = _KINDS.encode, _KINDS.decode


class SqliteValidationLog(ValidationLog):
    @abstractmethod
    async def _call(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T: ...

    async def record_strategy_validation(self, record: StrategyValidationRecord) -> str:
        row = {name: _encode(name, getattr(record, name)) for name in _COLUMNS}
        row["id"] = record.id or str(uuid.uuid4())
        row["created_at"] = row["created_at"] or encode_time(utcnow())
        await self._call(lambda c: c.execute(_INSERT, row), write=True)
        return str(row["id"])

    async def set_validation_trade_executed(self, validation_id: str, executed: bool) -> None:
        sql = "UPDATE strategy_validation_log SET trade_executed = ? WHERE id = ?"
        await self._call(lambda c: c.execute(sql, (int(executed), validation_id)), write=True)

    async def list_strategy_validations(self, user_id: str, *, limit: int = 50) -> list[StrategyValidationRecord]:
        sql = f"{_SELECT} WHERE user_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?"

        def read(conn: sqlite3.Connection) -> list[StrategyValidationRecord]:
            rows = conn.execute(sql, (user_id, limit)).fetchall()
            return [StrategyValidationRecord(**{n: _decode(n, r[n]) for n in _COLUMNS}) for r in rows]

        return await self._call(read, write=False)
