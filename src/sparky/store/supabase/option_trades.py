"""The `OptionTradeStore` half of `SupabaseStore`: the dashboard's `tradier_option_trades` table
(migrations/0002, `user_id` from 0003), one PostgREST request per call. Ids are uuids there: an id
that is not one names nothing."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sparky.store.base import utcnow
from sparky.store.option_trades import OptionTradeRecord, OptionTradeStore, check_changes, check_option_trade
from sparky.store.supabase import codec
from sparky.store.supabase.client import SupabaseError, SupabaseQueries

TABLE = "tradier_option_trades"
CHECK_VIOLATION = "23514"
SELECT_OPTION_TRADE = codec.select_list(OptionTradeRecord)


class SupabaseOptionTradeQueries(SupabaseQueries, OptionTradeStore):
    async def _returning(self, what: str, query: Any) -> list[dict[str, Any]]:
        try:
            return await self._rows(what, query)
        except SupabaseError as err:
            if err.code == CHECK_VIOLATION:
                raise ValueError(f"{TABLE}: a value is out of range ({err})") from None
            raise

    async def add_option_trade(self, row: OptionTradeRecord) -> OptionTradeRecord:
        check_option_trade(row)
        # id and times the database fills in (updated_at by the trigger of migrations/0006)
        unset = frozenset(n for n in ("id", "created_at") if getattr(row, n) is None) | {"updated_at"}
        query = self._table(TABLE).insert(codec.to_row(row, omit=unset)).select(SELECT_OPTION_TRADE)
        rows = await self._returning(f"insert {TABLE}", query)
        return codec.from_row(OptionTradeRecord, rows[0])

    async def option_trades(
        self,
        *,
        user_id: str | None = None,
        statuses: Collection[str] | None = None,
        underlying: str | None = None,
        option_symbol: str | None = None,
    ) -> list[OptionTradeRecord]:
        if statuses is not None and not statuses:
            return []

        def query(count: bool) -> Any:
            q = self._select(TABLE, SELECT_OPTION_TRADE, count=count)
            for column, value in (("user_id", user_id), ("underlying_symbol", underlying),
                                  ("option_symbol", option_symbol)):  # fmt: skip
                if value is not None:
                    q = q.eq(column, value)
            if statuses is not None:
                q = q.in_("status", list(statuses))
            return q.order("created_at", nullsfirst=True).order("id")

        rows = await self._all_rows(f"list {TABLE}", query)
        return [codec.from_row(OptionTradeRecord, r) for r in rows]

    async def update_option_trade(self, trade_id: str, **changes: Any) -> OptionTradeRecord | None:
        """One PATCH; updated_at is sent as well as stamped by the table's trigger (migrations/0006)."""
        check_changes(changes)
        if not codec.is_uuid(trade_id):
            return None
        body = {n: codec.encode_value(n, v) for n, v in changes.items()}
        body["updated_at"] = codec.encode_time(utcnow())
        query = self._table(TABLE).update(body).eq("id", trade_id).select(SELECT_OPTION_TRADE)
        rows = await self._returning(f"update {TABLE}", query)
        return codec.from_row(OptionTradeRecord, rows[0]) if rows else None
