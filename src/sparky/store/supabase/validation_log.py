"""The `ValidationLog` half of `SupabaseStore`: `strategy_validation_log` rows over PostgREST
(the table of migrations/0002, row-level security of 0005: the service role writes every user's)."""

from __future__ import annotations

from postgrest.types import ReturnMethod

from sparky.store.supabase import codec
from sparky.store.supabase.client import SupabaseQueries
from sparky.store.validation_log import StrategyValidationRecord, ValidationLog

SELECT_VALIDATION = codec.select_list(StrategyValidationRecord)


class SupabaseValidationLog(SupabaseQueries, ValidationLog):
    async def record_strategy_validation(self, record: StrategyValidationRecord) -> str:
        unset = {name for name in ("id", "created_at") if getattr(record, name) is None}
        row = codec.to_row(record, omit=frozenset(unset))
        if row.get("strategy_id") is not None and not codec.is_uuid(row["strategy_id"]):
            row["strategy_id"] = None  # the column is a uuid; the payload of the request keeps what was sent
        query = self._table("strategy_validation_log").insert(row).select("id")
        rows = await self._rows("insert strategy_validation_log", query)
        return str(rows[0]["id"])

    async def set_validation_trade_executed(self, validation_id: str, executed: bool) -> None:
        query = (self._table("strategy_validation_log")
                 .update({"trade_executed": executed}, returning=ReturnMethod.minimal)
                 .eq("id", validation_id))
        await self._db.run("update strategy_validation_log", query)

    async def list_strategy_validations(self, user_id: str, *, limit: int = 50) -> list[StrategyValidationRecord]:
        query = (self._select("strategy_validation_log", SELECT_VALIDATION).eq("user_id", user_id)
                 .order("created_at", desc=True).order("id").limit(limit))
        rows = await self._rows("list strategy_validation_log", query)
        return [codec.from_row(StrategyValidationRecord, r) for r in rows]
