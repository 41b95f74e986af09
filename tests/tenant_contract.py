"""The `TenantStore` contract: multi-tenant behaviour every adapter must have.

Adapter tests subclass `TenantContract` and provide a fixture named `store` that yields an opened
store (a `Store` that is also a `TenantStore`) with empty tables, like `StoreContract`. Only port
methods are used, so the same tests run against SQLite and Supabase. Users A and B appear
throughout: nothing of A's may ever be returned for B. User ids are UUIDs (USERS) and no row names
a strategy that does not exist, so a PostgreSQL fixture only has to create USERS in auth.users.
An adapter that leaves user management to the dashboard sets `manages_local_users = False`: the
tests of add_local_user, set_plan and list_local_users are then skipped.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from sparky.store.base import DuplicateRequest, RequestStatus
from sparky.store.tenants import (
    CredentialRecord,
    LocalUser,
    NotificationRecord,
    QuotaExceeded,
    StrategyRecord,
    TradeSettings,
    WeeklyTradeStats,
    secret_digest,
)
from tests.store_contract import make_position, make_request, make_trade

A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
C = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"  # has no rows unless a test makes some
USERS = (A, B, C)
#: a Friday in mid-May 2026 (UTC)
NOW = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)
MONDAY = datetime(2026, 5, 11, tzinfo=UTC)
MAY = datetime(2026, 5, 1, tzinfo=UTC)


def webhook_row(user_id: str, secret: str | None, **overrides: Any) -> CredentialRecord:
    """A user's webhook secret row (bot_credentials, exchange 'webhook', production)."""
    values: dict[str, Any] = {"label": "Webhook", "webhook_secret": secret}
    values.update(overrides)
    return CredentialRecord(user_id=user_id, exchange="webhook", **values)


def counted(user_id: str | None = A, **overrides: Any) -> Any:
    """A request of `user_id` at NOW, for record_counted_webhook_request."""
    values: dict[str, Any] = {"user_id": user_id, "created_at": NOW}
    values.update(overrides)
    return make_request(**values)


def trade(**overrides: Any) -> Any:
    return make_trade(**{"user_id": A, "exchange": "aster", "strategy_id": None, **overrides})


