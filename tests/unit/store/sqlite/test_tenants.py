"""SqliteStore as a TenantStore: the shared tenant contract, plus what only SQLite can show (schema
parity with the PostgreSQL migrations, indexes, batches, reopening the file)."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from sparky.store.base import RequestStatus, Store
from sparky.store.sqlite import tenant_sql
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import (
    CredentialRecord,
    LocalUser,
    NotificationRecord,
    QuotaExceeded,
    StrategyRecord,
    TenantStore,
    TradeSettings,
    secret_digest,
)
from tests.tenant_contract import NOW, A, B, LocalUsersContract, TenantContract, counted, webhook_row
from tests.unit.store.sqlite.test_store import commits, hold_writer, raw_query, release_after_queued

MIGRATION = Path(__file__).resolve().parents[4] / "migrations" / "0002_tables.sql"
#: the tenant tables schema.sql shares with PostgreSQL (users is SQLite's stand-in for auth.users)
SHARED_TABLES = (
    "bot_credentials",
    "subscriptions",
    "trade_settings_exchange",
    "strategies",
    "notifications",
    "notification_preferences",
)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "sparky.db"


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(db_path)
    await store.open()
    yield store
    await store.aclose()


class TestSqliteTenantContract(TenantContract, LocalUsersContract):
    """The shared tenant contract on a real SQLite file (the `store` fixture above)."""


def postgres_tables() -> dict[str, list[tuple[str, bool]]]:
    """(column, NOT NULL) per table of migrations/0002_tables.sql, in declaration order, then the
    columns later migrations add to them.

    Column lines are indented four spaces and start with the column name; continuation lines
    (CHECK lists, constraint names) are indented further."""
    sql = MIGRATION.read_text("utf-8")
    tables: dict[str, list[tuple[str, bool]]] = {}
    for name, body in re.findall(
        r"create table if not exists public\.(\w+) \((.*?)\n\);", sql, flags=re.S
    ):
        columns = []
        for line in body.splitlines():
            match = re.match(r"^ {4}(\w+)\s+(.*)$", line)
            if match and match[1] != "constraint":
                definition = match[2].lower()
                columns.append((match[1], "not null" in definition or "primary key" in definition))
        tables[name] = columns
    # columns later migrations add to these tables (`add column if not exists`), in their order
    for path in sorted(MIGRATION.parent.glob("*.sql")):
        if path.name <= MIGRATION.name:
            continue
        for name, body in re.findall(r"alter table public\.(\w+)\s+(.*?);", path.read_text("utf-8"), flags=re.S):
            for column, definition in re.findall(r"add column if not exists (\w+) ([^,]*)", body):
                if name in tables and column not in {c for c, _ in tables[name]}:
                    tables[name].append((column, "not null" in definition.lower()))
    return tables


def sqlite_columns(path: Path, table: str) -> list[tuple[str, bool]]:
    # PRAGMA table_info rows: (cid, name, type, notnull, dflt_value, pk)
    return [(r[1], bool(r[3])) for r in raw_query(path, f"PRAGMA table_info({table})")]


# schema


def test_the_migration_parser_sees_every_table() -> None:
    tables = postgres_tables()
    assert set(SHARED_TABLES) <= set(tables)
    assert len(tables["notification_preferences"]) == 24  # with notify_urls (0026)
    assert ("label", True) in tables["bot_credentials"]
    assert ("user_id", False) in tables["bot_credentials"]


@pytest.mark.parametrize("table", SHARED_TABLES)
async def test_tenant_tables_have_the_postgres_columns(
    store: SqliteStore, db_path: Path, table: str
) -> None:
    postgres = postgres_tables()[table]
    sqlite = sqlite_columns(db_path, table)
    assert [name for name, _ in sqlite] == [name for name, _ in postgres]
    # what SQLite requires PostgreSQL requires too (a row the dashboard writes must fit here)
    required = {name for name, not_null in sqlite if not_null}
    assert required <= {name for name, not_null in postgres if not_null}


async def test_local_users_table(store: SqliteStore, db_path: Path) -> None:
    assert [name for name, _ in sqlite_columns(db_path, "users")] == ["id", "email", "created_at"]
    assert "users" not in postgres_tables()  # Supabase has auth.users


async def test_unique_keys(store: SqliteStore, db_path: Path) -> None:
    def unique_keys(table: str) -> list[list[str]]:
        keys = []
        for row in raw_query(db_path, f"PRAGMA index_list({table})"):
            if row[2] == 1 and row[3] == "u":
                keys.append([r[2] for r in raw_query(db_path, f"PRAGMA index_info({row[1]})")])
        return sorted(keys)

    assert unique_keys("bot_credentials") == [["user_id", "exchange", "environment"]]
    assert unique_keys("trade_settings_exchange") == [["user_id", "exchange"]]
    assert unique_keys("subscriptions") == [["user_id"]]
    assert unique_keys("notification_preferences") == [["user_id"]]


def query_plan(path: Path, sql: str, args: tuple[object, ...]) -> str:
    conn = sqlite3.connect(path)
    try:
        return " | ".join(str(r[-1]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", args))
    finally:
        conn.close()


async def test_secret_lookup_is_an_index_search(store: SqliteStore, db_path: Path) -> None:
    plan = query_plan(db_path, tenant_sql.FIND_SECRET_OWNER, ("a", "b"))
    assert "bot_credentials_webhook_secret" in plan and "SCAN" not in plan


async def test_quota_count_reads_only_the_covering_index(store: SqliteStore, db_path: Path) -> None:

    plan = query_plan(db_path, tenant_sql.COUNT_MONTH_REQUESTS, ("u", "2026-05", "2026-06"))
    assert "COVERING INDEX webhook_requests_user_accepted" in plan


async def test_weekly_stats_use_the_exchange_indexes(store: SqliteStore, db_path: Path) -> None:

    args = ("u", "aster", "2026-05-11")
    assert "trades_user_exchange_entry_time" in query_plan(db_path, tenant_sql.COUNT_TRADES_SINCE, args + args)
    assert "trades_user_exchange_exit_time" in query_plan(db_path, tenant_sql.LOSSES_SINCE, args)


# semantics only SQLite can show


async def test_sqlite_store_is_both_ports(store: SqliteStore) -> None:
    assert isinstance(store, Store) and isinstance(store, TenantStore)


async def test_quota_in_one_batch_never_overshoots(store: SqliteStore) -> None:
    """All 20 jobs run in one transaction: each job's count sees the inserts of those before it."""
    await store.record_counted_webhook_request(counted(), monthly_limit=3)
    gate, blocker = await hold_writer(store)
    before = commits(store)
    tasks = [
        asyncio.create_task(store.record_counted_webhook_request(counted(), monthly_limit=3))
        for _ in range(20)
    ]
    release_after_queued(gate)
    await blocker
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert commits(store) == before + 1
    assert outcomes[:2] == [2, 3]
    assert all(isinstance(o, QuotaExceeded) for o in outcomes[2:])
    assert raw_query(store._path, "SELECT count(*) FROM webhook_requests") == [(3,)]


