"""The `TenantStore` half of `SupabaseStore`: secrets, credentials, plans, quota, limits, strategies,
notifications, on the tables the SignalStudio dashboard writes (original-sparky.md §3, §4, §6)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from postgrest.types import CountMethod, ReturnMethod

from sparky.store.base import DuplicateRequest, RequestStatus, WebhookRequestRecord
from sparky.store.supabase import codec, paper
from sparky.store.supabase.client import SupabaseError, SupabaseQueries
from sparky.store.tenants import (
    DEFAULT_PLAN_LIMITS,
    CredentialRecord,
    LocalUser,
    NotificationRecord,
    QuotaExceeded,
    StrategyRecord,
    TradeSettings,
    WeeklyTradeStats,
    is_digest,
    month_bounds,
    secret_digest,
)

log = structlog.get_logger("sparky.store.supabase")

MINIMAL = ReturnMethod.minimal
FUNCTION_NOT_FOUND = "PGRST202"
UNIQUE_VIOLATION = "23505"
_PLANS = {name.lower(): name for name in DEFAULT_PLAN_LIMITS}
#: statuses the monthly quota leaves out (RequestStatus.counts_toward_quota)
NOT_COUNTED = [status.value for status in RequestStatus if not status.counts_toward_quota]
_DASHBOARD = (
    "on Supabase, users live in auth.users and their plans in subscriptions: manage them in the "
    "SignalStudio dashboard (sparky users … is for the embedded SQLite store)"
)


def _plan_name(value: Any) -> str:
    """The plan as DEFAULT_PLAN_LIMITS spells it ('pro ' -> 'Pro'); other names as they are."""
    if not isinstance(value, str) or not value.strip():
        return "Free"
    return _PLANS.get(value.strip().lower(), value.strip())


class SupabaseTenantQueries(SupabaseQueries):
    #: warned once that the database lacks find_webhook_secret_owners (migrations/0016)
    _warned_secret_lookup = False

    # secrets and credentials

    async def webhook_secret_owners(self) -> dict[str, str]:
        def query(count: bool) -> Any:
            return (
                self._select("bot_credentials", "user_id,webhook_secret", count=count)
                .eq("exchange", "webhook")
                .eq("environment", "production")
                .not_.is_("webhook_secret", None)
                .order("id")
            )

        owners: dict[str, str] = {}
        ambiguous: set[str] = set()
        for row in await self._all_rows("list webhook secrets", query):
            stored, user_id = row.get("webhook_secret"), row.get("user_id")
            if not stored or not user_id:
                continue
            digest = stored if is_digest(stored) else secret_digest(stored)
            if owners.get(digest, user_id) != user_id:
                ambiguous.add(digest)
            owners[digest] = str(user_id)
        for digest in ambiguous:  # one secret, two users: it authenticates nobody
            del owners[digest]
            log.warning("store.webhook_secret_shared", users=2)
        return owners

    async def find_webhook_secret_owner(self, secret: str) -> str | None:
        """One POST to `rpc/find_webhook_secret_owners` (migrations/0016), the secret in its body:
        never in a URL, which request logs keep. A database without that function is asked for
        the secret's digest only: a plain secret the dashboard stored since the last refresh is
        then found by the next one (`SECRET_REFRESH_SEC`)."""
        if not secret:
            return None
        try:
            response = await self._db.run(
                "rpc find_webhook_secret_owners",
                self._db.client.rpc("find_webhook_secret_owners", {"p_secret": secret}),
                secrets=(secret,),
            )
            users = {str(row["user_id"]) for row in response.data or [] if row.get("user_id")}
        except SupabaseError as err:
            if err.code != FUNCTION_NOT_FOUND:
                raise
            users = await self._owners_of_digest(secret_digest(secret))
        if len(users) > 1:
            log.warning("store.webhook_secret_shared", users=len(users))
            return None
        return users.pop() if users else None

    async def _owners_of_digest(self, digest: str) -> set[str]:
        """Users whose stored secret is this digest (`sparky users add` stores digests)."""
        if not self._warned_secret_lookup:
            self._warned_secret_lookup = True
            log.warning("store.secret_lookup_by_digest_only",
                        hint="run sparky migrate: find_webhook_secret_owners is missing")
        query = (
            self._select("bot_credentials", "user_id")
            .eq("exchange", "webhook")
            .eq("environment", "production")
            .eq("webhook_secret", digest)
            .limit(10)
        )
        rows = await self._rows("find webhook secret digest", query)
        return {str(row["user_id"]) for row in rows if row.get("user_id")}

    async def get_credentials(
        self, user_id: str, exchange: str, environment: str = "production"
    ) -> CredentialRecord | None:
        query = (
            self._select("bot_credentials", codec.SELECT_CREDENTIAL)
            .eq("user_id", user_id)
            .eq("exchange", exchange)
            .eq("environment", environment)
            .limit(1)
        )
        rows = await self._rows("get bot_credentials", query)
        return codec.from_row(CredentialRecord, rows[0]) if rows else None

    async def user_exists(self, user_id: str) -> bool:
        """Asked of Supabase Auth (`GET /auth/v1/admin/users/<id>` with the service role key):
        users live in auth.users, which PostgREST does not serve."""
        from pydantic import ValidationError
        from supabase_auth.errors import AuthApiError, AuthError

        try:
            await self._db.client.auth.admin.get_user_by_id(user_id)
        except ValidationError:  # answered 200 with a user shaped unlike supabase-py expects: it exists
            return True
        except AuthApiError as err:
            if err.status == 404:
                return False
            raise SupabaseError(f"Supabase auth get user failed: HTTP {err.status}", code=str(err.status)) from None
        except (AuthError, ValueError) as err:  # unreachable, timed out, an unreadable reply
            raise SupabaseError(f"Supabase auth get user failed: {type(err).__name__}") from None
        return True

    async def upsert_credentials(self, record: CredentialRecord) -> None:
        row = codec.credential_row(record)
        secrets = [v for v in (record.api_key, record.api_secret, record.passphrase, record.webhook_secret) if v]
        query = self._table("bot_credentials").upsert(
            row, on_conflict="user_id,exchange,environment", returning=MINIMAL
        )
        await self._db.run("upsert bot_credentials", query, secrets=secrets)

    # plans and the monthly quota

    async def subscription_plan(self, user_id: str) -> str:
        try:
            response = await self._db.run(
                "rpc get_user_subscription_plan_safe",
                self._db.client.rpc("get_user_subscription_plan_safe", {"p_user_id": user_id}),
            )
            return _plan_name(response.data)
        except SupabaseError as err:
            if err.code != FUNCTION_NOT_FOUND:
                raise
        # a database without migration 0006: the original's fallback, the active subscription row
        query = (
            self._select("subscriptions", "plan")
            .eq("user_id", user_id)
            .eq("status", "active")
            .order("created_at", desc=True)
            .limit(1)
        )
        rows = await self._rows("get subscriptions", query)
        return _plan_name(rows[0]["plan"] if rows else None)

    async def record_counted_webhook_request(self, record: Any, *, monthly_limit: int | None) -> int:
        """One RPC (`record_webhook_request`, migrations/0007, counting as 0015 does): under a
        per-user advisory lock it answers duplicate, or quota exceeded, or inserts and returns the
        count with this row."""
        if not isinstance(record, WebhookRequestRecord):
            raise TypeError(f"expected a WebhookRequestRecord, not {type(record).__name__}")
        if not RequestStatus(record.status).counts_toward_quota:
            raise ValueError(f"a {record.status} row is never counted (use insert_webhook_request)")
        row = codec.webhook_row(record)
        params = {"p_row": row, "p_monthly_limit": monthly_limit}
        try:
            response = await self._db.run(
                "rpc record_webhook_request", self._db.client.rpc("record_webhook_request", params)
            )
        except SupabaseError as err:
            existing = await self._existing_request(row) if err.code == UNIQUE_VIOLATION else None
            if existing is None:
                raise
            raise DuplicateRequest(existing) from None
        reply = response.data if isinstance(response.data, dict) else {}
        outcome = reply.get("outcome")
        if outcome == "recorded":
            return int(reply["current_count"])
        if outcome == "quota_exceeded":
            raise QuotaExceeded(int(reply["current_count"]), int(reply["monthly_limit"]))
        if outcome == "duplicate":
            raise DuplicateRequest(str(reply["existing_id"]))
        raise SupabaseError(f"rpc record_webhook_request: unexpected reply {str(outcome)[:40]!r}")

    async def month_request_count(self, user_id: str, now: datetime) -> int:
        """The count `record_webhook_request` (migrations/0015) makes, by a HEAD request."""
        start, end = month_bounds(now)
        query = (
            self._table("webhook_requests").select("id", count=CountMethod.exact, head=True)
            .eq("user_id", user_id)
            .gte("created_at", codec.encode_time(start))
            .lt("created_at", codec.encode_time(end))
            .not_.in_("status", NOT_COUNTED)
        )
        response = await self._db.run("count month webhook_requests", query)
        return int(response.count or 0)

    # risk limits

    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None:
        query = (
            self._select("trade_settings_exchange", codec.SELECT_SETTINGS)
            .eq("user_id", user_id)
            .eq("exchange", exchange)
            .limit(1)
        )
        rows = await self._rows("get trade_settings_exchange", query)
        return codec.from_row(TradeSettings, rows[0]) if rows else None

    async def upsert_trade_settings(self, settings: TradeSettings) -> None:
        query = self._table("trade_settings_exchange").upsert(
            codec.settings_row(settings), on_conflict="user_id,exchange", returning=MINIMAL
        )
        await self._db.run("upsert trade_settings_exchange", query)

    async def weekly_trade_stats(self, user_id: str, exchange: str, since: datetime) -> WeeklyTradeStats:
        start = codec.encode_time(since)

        def losses(count: bool) -> Any:
            return (
                self._select(paper.trades_table(exchange), "pnl_usd::text", count=count)
                .eq("user_id", user_id)
                .eq("exchange", exchange)
                .gte("exit_time", start)
                .lt("pnl_usd", 0)
                .order("id")
            )

        # three requests at once: closed trades entered since, positions entered since, losses.
        # Not one snapshot: a close committing between them can make the count one off for a moment.
        entered = {"user_id": user_id, "exchange": exchange, "entry_time": ("gte", start)}
        closed, still_open, losing = await asyncio.gather(
            self._count(paper.trades_table(exchange), **entered),
            self._count(paper.positions_table(exchange), **entered),
            self._all_rows("weekly losses", losses),
        )
        loss = sum((abs(Decimal(str(r["pnl_usd"]))) for r in losing), Decimal(0))
        return WeeklyTradeStats(trades=closed + still_open, loss_usd=loss)

    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int:
        counts = [await self._count(table, user_id=user_id, exchange=exchange)
                  for table in paper.position_tables(exchange)]
        return sum(counts)

    async def publish_plan_limits(self, limits: dict[str, int | None]) -> None:
        """Replace `sparky_plan_limits` (migration 0009) with `limits` in one transaction."""
        await self._db.run("rpc sparky_publish_plan_limits",
                           self._db.client.rpc("sparky_publish_plan_limits", {"p_limits": dict(limits)}))

    # strategies

    async def find_strategy(
        self, user_id: str, *, name: str | None = None, strategy_id: str | None = None
    ) -> StrategyRecord | None:
        """By id, and/or by name ignoring case (a name of the exact case wins)."""
        if name is None and strategy_id is None:
            raise ValueError("find_strategy needs a name or a strategy_id")
        if strategy_id is not None and not codec.is_uuid(strategy_id):
            return None  # strategies.id is a uuid: a webhook naming anything else finds nothing
        found = await self._strategies(user_id, name=name, strategy_id=strategy_id)
        exact = [s for s in found if name is None or s.name == name]
        return (exact or found)[0] if found else None

    async def _strategies(
        self, user_id: str, *, name: str | None, strategy_id: str | None = None
    ) -> list[StrategyRecord]:
        """The user's strategies with this id and/or this name in any case, newest first."""
        query = self._select("strategies", codec.SELECT_STRATEGY).eq("user_id", user_id)
        if strategy_id is not None:
            query = query.eq("id", strategy_id)
        if name is not None:  # ilike narrows (PostgREST reads `*` as `%`), the comparison decides
            query = query.ilike("name", codec.like_literal(name))
        query = query.order("created_at", desc=True, nullsfirst=False).order("id").limit(100)
        rows = await self._rows("find strategies", query)
        found = [codec.from_row(StrategyRecord, r) for r in rows]
        return [s for s in found if name is None or s.name.casefold() == name.casefold()]

    async def upsert_strategy(self, strategy: StrategyRecord) -> StrategyRecord:
        """Update the user's strategy with this id (without an id: with exactly this name), else
        insert. Another user's strategy id is never taken over: the insert fails on the key."""
        row = codec.strategy_row(strategy)
        target = strategy.id
        if target is None:
            same = [s for s in await self._strategies(strategy.user_id, name=strategy.name) if s.name == strategy.name]
            target = same[0].id if same else None
        if target is not None:
            update = (
                self._table("strategies")
                .update(row)
                .eq("id", target)
                .eq("user_id", strategy.user_id)
                .select(codec.SELECT_STRATEGY)
            )
            rows = await self._rows("update strategies", update)
            if rows:
                return codec.from_row(StrategyRecord, rows[0])
        body = row if strategy.id is None else {**row, "id": strategy.id}
        insert = self._table("strategies").insert(body).select(codec.SELECT_STRATEGY)
        rows = await self._rows("insert strategies", insert)
        return codec.from_row(StrategyRecord, rows[0])

    # notifications

    async def notification_preferences(self, user_id: str) -> dict[str, bool]:
        query = self._select("notification_preferences", "*").eq("user_id", user_id).limit(1)
        rows = await self._rows("get notification_preferences", query)
        if not rows:
            return {}
        return {k: v for k, v in rows[0].items() if k.startswith("notify_") and isinstance(v, bool)}

    async def set_notification_preferences(self, user_id: str, preferences: dict[str, bool]) -> None:
        unknown = [k for k in preferences if not k.startswith("notify_")]
        if unknown:
            raise ValueError(f"unknown notification preferences: {sorted(unknown)}")
        row = {"user_id": user_id, **{k: bool(v) for k, v in preferences.items()}}
        query = self._table("notification_preferences").upsert(row, on_conflict="user_id", returning=MINIMAL)
        await self._db.run("upsert notification_preferences", query)

    async def notification_channels(self, user_id: str) -> str | None:
        query = self._select("notification_preferences", "notify_urls").eq("user_id", user_id).limit(1)
        rows = await self._rows("get notification_preferences", query)
        return (rows[0].get("notify_urls") or None) if rows else None

    async def set_notification_channels(self, user_id: str, urls: str | None) -> None:
        row = {"user_id": user_id, "notify_urls": urls or None}
        query = self._table("notification_preferences").upsert(row, on_conflict="user_id", returning=MINIMAL)
        await self._db.run("upsert notification_preferences", query)

    async def insert_notification(self, notification: NotificationRecord) -> None:
        query = self._table("notifications").insert(codec.notification_row(notification), returning=MINIMAL)
        await self._db.run("insert notifications", query)

    async def list_notifications(self, user_id: str, *, limit: int = 50) -> list[NotificationRecord]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0: {limit}")
        if limit == 0:
            return []
        query = (
            self._select("notifications", codec.SELECT_NOTIFICATION)
            .eq("user_id", user_id)
            .order("created_at", desc=True, nullsfirst=False)
            .order("id", desc=True)
            .limit(limit)
        )
        return [codec.from_row(NotificationRecord, r) for r in await self._rows("list notifications", query)]

    # local users: the dashboard's job on Supabase

    async def add_local_user(self, user: LocalUser) -> None:
        raise NotImplementedError(_DASHBOARD)

    async def set_plan(self, user_id: str, plan: str) -> None:
        raise NotImplementedError(_DASHBOARD)

    async def list_local_users(self) -> list[LocalUser]:
        raise NotImplementedError(_DASHBOARD)