class TenantContract:
    """Tests every `TenantStore` adapter inherits. Subclasses provide the `store` fixture."""

    # webhook secrets

    async def test_secret_owners_digest_plain_and_stored_digests(self, store: Any) -> None:
        await store.upsert_credentials(webhook_row(A, "plain-secret-a"))  # as the dashboard does
        await store.upsert_credentials(webhook_row(B, secret_digest("secret-b")))  # users add
        assert await store.webhook_secret_owners() == {
            secret_digest("plain-secret-a"): A,
            secret_digest("secret-b"): B,
        }

    async def test_secret_owners_only_production_webhook_rows(self, store: Any) -> None:
        await store.upsert_credentials(webhook_row(A, "sandbox-secret", environment="sandbox"))
        await store.upsert_credentials(
            CredentialRecord(user_id=A, exchange="aster", api_key="k", webhook_secret="not-it")
        )
        await store.upsert_credentials(webhook_row(B, ""))
        await store.upsert_credentials(webhook_row(C, None))
        assert await store.webhook_secret_owners() == {}
        for secret in ("sandbox-secret", "not-it", ""):
            assert await store.find_webhook_secret_owner(secret) is None

    async def test_find_secret_owner_plain_and_digest(self, store: Any) -> None:
        await store.upsert_credentials(webhook_row(A, "plain-secret-a"))
        await store.upsert_credentials(webhook_row(B, secret_digest("secret-b")))
        assert await store.find_webhook_secret_owner("plain-secret-a") == A
        assert await store.find_webhook_secret_owner("secret-b") == B
        assert await store.find_webhook_secret_owner("secret-a") is None
        assert await store.find_webhook_secret_owner("plain-secret-") is None
        assert await store.find_webhook_secret_owner("PLAIN-SECRET-A") is None

    async def test_a_stored_digest_is_not_a_password(self, store: Any) -> None:
        # whoever read the digest out of the database must not be able to sign in with it
        stored = secret_digest("secret-b")
        await store.upsert_credentials(webhook_row(B, stored))
        assert await store.find_webhook_secret_owner(stored) is None
        assert await store.find_webhook_secret_owner("secret-b") == B

    async def test_a_secret_two_users_share_proves_no_one(self, store: Any) -> None:
        await store.upsert_credentials(webhook_row(A, "shared"))
        await store.upsert_credentials(webhook_row(B, secret_digest("shared")))
        assert await store.find_webhook_secret_owner("shared") is None
        assert await store.webhook_secret_owners() == {}

    async def test_a_changed_secret_replaces_the_old_one(self, store: Any) -> None:
        await store.upsert_credentials(webhook_row(A, "old-secret"))
        await store.upsert_credentials(webhook_row(A, "new-secret"))
        assert await store.find_webhook_secret_owner("old-secret") is None
        assert await store.find_webhook_secret_owner("new-secret") == A
        assert await store.webhook_secret_owners() == {secret_digest("new-secret"): A}

    # credentials

    async def test_credentials_round_trip(self, store: Any) -> None:
        record = CredentialRecord(
            user_id=A,
            exchange="aster",
            label="main",
            api_key="key-a",
            api_secret="secret-a",
            passphrase="pass-a",
            account_id="acct-1",
            extra_metadata={"leverage": 5, "nested": {"x": [1, "2"]}},
        )
        await store.upsert_credentials(record)
        loaded = await store.get_credentials(A, "aster")
        assert loaded is not None
        assert loaded.id and loaded.created_at and loaded.updated_at
        assert loaded.created_at.utcoffset() == timedelta(0)
        assert (loaded.user_id, loaded.exchange, loaded.environment) == (A, "aster", "production")
        assert (loaded.label, loaded.api_key, loaded.api_secret, loaded.passphrase) == (
            "main",
            "key-a",
            "secret-a",
            "pass-a",
        )
        assert loaded.account_id == "acct-1" and loaded.webhook_secret is None
        assert loaded.extra_metadata == {"leverage": 5, "nested": {"x": [1, "2"]}}
        assert "key-a" not in repr(loaded) and "secret-a" not in repr(loaded)

    async def test_credentials_upsert_replaces_by_key(self, store: Any) -> None:
        await store.upsert_credentials(CredentialRecord(user_id=A, exchange="aster", api_key="old"))
        first = await store.get_credentials(A, "aster")
        await store.upsert_credentials(
            CredentialRecord(user_id=A, exchange="aster", api_key="new", extra_metadata={"v": 2})
        )
        second = await store.get_credentials(A, "aster")
        assert first is not None and second is not None
        assert second.api_key == "new" and second.extra_metadata == {"v": 2}
        assert (second.id, second.created_at) == (first.id, first.created_at)
        assert second.label == "aster"  # label is NOT NULL in the shared schema: the exchange
        # a record read back and written again updates the same row
        second.api_secret = "s2"
        await store.upsert_credentials(second)
        third = await store.get_credentials(A, "aster")
        assert third is not None and (third.id, third.api_secret) == (first.id, "s2")

    async def test_credentials_are_per_user_exchange_and_environment(self, store: Any) -> None:
        await store.upsert_credentials(CredentialRecord(user_id=A, exchange="aster", api_key="a-p"))
        await store.upsert_credentials(
            CredentialRecord(user_id=A, exchange="aster", environment="sandbox", api_key="a-s")
        )
        await store.upsert_credentials(CredentialRecord(user_id=A, exchange="oanda", api_key="a-o"))
        await store.upsert_credentials(CredentialRecord(user_id=B, exchange="aster", api_key="b-p"))
        keys = [
            await store.get_credentials(A, "aster"),
            await store.get_credentials(A, "aster", "sandbox"),
            await store.get_credentials(A, "oanda"),
            await store.get_credentials(B, "aster"),
        ]
        assert [k.api_key if k else None for k in keys] == ["a-p", "a-s", "a-o", "b-p"]
        assert await store.get_credentials(B, "oanda") is None
        assert await store.get_credentials(B, "aster", "sandbox") is None

    # plans

    async def test_plan_defaults_to_free(self, store: Any) -> None:
        assert await store.subscription_plan(A) == "Free"

    # the monthly quota

    async def test_quota_counts_up_to_the_limit(self, store: Any) -> None:
        rows = [counted(created_at=NOW + timedelta(seconds=i)) for i in range(4)]
        counts = [await store.record_counted_webhook_request(r, monthly_limit=3) for r in rows[:3]]
        assert counts == [1, 2, 3]
        with pytest.raises(QuotaExceeded) as caught:
            await store.record_counted_webhook_request(rows[3], monthly_limit=3)
        assert (caught.value.current, caught.value.limit) == (3, 3)
        assert await store.get_webhook_request(rows[3].id) is None
        loaded = await store.get_webhook_request(rows[0].id)
        assert loaded == rows[0]  # inserted like insert_webhook_request

    async def test_quota_none_is_unlimited_and_zero_refuses(self, store: Any) -> None:
        for expected in range(1, 8):
            count = await store.record_counted_webhook_request(counted(), monthly_limit=None)
            assert count == expected
        with pytest.raises(QuotaExceeded):
            await store.record_counted_webhook_request(counted(user_id=B), monthly_limit=0)

    async def test_quota_concurrent_requests_never_overshoot(self, store: Any) -> None:
        for _ in range(3):
            await store.record_counted_webhook_request(counted(), monthly_limit=5)
        racers = [counted(idempotency_key=f"alert-{i}") for i in range(20)]
        outcomes = await asyncio.gather(
            *(store.record_counted_webhook_request(r, monthly_limit=5) for r in racers),
            return_exceptions=True,
        )
        accepted = [o for o in outcomes if isinstance(o, int)]
        refused = [o for o in outcomes if isinstance(o, QuotaExceeded)]
        assert sorted(accepted) == [4, 5] and len(refused) == 18
        assert all((e.current, e.limit) == (5, 5) for e in refused)
        stored = [await store.get_webhook_request(r.id) for r in racers]
        assert sum(s is not None for s in stored) == 2
        # exactly the limit this month: one more (unlimited) is number 6
        assert await store.record_counted_webhook_request(counted(), monthly_limit=None) == 6

    async def test_quota_ignores_last_month_rate_limited_and_other_users(self, store: Any) -> None:
        old = [
            make_request(user_id=A, created_at=MAY - timedelta.resolution),
            make_request(user_id=A, created_at=datetime(2026, 4, 1, tzinfo=UTC)),
            make_request(user_id=A, created_at=NOW, status=RequestStatus.RATE_LIMITED),
            make_request(user_id=A, created_at=NOW, status=RequestStatus.RATE_LIMITED),
            make_request(user_id=B, created_at=NOW),
            make_request(user_id=None, created_at=NOW),
        ]
        for record in old:
            await store.insert_webhook_request(record)
        first_instant = counted(created_at=MAY)
        assert await store.record_counted_webhook_request(first_instant, monthly_limit=2) == 1
        assert await store.record_counted_webhook_request(counted(), monthly_limit=2) == 2
        with pytest.raises(QuotaExceeded):
            await store.record_counted_webhook_request(counted(), monthly_limit=2)
        assert await store.record_counted_webhook_request(counted(user_id=B), monthly_limit=2) == 2

    async def test_quota_counts_only_requests_accepted_for_execution(self, store: Any) -> None:
        """Refusals (bad input, strategy, risk, stale: rejected; duplicate; rate_limited) were never
        executed and never count; every other status does, a pending request included."""
        for status in RequestStatus:
            await store.insert_webhook_request(make_request(user_id=A, created_at=NOW, status=status))
        accepted = [s for s in RequestStatus if s not in (
            RequestStatus.REJECTED, RequestStatus.DUPLICATE, RequestStatus.RATE_LIMITED)]  # fmt: skip
        assert [s for s in RequestStatus if s.counts_toward_quota] == accepted
        assert await store.month_request_count(A, NOW) == len(accepted) == 5
        assert await store.record_counted_webhook_request(counted(), monthly_limit=7) == 6
        assert await store.record_counted_webhook_request(counted(), monthly_limit=7) == 7
        with pytest.raises(QuotaExceeded) as caught:
            await store.record_counted_webhook_request(counted(), monthly_limit=7)
        assert (caught.value.current, caught.value.limit) == (7, 7)
        assert await store.month_request_count(A, NOW) == 7

    async def test_one_real_alert_and_three_refused_leave_four_of_five(self, store: Any) -> None:
        assert await store.record_counted_webhook_request(counted(), monthly_limit=5) == 1
        for status in (RequestStatus.REJECTED, RequestStatus.REJECTED, RequestStatus.DUPLICATE):
            await store.insert_webhook_request(counted(status=status))
        assert await store.month_request_count(A, NOW) == 1
        counts = [await store.record_counted_webhook_request(counted(), monthly_limit=5) for _ in range(4)]
        assert counts == [2, 3, 4, 5]
        with pytest.raises(QuotaExceeded):
            await store.record_counted_webhook_request(counted(), monthly_limit=5)

    async def test_month_request_count_is_what_the_quota_counts(self, store: Any) -> None:
        for record in (
            make_request(user_id=A, created_at=MAY - timedelta.resolution),  # April
            make_request(user_id=A, created_at=NOW, status=RequestStatus.RATE_LIMITED),
            make_request(user_id=B, created_at=NOW),
            make_request(user_id=A, created_at=MAY, status=RequestStatus.SKIPPED),
            make_request(user_id=A, created_at=NOW, status=RequestStatus.FAILED),
            make_request(user_id=A, created_at=NOW, status=RequestStatus.REJECTED),
            make_request(user_id=A, created_at=NOW, status=RequestStatus.DUPLICATE),
        ):
            await store.insert_webhook_request(record)
        assert await store.month_request_count(A, NOW) == 2
        assert await store.month_request_count(C, NOW) == 0
        assert await store.month_request_count(A, MAY - timedelta.resolution) == 1  # April's own count
        # the quota's next count is one more than what the month shows
        assert await store.record_counted_webhook_request(counted(), monthly_limit=None) == 3
        assert await store.month_request_count(A, NOW) == 3

    async def test_quota_finished_requests_count_unless_refused(self, store: Any) -> None:
        # a request the executor refused before any order (no keys stored, order too small) ends
        # rejected, and no longer counts
        for status in (RequestStatus.SUCCESS, RequestStatus.FAILED, RequestStatus.REJECTED):
            record = counted()
            await store.record_counted_webhook_request(record, monthly_limit=None)
            await store.finish_webhook_request(
                record.id, status, error_message=None, result=None, http_status=200
            )
        assert await store.record_counted_webhook_request(counted(), monthly_limit=None) == 3

    async def test_a_refusal_is_never_counted(self, store: Any) -> None:
        for status in (RequestStatus.REJECTED, RequestStatus.DUPLICATE, RequestStatus.RATE_LIMITED):
            with pytest.raises(ValueError):
                await store.record_counted_webhook_request(counted(status=status), monthly_limit=None)
        assert await store.month_request_count(A, NOW) == 0

    async def test_quota_month_is_utc(self, store: Any) -> None:
        # 2026-10-31T23:30-02:00 is 2026-11-01T01:30Z: November's first request
        minus_two = timezone(timedelta(hours=-2))
        for day in (1, 31):
            await store.insert_webhook_request(
                make_request(user_id=A, created_at=datetime(2026, 10, day, 12, tzinfo=UTC))
            )
        late = counted(created_at=datetime(2026, 10, 31, 23, 30, tzinfo=minus_two))
        assert await store.record_counted_webhook_request(late, monthly_limit=1) == 1
        loaded = await store.get_webhook_request(late.id)
        assert loaded is not None and loaded.created_at == datetime(2026, 11, 1, 1, 30, tzinfo=UTC)
        # and 2026-11-01T00:30+02:00 is still October (UTC): October has 2 already
        plus_two = timezone(timedelta(hours=2))
        early = counted(created_at=datetime(2026, 11, 1, 0, 30, tzinfo=plus_two))
        with pytest.raises(QuotaExceeded) as caught:
            await store.record_counted_webhook_request(early, monthly_limit=2)
        assert caught.value.current == 2
        # a December request does not see October's or November's
        december = counted(created_at=datetime(2026, 12, 1, tzinfo=UTC))
        assert await store.record_counted_webhook_request(december, monthly_limit=1) == 1

    async def test_quota_duplicates_like_insert(self, store: Any) -> None:
        first = counted(idempotency_key="alert-1")
        await store.record_counted_webhook_request(first, monthly_limit=5)
        retry = counted(idempotency_key="alert-1")
        with pytest.raises(DuplicateRequest) as caught:
            await store.record_counted_webhook_request(retry, monthly_limit=5)
        assert caught.value.existing_id == first.id
        # a retry of an accepted alert stays a duplicate once the quota is used up
        with pytest.raises(DuplicateRequest) as caught:
            await store.record_counted_webhook_request(retry, monthly_limit=1)
        assert caught.value.existing_id == first.id
        # the same key is another request for another user
        assert await store.record_counted_webhook_request(
            counted(user_id=B, idempotency_key="alert-1"), monthly_limit=5
        ) == 1

    # risk settings and stats

    async def test_trade_settings_round_trip_and_replace(self, store: Any) -> None:
        assert await store.get_trade_settings(A, "aster") is None
        settings = TradeSettings(
            user_id=A,
            exchange="aster",
            trading_hours_preset="custom",
            trading_window=["13:30", "20:00"],
            max_trades_per_week=12,
            max_loss_per_week_usd=Decimal("250.75"),
            max_open_positions=2,
            allow_weekends=True,
            max_signal_age_sec=30,
            auto_close_outside_window=False,
            strike_tolerance_percent=Decimal("0.5"),
            entry_limit_offset_percent=Decimal("0.25"),
        )
        await store.upsert_trade_settings(settings)
        loaded = await store.get_trade_settings(A, "aster")
        assert loaded is not None and loaded.id
        settings.id = loaded.id
        assert loaded == settings
        assert isinstance(loaded.max_loss_per_week_usd, Decimal)

        await store.upsert_trade_settings(TradeSettings(user_id=A, exchange="aster"))
        replaced = await store.get_trade_settings(A, "aster")
        assert replaced == TradeSettings(user_id=A, exchange="aster", id=loaded.id)
        assert await store.get_trade_settings(B, "aster") is None
        assert await store.get_trade_settings(A, "oanda") is None

    async def test_weekly_trade_stats(self, store: Any) -> None:
        before = MONDAY - timedelta(hours=1)
        losing = {"is_winner": False}
        for record in (
            # opened last week, closed this week at a loss: a loss, not a trade
            trade(entry_time=before, exit_time=MONDAY, pnl_usd=Decimal("-1.1"), **losing),
            # opened and closed this week
            trade(entry_time=MONDAY, exit_time=NOW, pnl_usd=Decimal("-2.2"), **losing),
            trade(entry_time=NOW, exit_time=NOW, pnl_usd=Decimal("5"), is_winner=True),
            trade(entry_time=NOW, exit_time=NOW, pnl_usd=Decimal("-0.000000001"), **losing),
            trade(entry_time=NOW, exit_time=NOW, pnl_usd=Decimal("0"), **losing),
            # last week
            trade(entry_time=before, exit_time=before, pnl_usd=Decimal("-100"), **losing),
            # another exchange, another user
            trade(exchange="oanda", entry_time=NOW, exit_time=NOW, pnl_usd=Decimal("-7"), **losing),
            trade(user_id=B, entry_time=NOW, exit_time=NOW, pnl_usd=Decimal("-9"), **losing),
        ):
            await store.record_close(record)
        stats = await store.weekly_trade_stats(A, "aster", MONDAY)
        assert stats == WeeklyTradeStats(trades=4, loss_usd=Decimal("3.300000001"))
        assert isinstance(stats.loss_usd, Decimal)
        assert await store.weekly_trade_stats(B, "aster", MONDAY) == WeeklyTradeStats(1, Decimal(9))
        assert await store.weekly_trade_stats(B, "oanda", MONDAY) == WeeklyTradeStats(0, Decimal(0))
        assert await store.weekly_trade_stats(A, "aster", NOW + timedelta(seconds=1)) == (
            WeeklyTradeStats(0, Decimal(0))
        )

    async def test_weekly_trade_count_includes_positions_still_open(self, store: Any) -> None:
        before = MONDAY - timedelta(hours=1)
        mine = {"user_id": A, "exchange": "aster", "strategy_id": None}
        await store.upsert_position(make_position(symbol="BTCUSDT", entry_time=NOW, **mine))
        await store.upsert_position(make_position(symbol="ETHUSDT", entry_time=before, **mine))
        await store.record_close(trade(symbol="SOLUSDT", entry_time=NOW, exit_time=NOW, pnl_usd=Decimal("1"),
                                       is_winner=True))
        # this week's entries: the closed trade and the BTC position still open; ETH was last week's
        assert (await store.weekly_trade_stats(A, "aster", MONDAY)).trades == 2

    async def test_count_open_positions(self, store: Any) -> None:
        assert await store.count_open_positions(A) == 0
        for user, exchange, symbol in (
            (A, "aster", "BTCUSDT"),
            (A, "aster", "ETHUSDT"),
            (A, "oanda", "EUR_USD"),
            (B, "aster", "BTCUSDT"),
        ):
            position = make_position(
                user_id=user, exchange=exchange, symbol=symbol, strategy_id=None
            )
            await store.upsert_position(position)
        assert await store.count_open_positions(A) == 3
        assert await store.count_open_positions(A, "aster") == 2
        assert await store.count_open_positions(B) == 1
        assert await store.count_open_positions(B, "oanda") == 0

    # strategies

    async def test_strategy_upsert_and_find(self, store: Any) -> None:
        created = await store.upsert_strategy(
            StrategyRecord(
                user_id=A,
                name="Trend Follower",
                status="active",
                description="d",
                asset_class="crypto",
                stop_loss_percent=Decimal("2.5"),
                take_profit_percent=Decimal("7.25"),
                order_config={"entry": "limit", "offset": "0.1"},
            )
        )
        assert created.id
        assert created.take_profit_percent == Decimal("7.25")
        assert created.order_config == {"entry": "limit", "offset": "0.1"}
        assert await store.find_strategy(A, name="trend follower") == created
        assert await store.find_strategy(A, name="TREND FOLLOWER") == created
        assert await store.find_strategy(A, strategy_id=created.id) == created
        assert await store.find_strategy(A, name="Trend") is None
        assert await store.find_strategy(A, strategy_id="no-such-id") is None

        created.status = "inactive"
        created.stop_loss_percent = None
        updated = await store.upsert_strategy(created)
        assert updated == created
        assert await store.find_strategy(A, strategy_id=created.id) == created

    async def test_upsert_without_id_updates_the_same_name(self, store: Any) -> None:
        first = await store.upsert_strategy(StrategyRecord(user_id=A, name="Grid"))
        again = await store.upsert_strategy(StrategyRecord(user_id=A, name="Grid", status="active"))
        assert again.id == first.id and again.status == "active"
        other = await store.upsert_strategy(StrategyRecord(user_id=A, name="Grid 2"))
        assert other.id != first.id
        assert await store.find_strategy(A, name="grid") == again

    async def test_strategies_are_per_user(self, store: Any) -> None:
        mine = await store.upsert_strategy(StrategyRecord(user_id=A, name="Scalper"))
        assert await store.find_strategy(B, name="Scalper") is None
        assert await store.find_strategy(B, strategy_id=mine.id) is None
        assert await store.find_strategy(B, name="Scalper", strategy_id=mine.id) is None
        theirs = await store.upsert_strategy(StrategyRecord(user_id=B, name="Scalper"))
        assert theirs.id != mine.id
        assert await store.find_strategy(B, name="scalper") == theirs
        assert await store.find_strategy(A, name="SCALPER") == mine
        # B cannot take over A's strategy by its id
        with pytest.raises(Exception):  # noqa: B017 - each adapter has its own error
            await store.upsert_strategy(StrategyRecord(user_id=B, name="stolen", id=mine.id))
        assert await store.find_strategy(A, strategy_id=mine.id) == mine
        assert await store.find_strategy(B, name="stolen") is None

    async def test_strategy_exact_name_wins(self, store: Any) -> None:
        lower = await store.upsert_strategy(
            StrategyRecord(user_id=A, name="momentum", id=str(uuid.uuid4()))
        )
        upper = await store.upsert_strategy(
            StrategyRecord(user_id=A, name="Momentum", id=str(uuid.uuid4()))
        )
        assert lower.id != upper.id
        assert await store.find_strategy(A, name="Momentum") == upper
        assert await store.find_strategy(A, name="momentum") == lower
        assert await store.find_strategy(A, name="MOMENTUM") in (lower, upper)

    async def test_find_strategy_needs_a_name_or_an_id(self, store: Any) -> None:
        with pytest.raises(ValueError):
            await store.find_strategy(A)

    # notifications

    async def test_preferences_are_written_and_updated_per_user(self, store: Any) -> None:
        await store.set_notification_preferences(A, {"notify_trade_success": False})
        prefs = await store.notification_preferences(A)
        assert prefs["notify_trade_success"] is False and prefs.get("notify_trade_failed", True) is True
        await store.set_notification_preferences(A, {"notify_trade_success": True, "notify_trade_failed": False})
        prefs = await store.notification_preferences(A)
        assert (prefs["notify_trade_success"], prefs["notify_trade_failed"]) == (True, False)
        assert await store.notification_preferences(B) == {}
        with pytest.raises(ValueError):
            await store.set_notification_preferences(A, {"drop table": True})

    async def test_notification_channels_are_kept_beside_the_preferences(self, store: Any) -> None:
        assert await store.notification_channels(A) is None
        await store.set_notification_preferences(A, {"notify_trade_success": False})
        await store.set_notification_channels(A, "discord://1/t tgram://2:x/3")
        assert await store.notification_channels(A) == "discord://1/t tgram://2:x/3"
        assert (await store.notification_preferences(A))["notify_trade_success"] is False  # left as it was
        assert "notify_urls" not in await store.notification_preferences(A)
        assert await store.notification_channels(B) is None
        await store.set_notification_channels(A, None)
        assert await store.notification_channels(A) is None
        await store.set_notification_channels(B, "discord://9/z")  # a user without a preferences row yet
        assert await store.notification_channels(B) == "discord://9/z"

    async def test_no_preferences_row_is_empty(self, store: Any) -> None:
        assert await store.notification_preferences(A) == {}

    async def test_notifications_most_recent_first_per_user(self, store: Any) -> None:
        notes = [
            NotificationRecord(
                user_id=A,
                type="trade",
                title=f"t{i}",
                message=f"m{i}",
                metadata={"i": i, "pnl": "1.5"},
                created_at=NOW + timedelta(minutes=i),
            )
            for i in range(3)
        ]
        for note in (notes[1], notes[0], notes[2]):
            await store.insert_notification(note)
        await store.insert_notification(
            NotificationRecord(user_id=B, type="limit", title="b", message="b", created_at=NOW)
        )
        mine = await store.list_notifications(A)
        assert [n.title for n in mine] == ["t2", "t1", "t0"]
        assert mine[0].metadata == {"i": 2, "pnl": "1.5"} and mine[0].read is False
        assert mine[0].id and mine[0].created_at == NOW + timedelta(minutes=2)
        assert [n.title for n in await store.list_notifications(A, limit=2)] == ["t2", "t1"]
        assert [n.title for n in await store.list_notifications(B)] == ["b"]
        assert await store.list_notifications(C) == []

    # isolation

    async def test_nothing_of_a_is_returned_for_b(self, store: Any) -> None:
        await store.upsert_credentials(webhook_row(A, "secret-a"))
        await store.upsert_credentials(CredentialRecord(user_id=A, exchange="aster", api_key="k"))
        await store.upsert_trade_settings(TradeSettings(user_id=A, exchange="aster"))
        strategy = await store.upsert_strategy(StrategyRecord(user_id=A, name="A's"))
        await store.insert_notification(
            NotificationRecord(user_id=A, type="info", title="t", message="m")
        )
        await store.upsert_position(make_position(user_id=A, exchange="aster", strategy_id=None))
        await store.record_close(trade())
        await store.record_counted_webhook_request(counted(), monthly_limit=None)

        assert await store.find_webhook_secret_owner("secret-a") == A
        assert await store.get_credentials(B, "webhook") is None
        assert await store.get_credentials(B, "aster") is None
        assert await store.get_trade_settings(B, "aster") is None
        assert await store.find_strategy(B, name="A's") is None
        assert await store.find_strategy(B, strategy_id=strategy.id) is None
        assert await store.list_notifications(B) == []
        assert await store.notification_preferences(B) == {}
        assert await store.count_open_positions(B) == 0
        assert await store.weekly_trade_stats(B, "aster", MONDAY) == WeeklyTradeStats(0, Decimal(0))
        assert await store.subscription_plan(B) == "Free"
        assert await store.record_counted_webhook_request(counted(user_id=B), monthly_limit=1) == 1



