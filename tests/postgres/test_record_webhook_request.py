"""migrations/0007 on a real PostgreSQL: `record_webhook_request` (quota count + insert under a
per-user advisory lock) and `record_close` (trade insert + position delete), called the way
PostgREST calls them for SupabaseStore: as service_role, one transaction per call."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from tests.postgres.conftest import acting_as


def connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(url, autocommit=True)


def request_row(user_id: uuid.UUID | None, **overrides: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "user_id": None if user_id is None else str(user_id),
        "status": "pending",
        "created_at": datetime.now(UTC).isoformat(),
        "exchange": "paper",
        "action": "buy",
        "symbol": "BTCUSDT",
        "payload": {"action": "buy", "price": "27000.1"},
        "webhook_secret": "sha256:0123456789ab",
        "idempotency_key": None,
    }
    row.update(overrides)
    return row


def record(conn: Any, row: dict[str, Any], limit: int | None) -> dict[str, Any]:
    """One call as PostgREST makes it: role service_role, its own transaction."""
    with acting_as(conn, "service_role"):
        found = conn.execute(
            "select public.record_webhook_request(%s::jsonb, %s)", (json.dumps(row), limit)
        ).fetchone()
    return found[0]


def count_rows(db: Any, user_id: uuid.UUID | None) -> int:
    if user_id is None:
        return db.execute("select count(*) from public.webhook_requests where user_id is null").fetchone()[0]
    return db.execute("select count(*) from public.webhook_requests where user_id = %s", (user_id,)).fetchone()[0]


@pytest.fixture
def user(new_user: Callable[[], uuid.UUID]) -> uuid.UUID:
    return new_user()


def test_twenty_concurrent_calls_with_two_left_record_exactly_two(
    db: Any, migrated_url: str, user: uuid.UUID
) -> None:
    for _ in range(3):
        assert record(db, request_row(user), 5)["outcome"] == "recorded"
    start = threading.Barrier(20)

    def call(_: int) -> dict[str, Any]:
        with connect(migrated_url) as conn:
            row = request_row(user)
            start.wait(timeout=30)
            return record(conn, row, 5)

    with ThreadPoolExecutor(max_workers=20) as pool:
        replies = list(pool.map(call, range(20)))

    recorded = [r for r in replies if r["outcome"] == "recorded"]
    refused = [r for r in replies if r["outcome"] == "quota_exceeded"]
    assert len(recorded) == 2 and len(refused) == 18
    assert sorted(r["current_count"] for r in recorded) == [4, 5]
    assert all((r["current_count"], r["monthly_limit"]) == (5, 5) for r in refused)
    assert count_rows(db, user) == 5


def test_reply_counts_this_month_only_and_not_rate_limited(db: Any, user: uuid.UUID) -> None:
    last_month = datetime.now(UTC).replace(day=1) - timedelta(days=2)
    assert record(db, request_row(user, created_at=last_month.isoformat()), None)["outcome"] == "recorded"
    assert record(db, request_row(user, status="rate_limited"), None) == {
        "outcome": "recorded", "current_count": 0, "monthly_limit": None,
    }  # fmt: skip
    assert record(db, request_row(user), 2) == {"outcome": "recorded", "current_count": 1, "monthly_limit": 2}
    assert record(db, request_row(user), 2)["current_count"] == 2
    assert record(db, request_row(user), 2) == {"outcome": "quota_exceeded", "current_count": 2, "monthly_limit": 2}
    assert record(db, request_row(user), None) == {"outcome": "recorded", "current_count": 3, "monthly_limit": None}


def test_the_month_is_utc_whatever_the_session_time_zone(db: Any, user: uuid.UUID) -> None:
    # in New York time, 2026-11-01T00:00Z + 1 month would be 2026-12-01T01:00Z (DST ends in between)
    db.execute("set timezone = 'America/New_York'")
    try:
        december = request_row(user, created_at="2026-12-01T00:30:00+00:00")
        assert record(db, december, None)["current_count"] == 1
        november = request_row(user, created_at="2026-11-01T00:00:00+00:00")
        assert record(db, november, 1) == {"outcome": "recorded", "current_count": 1, "monthly_limit": 1}
        october = request_row(user, created_at="2026-10-31T23:59:59.999999+00:00")
        assert record(db, october, 1)["current_count"] == 1
    finally:
        db.execute("reset timezone")


def test_duplicates_are_answered_with_the_existing_id_before_the_quota(db: Any, user: uuid.UUID) -> None:
    first = request_row(user, idempotency_key="alert-1")
    assert record(db, first, 1)["outcome"] == "recorded"
    again = request_row(user, idempotency_key="alert-1")
    assert record(db, again, 1) == {"outcome": "duplicate", "existing_id": first["id"]}
    assert record(db, dict(first, idempotency_key=None), 5) == {"outcome": "duplicate", "existing_id": first["id"]}
    assert count_rows(db, user) == 1


def test_same_key_for_another_user_is_not_a_duplicate(db: Any, new_user: Callable[[], uuid.UUID]) -> None:
    one, two = new_user(), new_user()
    assert record(db, request_row(one, idempotency_key="k"), None)["outcome"] == "recorded"
    assert record(db, request_row(two, idempotency_key="k"), None)["outcome"] == "recorded"


def test_requests_without_user_share_one_key_space(db: Any) -> None:
    key = f"legacy-{uuid.uuid4()}"
    first = request_row(None, idempotency_key=key)
    assert record(db, first, None)["outcome"] == "recorded"
    assert record(db, request_row(None, idempotency_key=key), None) == {
        "outcome": "duplicate", "existing_id": first["id"],
    }  # fmt: skip


def test_stored_row_keeps_every_column(db: Any, user: uuid.UUID) -> None:
    row = request_row(
        user, idempotency_key="k", signal={"size": {"usd": "100"}}, source_ip="52.89.214.238",
        strategy_id=str(uuid.uuid4()),  # names no strategy: stored as NULL
        lease_owner="server-a", lease_expires_at="2026-05-15T14:01:00+02:00",  # migrations/0012
    )  # fmt: skip
    record(db, row, None)
    stored = db.execute(
        "select user_id, status, payload, signal, source_ip, strategy_id, idempotency_key, lease_owner,"
        " created_at, lease_expires_at from public.webhook_requests where id = %s",
        (row["id"],),
    ).fetchone()
    assert stored[:8] == (user, "pending", row["payload"], row["signal"], "52.89.214.238", None, "k", "server-a")
    assert stored[8] == datetime.fromisoformat(row["created_at"])
    assert stored[9] == datetime(2026, 5, 15, 12, 1, tzinfo=UTC)


def test_a_known_strategy_is_kept(db: Any, user: uuid.UUID) -> None:
    strategy = db.execute(
        "insert into public.strategies (name, user_id) values ('s', %s) returning id", (user,)
    ).fetchone()[0]
    row = request_row(user, strategy_id=str(strategy))
    record(db, row, None)
    assert db.execute("select strategy_id from public.webhook_requests where id = %s", (row["id"],)).fetchone() == (
        strategy,
    )


def test_only_service_role_may_call_it(db: Any, user: uuid.UUID) -> None:
    import psycopg

    for role in ("authenticated", "anon"):
        with acting_as(db, role, user), pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select public.record_webhook_request(%s::jsonb, 5)", (json.dumps(request_row(user)),))
        with acting_as(db, role, user), pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select public.record_close('{}'::jsonb)")


def test_refuses_to_run_outside_read_committed(db: Any, migrated_url: str, user: uuid.UUID) -> None:
    import psycopg

    with psycopg.connect(migrated_url) as conn, pytest.raises(psycopg.errors.InvalidTransactionState):
        conn.execute("set transaction isolation level repeatable read")
        conn.execute("select public.record_webhook_request(%s::jsonb, 5)", (json.dumps(request_row(user)),))
    assert count_rows(db, user) == 0


# record_close


def position(db: Any, user: uuid.UUID, exchange: str = "paper") -> uuid.UUID:
    return db.execute(
        "insert into public.positions (symbol, side, entry_price, entry_time, quantity, position_size_usd,"
        " exchange, user_id) values ('BTCUSDT', 'BUY', 27000.1, now(), 0.001, 27, %s, %s) returning id",
        (exchange, user),
    ).fetchone()[0]


def trade_row(user: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "id": str(uuid.uuid4()), "created_at": now.isoformat(), "user_id": str(user), "exchange": "paper",
        "symbol": "BTCUSDT", "side": "BUY", "entry_price": "27000.1", "entry_time": (now - timedelta(hours=1)).isoformat(),
        "exit_price": "27500.000000000000000001", "exit_time": now.isoformat(), "quantity": "0.00012345",
        "position_size_usd": "3.333027345", "pnl_usd": "0.0617435175", "pnl_percent": "1.85",
        "is_winner": True, "exit_reason": "TAKE_PROFIT", "strategy_id": str(uuid.uuid4()),
    }  # fmt: skip
    row.update(overrides)
    return row


def close(db: Any, trade: dict[str, Any]) -> None:
    with acting_as(db, "service_role"):
        db.execute("select public.record_close(%s::jsonb)", (json.dumps(trade),))


def test_record_close_inserts_the_trade_and_deletes_only_that_position(db: Any, user: uuid.UUID) -> None:
    position(db, user, "paper")
    kept = position(db, user, "aster")
    trade = trade_row(user)
    close(db, trade)
    rows = db.execute("select id, exchange from public.positions where user_id = %s", (user,)).fetchall()
    assert rows == [(kept, "aster")]
    stored = db.execute(
        "select exit_price::text, quantity::text, is_winner, asset_class::text, strategy_id"
        " from public.trades where id = %s",
        (trade["id"],),
    ).fetchone()
    # exact numerics; the unknown strategy is dropped rather than failing the close
    assert stored == ("27500.000000000000000001", "0.00012345", True, "crypto", None)


def test_record_close_retried_changes_nothing(db: Any, user: uuid.UUID) -> None:
    position(db, user)
    trade = trade_row(user)
    close(db, trade)
    reopened = position(db, user)  # a reversal opened the next position meanwhile
    close(db, trade)  # the same call again (its first reply was lost)
    assert db.execute("select id from public.positions where user_id = %s", (user,)).fetchall() == [(reopened,)]
    assert db.execute("select count(*) from public.trades where user_id = %s", (user,)).fetchone() == (1,)


# what SupabaseStore sends and selects, against the real schema


def test_every_column_the_store_selects_or_writes_exists(db: Any) -> None:
    from sparky.store.base import PositionRecord, TradeRecord, WebhookRequestRecord
    from sparky.store.supabase import codec
    from sparky.store.tenants import CredentialRecord, NotificationRecord, StrategyRecord, TradeSettings

    tables = {
        "webhook_requests": WebhookRequestRecord, "positions": PositionRecord, "trades": TradeRecord,
        "bot_credentials": CredentialRecord, "trade_settings_exchange": TradeSettings,
        "strategies": StrategyRecord, "notifications": NotificationRecord,
    }  # fmt: skip
    for table, record in tables.items():
        found = db.execute(
            "select column_name, data_type from information_schema.columns"
            " where table_schema = 'public' and table_name = %s",
            (table,),
        ).fetchall()
        types = dict(found)
        assert set(codec.columns(record)) <= set(types), table
        numeric = {c for c, t in types.items() if t == "numeric"}
        assert numeric & set(codec.columns(record)) <= codec.NUMERIC, table  # all selected as ::text
        times = {c for c, t in types.items() if t.startswith("timestamp")}
        assert times & set(codec.columns(record)) <= codec.TIMES, table


def test_the_stores_json_round_trips_through_the_functions(db: Any, user: uuid.UUID) -> None:
    from sparky.store.base import RequestStatus, TradeRecord, WebhookRequestRecord
    from sparky.store.supabase import codec
    from tests.store_contract import make_request, make_trade

    request: WebhookRequestRecord = make_request(
        user_id=str(user), idempotency_key="alert-1", created_at=datetime(2026, 5, 15, 12, 0, 0, 1, tzinfo=UTC)
    )
    assert record(db, codec.webhook_row(request), 5) == {"outcome": "recorded", "current_count": 1, "monthly_limit": 5}
    columns = ",".join(f"{c}::text" if c in codec.NUMERIC else c for c in codec.columns(WebhookRequestRecord))
    stored = db.execute(f"select {columns} from public.webhook_requests where id = %s", (request.id,)).fetchone()
    row = dict(zip(codec.columns(WebhookRequestRecord), stored, strict=True))
    row.update(id=str(row["id"]), user_id=str(row["user_id"]), status=RequestStatus(row["status"]))
    assert WebhookRequestRecord(**row) == request  # strategy "strategy-1" is no uuid: sent as NULL

    trade: TradeRecord = make_trade(
        id=str(uuid.uuid4()), user_id=str(user), created_at=datetime.now(UTC),
        quantity=Decimal("0.000012345678901234567"),
    )  # fmt: skip
    close(db, codec.trade_row(trade))
    columns = ",".join(f"{c}::text" if c in codec.NUMERIC else c for c in codec.columns(TradeRecord))
    stored = db.execute(f"select {columns} from public.trades where id = %s", (trade.id,)).fetchone()
    row = {k: codec.decode_value(k, v) if isinstance(v, str) else v
           for k, v in zip(codec.columns(TradeRecord), stored, strict=True)}  # fmt: skip
    row.update(id=str(row["id"]), user_id=str(row["user_id"]))
    assert TradeRecord(**row) == replace(trade, strategy_id=None)
