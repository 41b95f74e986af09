"""The `OptionTradeStore` half of `SqliteStore`: the `tradier_option_trades` table, as jobs on the
store's writer thread like every other method."""

from __future__ import annotations

import sqlite3
import uuid
from abc import abstractmethod
from collections.abc import Callable, Collection
from dataclasses import fields, replace
from typing import Any, TypeVar

from sparky.store.base import encode_time, utcnow
from sparky.store.option_trades import OptionTradeRecord, OptionTradeStore, check_changes, check_option_trade
from sparky.store.sqlite.codec import insert_sql, select_sql
from sparky.store.sqlite.columns import ColumnKinds

T = TypeVar("T")

_COLUMNS = tuple(f.name for f in fields(OptionTradeRecord))
_DECIMALS = frozenset({
    "strike_price", "quantity_contracts", "entry_limit_price", "tp_limit_price", "sl_stop_price",
    "sl_limit_price", "cost_usd", "pnl_usd", "pnl_percent",
})  # fmt: skip
_TIMES = frozenset({"created_at", "updated_at"})
_JSON = frozenset({"entry_order", "tp_leg", "sl_leg", "time_exit_order", "config_snapshot", "extra_metadata"})
_SELECT = select_sql("tradier_option_trades", _COLUMNS)
_INSERT = insert_sql("tradier_option_trades", _COLUMNS)


_KINDS = ColumnKinds(decimals=_DECIMALS, times=_TIMES, json=_JSON, dates=frozenset({"expiration_date"}))
_encode = _KINDS.encode


def _record(row: sqlite3.Row) -> OptionTradeRecord:
    return _KINDS.record(OptionTradeRecord, row)


def _get(conn: sqlite3.Connection, trade_id: str) -> OptionTradeRecord | None:
    row = conn.execute(f"{_SELECT} WHERE id = ?", (trade_id,)).fetchone()
    return None if row is None else _record(row)


class SqliteOptionTrades(OptionTradeStore):
    """`OptionTradeStore` on `SqliteStore`'s connection: mixed into `SqliteStore`, which has `_call`."""

    @abstractmethod
    async def _call(self, work: Callable[[sqlite3.Connection], T], *, write: bool) -> T: ...

    async def add_option_trade(self, row: OptionTradeRecord) -> OptionTradeRecord:
        check_option_trade(row)
        now = utcnow()
        stored = replace(row, id=row.id or str(uuid.uuid4()), created_at=row.created_at or now, updated_at=now)
        values = {n: _encode(n, getattr(stored, n)) for n in _COLUMNS}

        def add(conn: sqlite3.Connection) -> OptionTradeRecord:
            try:
                conn.execute(_INSERT, values)
            except sqlite3.IntegrityError as err:
                raise ValueError(f"tradier_option_trades: {err}") from None
            found = _get(conn, values["id"])
            assert found is not None
            return found

        return await self._call(add, write=True)

    async def option_trades(
        self,
        *,
        user_id: str | None = None,
        statuses: Collection[str] | None = None,
        underlying: str | None = None,
        option_symbol: str | None = None,
    ) -> list[OptionTradeRecord]:
        conditions: list[str] = []
        args: list[Any] = []
        for column, value in (("user_id", user_id), ("underlying_symbol", underlying),
                              ("option_symbol", option_symbol)):  # fmt: skip
            if value is not None:
                conditions.append(f"{column} = ?")
                args.append(value)
        if statuses is not None:
            wanted = list(statuses)
            if not wanted:
                return []
            conditions.append(f"status IN ({', '.join('?' for _ in wanted)})")
            args.extend(wanted)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        sql = f"{_SELECT}{where} ORDER BY created_at, id"
        return await self._call(lambda c: [_record(r) for r in c.execute(sql, args)], write=False)

    async def update_option_trade(self, trade_id: str, **changes: Any) -> OptionTradeRecord | None:
        check_changes(changes)
        values = {n: _encode(n, v) for n, v in changes.items()}
        values["updated_at"] = encode_time(utcnow())
        assignments = ", ".join(f"{n} = :{n}" for n in values)  # names checked against the record's fields
        sql = f"UPDATE tradier_option_trades SET {assignments} WHERE id = :_id"

        def update(conn: sqlite3.Connection) -> OptionTradeRecord | None:
            try:
                conn.execute(sql, {**values, "_id": trade_id})
            except sqlite3.IntegrityError as err:
                raise ValueError(f"tradier_option_trades: {err}") from None
            return _get(conn, trade_id)

        return await self._call(update, write=True)
