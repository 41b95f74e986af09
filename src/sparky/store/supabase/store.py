"""`SupabaseStore`: the `Store` and `TenantStore` ports on Supabase (supabase-py's async client).

Every call is one PostgREST request (`/rest/v1/<table>`, `/rest/v1/rpc/<fn>`) with the service
role key, which bypasses row-level security. Same semantics as `SqliteStore`, with these notes:
- PostgREST runs each request in its own transaction and has no multi-statement transactions, so
  what must be atomic is a SQL function (migrations/0007): `record_close` (insert the trade,
  delete the position) and `record_webhook_request` (the monthly quota count and the insert under
  a per-user advisory lock, so several servers never overshoot a plan).
- `finish_execution` / `record_execution` are the port's: the rows (an upsert, a `record_close` RPC),
  then the request's status, one request each. Not one transaction, but the status is written last,
  so a failure leaves the request pending for recovery, which finds a recorded trade by its order id.
- A duplicate idempotency key is PostgreSQL's 23505 on `webhook_requests_idempotency`; the id of
  the request that holds the key is read back and raised as `DuplicateRequest`.
- Ids are uuids there: a read for a request or strategy id that is not a uuid finds nothing
  (without a request). A `strategy_id` comes from the webhook and may name anything: on requests,
  positions and trades one that is not a uuid, or names no strategy (23503), is stored as NULL
  (the payload keeps what the alert said) rather than failing to record a signal or a fill.
- Numerics are sent as strings and selected as `col::text` (exact Decimals); times are sent as
  ISO 8601 UTC and come back aware UTC whatever the session's time zone.
- Lists that must be complete (pending requests, positions, secrets, weekly losses) are read a
  page at a time; Supabase caps a reply at `max_rows` (1000 by default).
- Rows without a tie-breaking column (SQLite's rowid) are ordered by (time, id).
- Errors: `SupabaseError` (a `StoreUnavailable` with PostgREST's code), never holding the key,
  secrets or row values (client.py).
- The paper venue's positions and trades are in `paper_positions` / `paper_trades` (paper.py),
  so the dashboard's P&L and `trade_stats` count live trading only.
- AI strategies, decisions, trade log and the AI worker's heartbeat: ai.py.
- option trades on Tradier (`tradier_option_trades`): option_trades.py.
- Users live in auth.users and are managed by the SignalStudio dashboard: `add_local_user`,
  `set_plan` and `list_local_users` raise NotImplementedError.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from postgrest.types import ReturnMethod

from sparky.store.base import (
    DuplicateRequest,
    PositionRecord,
    PriceMark,
    RequestStatus,
    RestingEntryRecord,
    Store,
    TradeRecord,
    WebhookRequestRecord,
    utcnow,
)
from sparky.store.supabase import codec, paper
from sparky.store.supabase.ai import SupabaseAiQueries
from sparky.store.supabase.client import DEFAULT_TIMEOUT, SupabaseConnection, SupabaseError
from sparky.store.supabase.option_trades import SupabaseOptionTradeQueries
from sparky.store.supabase.tenants import SupabaseTenantQueries
from sparky.store.supabase.validation_log import SupabaseValidationLog
from sparky.store.tenants import TenantStore

if TYPE_CHECKING:
    from supabase import AsyncClient

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
MINIMAL = ReturnMethod.minimal


class SupabaseStore(SupabaseTenantQueries, SupabaseAiQueries, SupabaseValidationLog, SupabaseOptionTradeQueries, Store,
                    TenantStore):
    """The store on Supabase. `client`: an AsyncClient to use instead of creating one in `open()`
    (its owner closes it; our timeout and retry settings do not apply to it)."""

    def __init__(
        self,
        url: str,
        service_role_key: str,
        *,
        client: AsyncClient | None = None,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._db = SupabaseConnection(url, service_role_key, client=client, timeout=timeout)

    def __repr__(self) -> str:  # never the key
        return f"SupabaseStore({self._db!r})"

    async def open(self) -> None:
        """Create the client (no request is made; the schema is `sparky migrate`'s job)."""
        await self._db.open()

    async def aclose(self) -> None:
        await self._db.aclose()

    async def ping(self) -> bool:
        try:
            await self._db.run("ping", self._table("webhook_requests").select("id").limit(1))
        except Exception:  # noqa: BLE001 - ping reports, never raises
            return False
        return True

    # webhook_requests

    async def insert_webhook_request(self, record: WebhookRequestRecord) -> None:
        await self._insert_request(codec.webhook_row(record))

    async def _insert_request(self, row: dict[str, Any]) -> None:
        try:
            await self._db.run(
                "insert webhook_requests", self._table("webhook_requests").insert(row, returning=MINIMAL)
            )
        except SupabaseError as err:
            if err.code == UNIQUE_VIOLATION:
                existing = await self._existing_request(row)
                if existing is None:
                    raise
                raise DuplicateRequest(existing) from None
            if err.code == FOREIGN_KEY_VIOLATION and row["strategy_id"] is not None:
                # the strategy was deleted, or never existed: record the request without it
                await self._insert_request({**row, "strategy_id": None})
                return
            raise

    async def finish_webhook_request(
        self,
        request_id: str,
        status: RequestStatus,
        *,
        error_message: str | None,
        result: dict[str, Any] | None,
        http_status: int | None,
    ) -> None:
        if not RequestStatus(status).is_terminal:
            raise ValueError(f"finish_webhook_request needs a terminal status, not {status!r}")
        if not codec.is_uuid(request_id):
            return  # no such row can exist
        changes = {
            "status": RequestStatus(status).value,
            "error_message": error_message,
            "result": codec.encode_json(result),
            "http_status": http_status,
            "processed_at": codec.encode_time(utcnow()),
        }
        query = (
            self._table("webhook_requests")
            .update(changes, returning=MINIMAL)
            .eq("id", request_id)
            .eq("status", RequestStatus.PENDING.value)  # terminal rows stay as they are
        )
        await self._db.run("finish webhook_requests", query)

    async def get_webhook_request(self, request_id: str) -> WebhookRequestRecord | None:
        if not codec.is_uuid(request_id):
            return None
        query = self._select("webhook_requests", codec.SELECT_REQUEST).eq("id", request_id).limit(1)
        rows = await self._rows("get webhook_requests", query)
        return codec.from_row(WebhookRequestRecord, rows[0]) if rows else None

    async def list_webhook_requests(
        self, *, user_id: str | None = None, limit: int = 100
    ) -> list[WebhookRequestRecord]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0: {limit}")
        if limit == 0:
            return []
        query = self._select("webhook_requests", codec.SELECT_REQUEST)
        if user_id is not None:
            query = query.eq("user_id", user_id)
        query = query.order("created_at", desc=True).order("id", desc=True).limit(limit)
        return [codec.from_row(WebhookRequestRecord, r) for r in await self._rows("list webhook_requests", query)]

    async def pending_webhook_requests(self) -> list[WebhookRequestRecord]:
        def query(count: bool) -> Any:
            return (
                self._select("webhook_requests", codec.SELECT_REQUEST, count=count)
                .eq("status", RequestStatus.PENDING.value)
                .order("created_at")
                .order("id")
            )

        rows = await self._all_rows("pending webhook_requests", query)
        return [codec.from_row(WebhookRequestRecord, r) for r in rows]

    async def claim_webhook_request(
        self, request_id: str, owner: str, *, lease_until: datetime, now: datetime
    ) -> bool:
        if not codec.is_uuid(request_id):
            return False  # no such row can exist
        free = ",".join((
            "lease_owner.is.null", f"lease_owner.eq.{codec.logic_value(owner)}",
            "lease_expires_at.is.null", f"lease_expires_at.lte.{codec.logic_value(codec.encode_time(now) or '')}",
        ))  # fmt: skip
        query = (
            self._table("webhook_requests")
            .update({"lease_owner": owner, "lease_expires_at": codec.encode_time(lease_until)})
            .eq("id", request_id)
            .eq("status", RequestStatus.PENDING.value)
            .or_(free)
            .select("id")
        )
        return bool(await self._rows("claim webhook_requests", query))

    async def renew_webhook_leases(
        self, request_ids: Collection[str], owner: str, *, lease_until: datetime
    ) -> set[str]:
        ids = [i for i in request_ids if codec.is_uuid(i)]
        if not ids:
            return set()
        query = (
            self._table("webhook_requests")
            .update({"lease_expires_at": codec.encode_time(lease_until)})
            .in_("id", ids)
            .eq("status", RequestStatus.PENDING.value)
            .eq("lease_owner", owner)
            .select("id")
        )
        return {str(r["id"]) for r in await self._rows("renew webhook_requests leases", query)}

    # positions

    async def get_position(self, user_id: str, exchange: str, symbol: str) -> PositionRecord | None:
        query = (
            self._select(paper.positions_table(exchange), codec.SELECT_POSITION)
            .eq("user_id", user_id)
            .eq("exchange", exchange)
            .eq("symbol", symbol)
            .limit(1)
        )
        rows = await self._rows("get positions", query)
        return codec.from_row(PositionRecord, rows[0]) if rows else None

    async def list_positions(
        self, *, user_id: str | None = None, exchange: str | None = None
    ) -> list[PositionRecord]:
        def query(table: str, count: bool) -> Any:
            q = self._select(table, codec.SELECT_POSITION, count=count)
            if user_id is not None:
                q = q.eq("user_id", user_id)
            if exchange is not None:
                q = q.eq("exchange", exchange)
            return q.order("entry_time").order("id")

        found = []
        for table in paper.position_tables(exchange):
            rows = await self._all_rows(f"list {table}", functools.partial(query, table))
            found += [codec.from_row(PositionRecord, r) for r in rows]
        return sorted(found, key=lambda p: (p.entry_time, p.id or ""))

    async def upsert_position(self, position: PositionRecord) -> None:
        row = codec.position_row(position)
        try:
            await self._upsert_position(row)
        except SupabaseError as err:
            if err.code != FOREIGN_KEY_VIOLATION or row["strategy_id"] is None:
                raise
            # the strategy was deleted, or never existed: a filled position is saved regardless
            await self._upsert_position({**row, "strategy_id": None})

    async def _upsert_position(self, row: dict[str, Any]) -> None:
        table = paper.positions_table(row["exchange"])
        query = self._table(table).upsert(row, on_conflict="user_id,exchange,symbol", returning=MINIMAL)
        await self._db.run(f"upsert {table}", query)

    async def delete_position(self, user_id: str, exchange: str, symbol: str) -> None:
        table = paper.positions_table(exchange)
        query = (
            self._table(table)
            .delete(returning=MINIMAL)
            .eq("user_id", user_id)
            .eq("exchange", exchange)
            .eq("symbol", symbol)
        )
        await self._db.run(f"delete {table}", query)

    async def mark_positions(self, marks: Sequence[PriceMark]) -> int:
        """One RPC (migrations/0022) for the whole cycle, both tables, only rows still as read."""
        rows = codec.mark_rows(marks)
        if not rows:
            return 0
        written = await self._db.run("rpc mark_positions", self._db.client.rpc("mark_positions", {"p_marks": rows}))
        return int(written.data or 0)

    # trades

    async def record_close(self, trade: TradeRecord) -> None:
        """One RPC: insert the trade and delete its position in one transaction. The trade id is
        made here, so a retry after a lost reply inserts nothing and deletes nothing."""
        row = codec.trade_row(
            replace(trade, id=trade.id or str(uuid.uuid4()), created_at=trade.created_at or utcnow())
        )
        rpc = paper.close_rpc(trade.exchange)
        await self._db.run(f"rpc {rpc}", self._db.client.rpc(rpc, {"p_trade": row}))

    async def record_partial_close(self, trade: TradeRecord, remaining: PositionRecord) -> None:
        """One RPC, like record_close: the trade inserted and the position rewritten together, at
        most once per trade id (made here, so a retry after a lost reply changes nothing)."""
        row = codec.trade_row(
            replace(trade, id=trade.id or str(uuid.uuid4()), created_at=trade.created_at or utcnow())
        )
        args = {"p_trade": row, "p_position": codec.position_row(remaining)}
        rpc = paper.partial_close_rpc(trade.exchange)
        await self._db.run(f"rpc {rpc}", self._db.client.rpc(rpc, args))

    async def list_trades(
        self, *, user_id: str | None = None, symbol: str | None = None, limit: int = 100
    ) -> list[TradeRecord]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0: {limit}")
        if limit == 0:
            return []
        found: list[TradeRecord] = []
        for table in paper.TRADE_TABLES:  # the newest `limit` of each, then of both
            query = self._select(table, codec.SELECT_TRADE)
            if user_id is not None:
                query = query.eq("user_id", user_id)
            if symbol is not None:
                query = query.eq("symbol", symbol)
            query = query.order("exit_time", desc=True).order("created_at", desc=True).order("id", desc=True)
            found += [codec.from_row(TradeRecord, r) for r in await self._rows(f"list {table}", query.limit(limit))]
        found.sort(key=lambda t: (t.exit_time, t.created_at or t.exit_time, t.id or ""), reverse=True)
        return found[:limit]

    # resting_entries

    async def get_resting_entry(self, user_id: str, exchange: str, symbol: str) -> RestingEntryRecord | None:
        query = (
            self._select("resting_entries", codec.SELECT_RESTING)
            .eq("user_id", user_id)
            .eq("exchange", exchange)
            .eq("symbol", symbol)
            .limit(1)
        )
        rows = await self._rows("get resting_entries", query)
        return codec.from_row(RestingEntryRecord, rows[0]) if rows else None

    async def list_resting_entries(
        self, *, user_id: str | None = None, exchange: str | None = None
    ) -> list[RestingEntryRecord]:
        def query(count: bool) -> Any:
            q = self._select("resting_entries", codec.SELECT_RESTING, count=count)
            if user_id is not None:
                q = q.eq("user_id", user_id)
            if exchange is not None:
                q = q.eq("exchange", exchange)
            return q.order("created_at").order("id")

        rows = await self._all_rows("list resting_entries", query)
        return [codec.from_row(RestingEntryRecord, r) for r in rows]

    async def put_resting_entry(self, entry: RestingEntryRecord) -> None:
        query = self._table("resting_entries").upsert(
            codec.resting_entry_row(entry), on_conflict="user_id,exchange,symbol", returning=MINIMAL
        )
        await self._db.run("upsert resting_entries", query)

    async def delete_resting_entry(self, entry: RestingEntryRecord) -> None:
        query = (
            self._table("resting_entries")
            .delete(returning=MINIMAL)
            .eq("user_id", entry.user_id)
            .eq("exchange", entry.exchange)
            .eq("symbol", entry.symbol)
            .eq("client_order_id", entry.client_order_id)
        )
        await self._db.run("delete resting_entries", query)