class LocalUsersContract:
    """For adapters that manage users themselves (embedded mode); on Supabase users and plans
    belong to the dashboard."""

    async def test_plan_of_local_users(self, store: Any) -> None:
        await store.add_local_user(LocalUser(id=A, email="a@example.com", plan="Basic"))
        await store.add_local_user(LocalUser(id=B, email=None, plan="pro"))
        assert await store.subscription_plan(A) == "Basic"
        assert await store.subscription_plan(B) == "Pro"  # known names in canonical case
        await store.set_plan(A, "Premium")
        assert await store.subscription_plan(A) == "Premium"
        assert await store.subscription_plan(B) == "Pro"
        assert await store.subscription_plan(C) == "Free"


    async def test_local_users(self, store: Any) -> None:
        assert await store.list_local_users() == []
        t1 = datetime(2026, 1, 1, tzinfo=UTC)
        t2 = t1 + timedelta(days=1)
        await store.add_local_user(LocalUser(B, "b@example.com", plan="Free", created_at=t2))
        await store.add_local_user(LocalUser(A, "a@x.example", plan="Premium", created_at=t1))
        assert await store.list_local_users() == [
            LocalUser(id=A, email="a@x.example", plan="Premium", created_at=t1),
            LocalUser(id=B, email="b@example.com", plan="Free", created_at=t2),
        ]
        with pytest.raises(ValueError):
            await store.add_local_user(LocalUser(id=A, email="other@example.com", plan="Pro"))
        with pytest.raises(ValueError):
            await store.add_local_user(LocalUser(id=C, email=None, plan="  "))
        await store.set_plan(B, "Basic")
        users = {u.id: u for u in await store.list_local_users()}
        assert (users[A].plan, users[A].email, users[B].plan) == ("Premium", "a@x.example", "Basic")

    async def test_set_plan_of_an_unknown_user_is_refused(self, store: Any) -> None:
        with pytest.raises(KeyError):
            await store.set_plan(C, "Pro")
        assert await store.subscription_plan(C) == "Free"