async def test_dashboard_rows_with_nulls_read_as_the_column_defaults(
    store: SqliteStore, db_path: Path
) -> None:
    def dashboard_writes(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO trade_settings_exchange (id, exchange, user_id, trading_window,"
            " max_trades_per_week, max_loss_per_week_usd, allow_weekends)"
            " VALUES ('s1', 'aster', ?, NULL, NULL, NULL, NULL)",
            (A,),
        )
        conn.execute(
            "INSERT INTO bot_credentials (id, label, exchange, user_id, extra_metadata)"
            " VALUES ('c1', 'Aster', 'aster', ?, NULL)",
            (A,),
        )
        conn.execute(
            "INSERT INTO notification_preferences (id, user_id, notify_trade_failed,"
            " notify_bot_disconnected) VALUES ('p1', ?, 0, NULL)",
            (A,),
        )

    await store._call(dashboard_writes, write=True)
    assert await store.get_trade_settings(A, "aster") == TradeSettings(A, "aster", id="s1")
    credentials = await store.get_credentials(A, "aster")
    assert credentials is not None and credentials.extra_metadata == {}
    prefs = await store.notification_preferences(A)
    assert len(prefs) == 19 and all(isinstance(v, bool) for v in prefs.values())
    assert prefs["notify_trade_failed"] is False
    assert prefs["notify_bot_disconnected"] is True  # NULL: the column default
    assert prefs["notify_bot_reconnected"] is False  # its default is off
    assert sum(prefs.values()) == 17
    assert await store.notification_preferences(B) == {}


async def test_only_an_active_subscription_gives_its_plan(store: SqliteStore) -> None:
    await store.add_local_user(LocalUser(id=A, email=None, plan="Pro"))
    await store._call(
        lambda c: c.execute("UPDATE subscriptions SET status = 'canceled' WHERE user_id = ?", (A,)),
        write=True,
    )
    assert await store.subscription_plan(A) == "Free"
    assert [u.plan for u in await store.list_local_users()] == ["Free"]
    await store.set_plan(A, "Basic")  # reactivates
    assert await store.subscription_plan(A) == "Basic"


async def test_a_dashboard_subscription_without_a_local_user(store: SqliteStore) -> None:
    await store._call(
        lambda c: c.execute(
            "INSERT INTO subscriptions (id, user_id, plan, created_at, updated_at)"
            " VALUES ('s1', ?, 'Premium', '2026-01-01', '2026-01-01')",
            (B,),
        ),
        write=True,
    )
    assert await store.subscription_plan(B) == "Premium"
    await store.set_plan(B, "Pro")
    assert await store.subscription_plan(B) == "Pro"
    assert await store.list_local_users() == []


async def test_a_credentials_id_of_another_row_is_refused(store: SqliteStore) -> None:
    await store.upsert_credentials(CredentialRecord(user_id=A, exchange="aster", id="c1"))
    with pytest.raises(ValueError):
        await store.upsert_credentials(CredentialRecord(user_id=B, exchange="aster", id="c1"))
    assert await store.get_credentials(B, "aster") is None
    assert await store.ping() is True


async def test_secrets_are_stored_as_given(store: SqliteStore, db_path: Path) -> None:
    await store.upsert_credentials(webhook_row(A, "plain"))
    await store.upsert_credentials(webhook_row(B, secret_digest("hashed")))
    assert sorted(raw_query(db_path, "SELECT user_id, webhook_secret FROM bot_credentials")) == [
        (A, "plain"),
        (B, secret_digest("hashed")),
    ]


async def test_quota_refuses_requests_it_cannot_count(store: SqliteStore) -> None:
    for record, limit in (
        (counted(user_id=None), 5),  # single-tenant requests have no quota
        (counted(), -1),
        (counted(created_at=datetime(2026, 5, 1)), 5),  # naive
        (counted(status=RequestStatus.RATE_LIMITED), 5),  # never counted: insert it plainly
    ):
        with pytest.raises(ValueError):
            await store.record_counted_webhook_request(record, monthly_limit=limit)
    with pytest.raises(TypeError):
        await store.record_counted_webhook_request({"id": "x"}, monthly_limit=5)
    assert raw_query(store._path, "SELECT count(*) FROM webhook_requests") == [(0,)]


async def test_invalid_values_are_refused_before_sql(store: SqliteStore) -> None:
    with pytest.raises(ValueError):
        await store.upsert_strategy(StrategyRecord(user_id=A, name="x", status="running"))
    with pytest.raises(ValueError):
        await store.upsert_strategy(StrategyRecord(user_id=A, name="x", asset_class="bonds"))
    with pytest.raises(ValueError):
        await store.upsert_strategy(StrategyRecord(user_id=A, name=""))
    with pytest.raises(ValueError):
        await store.insert_notification(
            NotificationRecord(user_id=A, type="spam", title="t", message="m")
        )
    with pytest.raises(ValueError):
        await store.upsert_credentials(CredentialRecord(user_id="", exchange="aster"))
    with pytest.raises(ValueError):
        await store.list_notifications(A, limit=-1)
    assert await store.find_strategy(A, name="x") is None
    assert await store.list_notifications(A) == []


async def test_another_users_strategy_id_is_a_value_error(store: SqliteStore) -> None:
    mine = await store.upsert_strategy(StrategyRecord(user_id=A, name="Scalper"))
    with pytest.raises(ValueError):
        await store.upsert_strategy(StrategyRecord(user_id=B, name="Scalper", id=mine.id))
    assert await store.find_strategy(A, strategy_id=mine.id) == mine


async def test_only_well_formed_digests_are_digests(store: SqliteStore) -> None:
    # a dashboard user's plain secret that happens to start with "sha256:" is still plain
    await store.upsert_credentials(webhook_row(A, "sha256:my-own-words"))
    assert await store.find_webhook_secret_owner("sha256:my-own-words") == A
    assert await store.webhook_secret_owners() == {secret_digest("sha256:my-own-words"): A}


async def test_tenant_data_survives_close_and_reopen(db_path: Path) -> None:
    first = SqliteStore(db_path)
    await first.open()
    joined = datetime(2026, 1, 1, tzinfo=UTC)
    await first.add_local_user(LocalUser(A, "a@example.com", plan="Basic", created_at=joined))
    await first.upsert_credentials(webhook_row(A, secret_digest("secret-a")))
    await first.upsert_credentials(CredentialRecord(user_id=A, exchange="aster", api_key="k"))
    await first.upsert_trade_settings(
        TradeSettings(user_id=A, exchange="aster", max_loss_per_week_usd=Decimal("99.5"))
    )
    strategy = await first.upsert_strategy(StrategyRecord(user_id=A, name="Grid"))
    await first.insert_notification(
        NotificationRecord(user_id=A, type="info", title="t", message="m", created_at=NOW)
    )
    assert await first.record_counted_webhook_request(counted(), monthly_limit=2) == 1
    credentials = await first.get_credentials(A, "aster")
    settings = await first.get_trade_settings(A, "aster")
    notes = await first.list_notifications(A)
    await first.aclose()

    second = SqliteStore(db_path)  # the schema is applied again: must be a no-op
    await second.open()
    try:
        assert await second.list_local_users() == [
            LocalUser(id=A, email="a@example.com", plan="Basic", created_at=joined)
        ]
        assert await second.find_webhook_secret_owner("secret-a") == A
        assert await second.get_credentials(A, "aster") == credentials
        assert await second.get_trade_settings(A, "aster") == settings
        assert await second.find_strategy(A, name="grid") == strategy
        assert await second.list_notifications(A) == notes
        assert await second.record_counted_webhook_request(counted(), monthly_limit=2) == 2
        with pytest.raises(QuotaExceeded):
            await second.record_counted_webhook_request(counted(), monthly_limit=2)
    finally:
        await second.aclose()
