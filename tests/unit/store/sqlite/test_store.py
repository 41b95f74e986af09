"""SqliteStore: the shared Store contract, plus what only SQLite has (file, threads, batches)."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from sparky.store.base import (
    CloseWrite,
    DuplicateRequest,
    PositionWrite,
    RequestStatus,
    StoreUnavailable,
    WebhookRequestRecord,
)
from sparky.store.sqlite import writer as sqlite_writer
from sparky.store.sqlite.store import SqliteStore
from tests.store_contract import T0, StoreContract, make_position, make_request, make_trade

EXPECTED_COLUMNS = {
    "resting_entries": [
        "id",
        "created_at",
        "user_id",
        "exchange",
        "symbol",
        "side",
        "quantity",
        "limit_price",
        "stop_loss_price",
        "take_profit_price",
        "stop_loss_percent",
        "take_profit_percent",
        "client_order_id",
        "order_id",
        "request_id",
        "strategy_id",
        "ai_strategy_id",
    ],
    "positions": [
        "id",
        "created_at",
        "updated_at",
        "symbol",
        "side",
        "entry_price",
        "entry_time",
        "quantity",
        "position_size_usd",
        "stop_loss_price",
        "take_profit_price",
        "stop_loss_percent",
        "take_profit_percent",
        "entry_order_id",
        "stop_loss_order_id",
        "take_profit_order_id",
        "trailing_stop_order_id",
        "current_price",
        "unrealized_pnl_usd",
        "unrealized_pnl_percent",
        "last_price_update",
        "notes",
        "asset_class",
        "strategy_id",
        "exchange",
        "user_id",
        "fees_usd",
        "ai_strategy_id",
    ],
    "trades": [
        "id",
        "created_at",
        "symbol",
        "side",
        "entry_price",
        "entry_time",
        "exit_price",
        "exit_time",
        "quantity",
        "position_size_usd",
        "stop_loss_price",
        "take_profit_price",
        "stop_loss_percent",
        "take_profit_percent",
        "pnl_usd",
        "pnl_percent",
        "is_winner",
        "exit_reason",
        "order_id",
        "notes",
        "asset_class",
        "strategy_id",
        "exchange",
        "user_id",
        "fees_usd",
        "ai_strategy_id",
    ],
    "webhook_requests": [
        "id",
        "user_id",
        "webhook_secret",
        "exchange",
        "action",
        "symbol",
        "payload",
        "status",
        "error_message",
        "processed_at",
        "created_at",
        "strategy_id",
        "signal",
        "idempotency_key",
        "result",
        "http_status",
        "source_ip",
        "lease_owner",
        "lease_expires_at",
    ],
}


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "sparky.db"  # the data dir does not exist yet


@pytest.fixture
async def store(db_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(db_path)
    await store.open()
    yield store
    await store.aclose()


class TestSqliteStoreContract(StoreContract):
    """The shared contract, run against a real SQLite file (the `store` fixture above)."""


def raw_query(path: Path, sql: str) -> list[tuple[Any, ...]]:
    """Look at the file with a separate connection, as another process would."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def hold_writer(store: SqliteStore) -> tuple[threading.Event, asyncio.Task[Any]]:
    """Park the writer thread on a job until the returned event is set.

    Everything submitted meanwhile queues up and then runs as one batch, deterministically.
    """
    running, gate = threading.Event(), threading.Event()

    def block(_conn: sqlite3.Connection) -> None:
        running.set()
        gate.wait(60)  # bounded only so that a broken test fails instead of hanging

    blocker = asyncio.create_task(store._call(block, write=False))
    assert await asyncio.to_thread(running.wait, 30), "writer thread never ran the job"
    return gate, blocker


def release_after_queued(gate: threading.Event) -> None:
    """Open the gate once the tasks created so far have run up to their first await (FIFO)."""
    asyncio.get_running_loop().call_soon(gate.set)


def commits(store: SqliteStore) -> int:
    assert store._writer is not None
    return store._writer.commits


# file, pragmas, schema


async def test_open_creates_data_dir_with_wal_and_full_sync(
    store: SqliteStore, db_path: Path
) -> None:
    assert db_path.is_file()
    assert raw_query(db_path, "PRAGMA journal_mode") == [("wal",)]

    def pragmas(conn: sqlite3.Connection) -> tuple[int, int]:
        return (
            conn.execute("PRAGMA synchronous").fetchone()[0],
            conn.execute("PRAGMA foreign_keys").fetchone()[0],
        )

    assert await store._call(pragmas, write=False) == (2, 1)  # FULL, ON


async def test_synchronous_is_configurable(db_path: Path) -> None:
    store = SqliteStore(db_path, synchronous="normal")
    await store.open()
    try:
        sync = await store._call(
            lambda c: c.execute("PRAGMA synchronous").fetchone()[0], write=False
        )
        assert sync == 1
    finally:
        await store.aclose()


def test_unknown_synchronous_is_refused(db_path: Path) -> None:
    with pytest.raises(ValueError):
        SqliteStore(db_path, synchronous="FULL; DROP TABLE trades")


async def test_schema_has_exactly_the_dashboard_columns(store: SqliteStore, db_path: Path) -> None:
    for table, expected in EXPECTED_COLUMNS.items():
        columns = [row[1] for row in raw_query(db_path, f"PRAGMA table_info({table})")]
        assert columns == expected, table


async def test_schema_indexes(store: SqliteStore, db_path: Path) -> None:
    rows = raw_query(
        db_path, "SELECT tbl_name, name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
    )
    assert sorted(rows) == [
        ("ai_strategies", "ai_strategies_status"),
        ("ai_trade_decisions", "ai_trade_decisions_user_strategy"),
        ("ai_trade_log", "ai_trade_log_strategy_id"),
        ("bot_credentials", "bot_credentials_webhook_secret"),
        ("notifications", "notifications_user_created"),
        ("strategies", "strategies_user_status"),
        ("strategy_validation_log", "strategy_validation_log_strategy"),
        ("trades", "trades_user_entry_time"),
        ("trades", "trades_user_exchange_entry_time"),
        ("trades", "trades_user_exchange_exit_time"),
        ("trades", "trades_user_exit_time"),
        ("tradier_option_trades", "tradier_option_trades_status"),
        ("tradier_option_trades", "tradier_option_trades_user_id"),
        ("webhook_requests", "webhook_requests_idempotency"),
        ("webhook_requests", "webhook_requests_pending"),
        ("webhook_requests", "webhook_requests_user_accepted"),
        ("webhook_requests", "webhook_requests_user_created"),
    ]
    # positions' UNIQUE (user_id, exchange, symbol) is an automatic index
    (unique,) = [
        r for r in raw_query(db_path, "PRAGMA index_list(positions)") if r[2] == 1 and r[3] == "u"
    ]
    assert [r[2] for r in raw_query(db_path, f"PRAGMA index_info({unique[1]})")] == [
        "user_id",
        "exchange",
        "symbol",
    ]


async def test_pending_scan_uses_the_partial_index(store: SqliteStore, db_path: Path) -> None:
    plan = raw_query(
        db_path,
        "EXPLAIN QUERY PLAN SELECT id FROM webhook_requests"
        " WHERE status = 'pending' ORDER BY created_at",
    )
    assert any("webhook_requests_pending" in row[-1] for row in plan)


# lifecycle


async def test_data_survives_close_and_reopen(db_path: Path) -> None:
    first = SqliteStore(db_path)
    await first.open()
    pending = make_request(idempotency_key="alert-1")
    finished = make_request()
    await first.insert_webhook_request(pending)
    await first.insert_webhook_request(finished)
    await first.finish_webhook_request(
        finished.id, RequestStatus.SUCCESS, error_message=None, result={"ok": True}, http_status=200
    )
    await first.upsert_position(make_position(symbol="ETHUSDT"))
    await first.record_close(make_trade())
    position = await first.get_position("user-1", "paper", "ETHUSDT")
    await first.aclose()

    second = SqliteStore(db_path)  # the schema is applied again: must be a no-op
    await second.open()
    try:
        assert [r.id for r in await second.pending_webhook_requests()] == [pending.id]
        assert await second.get_webhook_request(pending.id) == pending
        done = await second.get_webhook_request(finished.id)
        assert done is not None and done.status is RequestStatus.SUCCESS
        assert await second.get_position("user-1", "paper", "ETHUSDT") == position
        assert len(await second.list_trades()) == 1
        with pytest.raises(DuplicateRequest):
            await second.insert_webhook_request(make_request(idempotency_key="alert-1"))
    finally:
        await second.aclose()


async def test_a_file_made_before_a_column_was_added_gets_it_and_keeps_its_rows(db_path: Path) -> None:
    """A positions table written by an earlier version (no trailing_stop_order_id): opening the
    store adds the column, the old row reads back, and the new column is written and read."""
    db_path.parent.mkdir(parents=True)
    old = sqlite3.connect(db_path)
    columns = [c for c in EXPECTED_COLUMNS["positions"] if c != "trailing_stop_order_id"]
    old.execute(f"CREATE TABLE positions ({', '.join(columns)}, UNIQUE (user_id, exchange, symbol))")
    old.execute("INSERT INTO positions (id, created_at, updated_at, symbol, side, entry_price, entry_time, quantity,"
                " position_size_usd, asset_class, exchange, user_id) VALUES ('p-1', '2025-01-01T00:00:00+00:00',"
                " '2025-01-01T00:00:00+00:00', 'EUR_USD', 'BUY', '1.1', '2025-01-01T00:00:00+00:00', '1000',"
                " '1100', 'forex', 'oanda', 'user-1')")
    old.commit()
    old.close()

    store = SqliteStore(db_path)
    await store.open()
    try:
        kept = await store.get_position("user-1", "oanda", "EUR_USD")
        assert kept is not None and (kept.quantity, kept.trailing_stop_order_id) == (Decimal(1000), None)
        await store.upsert_position(make_position(trailing_stop_order_id="@sp1-e-ts"))
        stored = await store.get_position("user-1", "paper", "BTCUSDT")
        assert stored is not None and stored.trailing_stop_order_id == "@sp1-e-ts"
    finally:
        await store.aclose()
    names = [row[1] for row in raw_query(db_path, "PRAGMA table_info(positions)")]
    assert names == columns + ["trailing_stop_order_id"]


async def test_calls_before_open_and_after_close_are_refused(db_path: Path) -> None:
    store = SqliteStore(db_path)
    with pytest.raises(StoreUnavailable):
        await store.insert_webhook_request(make_request())
    assert await store.ping() is False
    await store.open()
    await store.open()  # already open: no-op
    assert await store.ping() is True
    await store.aclose()
    with pytest.raises(StoreUnavailable):
        await store.get_webhook_request("x")
    with pytest.raises(StoreUnavailable):
        await store.upsert_position(make_position())
    assert await store.ping() is False
    await store.aclose()  # twice: no-op


async def test_open_failure_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    store = SqliteStore(blocker / "sparky.db")
    with pytest.raises(StoreUnavailable):
        await store.open()
    with pytest.raises(StoreUnavailable):
        await store.get_webhook_request("x")


async def test_aclose_drains_queued_writes(store: SqliteStore, db_path: Path) -> None:
    gate, blocker = await hold_writer(store)
    records = [make_request() for _ in range(50)]
    inserts = [asyncio.create_task(store.insert_webhook_request(r)) for r in records]
    closing = asyncio.create_task(store.aclose())  # queued behind the 50 inserts
    release_after_queued(gate)
    await asyncio.gather(blocker, *inserts)
    await closing
    assert raw_query(db_path, "SELECT count(*) FROM webhook_requests") == [(50,)]


# concurrency and group commit


async def test_200_concurrent_inserts_all_land(store: SqliteStore, db_path: Path) -> None:
    records = [make_request(idempotency_key=f"alert-{i}") for i in range(200)]
    await asyncio.gather(*(store.insert_webhook_request(r) for r in records))
    assert len(await store.pending_webhook_requests()) == 200
    await store.aclose()
    assert raw_query(
        db_path, "SELECT count(*), count(DISTINCT idempotency_key) FROM webhook_requests"
    ) == [(200, 200)]


async def test_a_duplicate_fails_alone_inside_a_batch(store: SqliteStore) -> None:
    taken = make_request(idempotency_key="taken")
    await store.insert_webhook_request(taken)
    gate, blocker = await hold_writer(store)
    before = commits(store)

    batch = [
        make_request(idempotency_key="a"),
        make_request(idempotency_key="taken"),  # collides with a committed row
        make_request(idempotency_key="b"),
        make_request(idempotency_key="b"),  # collides with a row of this same batch
        make_request(idempotency_key=None),
    ]
    tasks = [asyncio.create_task(store.insert_webhook_request(r)) for r in batch]
    release_after_queued(gate)
    await blocker
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)

    assert commits(store) == before + 1  # one transaction for the whole batch
    assert [type(o).__name__ for o in outcomes] == [
        "NoneType",
        "DuplicateRequest",
        "NoneType",
        "DuplicateRequest",
        "NoneType",
    ]
    assert isinstance(outcomes[1], DuplicateRequest) and outcomes[1].existing_id == taken.id
    assert isinstance(outcomes[3], DuplicateRequest) and outcomes[3].existing_id == batch[2].id
    stored = {r.id for r in await store.pending_webhook_requests()}
    assert stored == {taken.id, batch[0].id, batch[2].id, batch[4].id}


async def test_writes_are_acknowledged_only_once_committed(
    store: SqliteStore, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    visible_when_acknowledged: list[int] = []
    settle = sqlite_writer._settle

    def spy(jobs: list[Any]) -> None:  # runs on the writer thread, just before the hand-back
        if any(job.write for job in jobs):
            (count,) = raw_query(db_path, "SELECT count(*) FROM webhook_requests")[0]
            visible_when_acknowledged.append(count)
        settle(jobs)

    monkeypatch.setattr(sqlite_writer, "_settle", spy)
    gate, blocker = await hold_writer(store)
    inserts = [asyncio.create_task(store.insert_webhook_request(make_request())) for _ in range(5)]
    release_after_queued(gate)
    await asyncio.gather(blocker, *inserts)
    # another connection (another process) already saw all five rows: they were committed
    assert visible_when_acknowledged == [5]


async def test_a_failing_job_rolls_back_its_own_writes_only(store: SqliteStore) -> None:
    half_done = make_request()
    kept = [make_request(), make_request()]

    def insert_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO webhook_requests (id, status, created_at) VALUES (?, 'pending', ?)",
            (half_done.id, T0.isoformat()),
        )
        raise RuntimeError("bug after the first statement")

    gate, blocker = await hold_writer(store)
    before = commits(store)
    tasks = [
        asyncio.create_task(store.insert_webhook_request(kept[0])),
        asyncio.create_task(store._call(insert_then_fail, write=True)),
        asyncio.create_task(store.insert_webhook_request(kept[1])),
    ]
    release_after_queued(gate)
    await blocker
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert outcomes[0] is None and outcomes[2] is None
    assert isinstance(outcomes[1], RuntimeError)  # not a store error: passed through as is
    assert commits(store) == before + 1
    assert await store.get_webhook_request(half_done.id) is None
    assert {r.id for r in await store.pending_webhook_requests()} == {k.id for k in kept}


async def test_racing_finishes_first_wins(store: SqliteStore) -> None:
    record = make_request()
    await store.insert_webhook_request(record)
    gate, blocker = await hold_writer(store)
    finishes = [
        asyncio.create_task(
            store.finish_webhook_request(
                record.id, status, error_message=status.value, result=None, http_status=code
            )
        )
        for status, code in ((RequestStatus.SUCCESS, 200), (RequestStatus.EXPIRED, 202))
    ]
    release_after_queued(gate)
    await asyncio.gather(blocker, *finishes)
    loaded = await store.get_webhook_request(record.id)
    assert loaded is not None
    assert (loaded.status, loaded.error_message, loaded.http_status) == (
        RequestStatus.SUCCESS,
        "success",
        200,
    )


async def test_point_reads_do_not_wait_for_the_writer_and_see_what_is_committed(store: SqliteStore) -> None:
    """A webhook's reads of its key (the request, the position, the resting entry) never queue
    behind a batch being written: they read the last commit on a connection of their own."""
    record = make_request()
    position = make_position()
    await store.insert_webhook_request(record)
    await store.upsert_position(position)
    gate, blocker = await hold_writer(store)  # the writer thread is busy with a batch
    try:
        # bounded only so that a read queued behind the writer fails instead of hanging
        assert await asyncio.wait_for(store.get_webhook_request(record.id), 30) == record
        stored = await asyncio.wait_for(store.get_position(position.user_id, position.exchange, position.symbol), 30)
        assert stored is not None and stored.quantity == position.quantity
        assert await asyncio.wait_for(store.get_resting_entry("nobody", "paper", "BTCUSDT"), 30) is None
    finally:
        gate.set()
        await blocker
    await store.delete_position(position.user_id, position.exchange, position.symbol)  # committed when awaited
    assert await store.get_position(position.user_id, position.exchange, position.symbol) is None


# semantics only SQLite can show


async def test_an_execution_is_recorded_whole_or_not_at_all(store: SqliteStore) -> None:
    """Its position, its close's trade and its request's status are one transaction: when a part
    fails (here the trade's id is taken), none of it is written and the request stays pending."""
    await store.record_close(make_trade(id="trade-1"))
    record = make_request()
    await store.insert_webhook_request(record)
    await store.upsert_position(make_position(exchange="aster"))
    writes = [PositionWrite(make_position()), CloseWrite(make_trade(id="trade-1", exchange="aster"))]
    with pytest.raises(StoreUnavailable):
        await store.finish_execution(record.id, RequestStatus.SUCCESS, error_message=None, result={"n": 1},
                                     http_status=200, writes=writes)
    assert await store.get_position("user-1", "paper", "BTCUSDT") is None  # the first write rolled back
    assert await store.get_position("user-1", "aster", "BTCUSDT") is not None
    assert len(await store.list_trades()) == 1
    assert (await store.get_webhook_request(record.id)).status is RequestStatus.PENDING  # type: ignore[union-attr]
    with pytest.raises(StoreUnavailable):
        await store.record_execution(writes)
    assert await store.get_position("user-1", "paper", "BTCUSDT") is None

    await store.finish_execution(record.id, RequestStatus.SUCCESS, error_message=None, result={"n": 1},
                                 http_status=200, writes=[PositionWrite(make_position()),
                                                          CloseWrite(make_trade(exchange="aster"))])
    assert (await store.get_webhook_request(record.id)).status is RequestStatus.SUCCESS  # type: ignore[union-attr]
    assert await store.get_position("user-1", "aster", "BTCUSDT") is None


async def test_terminal_rows_are_not_overwritten(store: SqliteStore, db_path: Path) -> None:
    record = make_request()
    await store.insert_webhook_request(record)
    await store.finish_webhook_request(
        record.id, RequestStatus.REJECTED, error_message="risk", result=None, http_status=429
    )
    for status in (RequestStatus.SUCCESS, RequestStatus.FAILED, RequestStatus.EXPIRED):
        await store.finish_webhook_request(
            record.id, status, error_message="again", result={"x": 1}, http_status=200
        )
    assert raw_query(
        db_path, "SELECT status, error_message, result, http_status FROM webhook_requests"
    ) == [("rejected", "risk", None, 429)]


async def test_list_webhook_requests_most_recent_first(store: SqliteStore) -> None:
    # not in the Store port yet; move to the contract once it is
    records = [
        make_request(created_at=T0 + timedelta(seconds=s), user_id=user)
        for s, user in ((1, "user-1"), (3, "user-2"), (2, "user-1"))
    ]
    for record in records:
        await store.insert_webhook_request(record)
    ids = [r.id for r in await store.list_webhook_requests()]
    assert ids == [records[1].id, records[2].id, records[0].id]
    assert [r.id for r in await store.list_webhook_requests(limit=1)] == [records[1].id]
    mine = await store.list_webhook_requests(user_id="user-1")
    assert [r.id for r in mine] == [records[2].id, records[0].id]


async def test_finish_refuses_pending(store: SqliteStore) -> None:
    with pytest.raises(ValueError):
        await store.finish_webhook_request(
            "x", RequestStatus.PENDING, error_message=None, result=None, http_status=None
        )


async def test_reinserting_the_same_id_is_a_duplicate(store: SqliteStore) -> None:
    record = make_request()
    await store.insert_webhook_request(record)
    with pytest.raises(DuplicateRequest) as caught:
        await store.insert_webhook_request(record)
    assert caught.value.existing_id == record.id


async def test_decimals_round_trip_exactly_through_numeric(
    store: SqliteStore, db_path: Path
) -> None:
    values = {
        "entry_price": Decimal("27000.1"),
        "exit_price": Decimal("27000.10"),  # equal value; SQLite keeps the number, not the text
        "quantity": Decimal("0.00012345"),
        "position_size_usd": Decimal("1000000"),
        "pnl_usd": Decimal("-0.000001"),
        "pnl_percent": Decimal("123456789.123456"),  # 15 significant digits
    }
    await store.record_close(make_trade(**values))
    (trade,) = await store.list_trades()
    for name, value in values.items():
        loaded = getattr(trade, name)
        assert isinstance(loaded, Decimal) and loaded == value, name
    assert str(trade.entry_price) == "27000.1"
    assert str(trade.quantity) == "0.00012345"
    assert raw_query(db_path, "SELECT typeof(quantity), typeof(position_size_usd) FROM trades") == [
        ("real", "integer")  # numbers in SQL (sums, ordering), not text
    ]


async def test_times_are_stored_as_fixed_width_utc_text(store: SqliteStore, db_path: Path) -> None:
    await store.insert_webhook_request(make_request(created_at=T0.replace(microsecond=0)))
    assert raw_query(db_path, "SELECT created_at FROM webhook_requests") == [
        ("2024-03-01T12:00:00.000000+00:00",)
    ]


async def test_naive_datetimes_are_refused(store: SqliteStore) -> None:
    with pytest.raises(ValueError):
        await store.insert_webhook_request(make_request(created_at=datetime(2024, 1, 1)))


async def test_record_close_is_atomic(store: SqliteStore) -> None:
    await store.upsert_position(make_position())
    await store.record_close(make_trade(id="trade-1", symbol="ETHUSDT"))
    # the trade insert fails (id taken): the position delete must not happen either
    with pytest.raises(StoreUnavailable):
        await store.record_close(make_trade(id="trade-1"))
    assert await store.get_position("user-1", "paper", "BTCUSDT") is not None
    assert [t.symbol for t in await store.list_trades()] == ["ETHUSDT"]

    await store.record_close(make_trade())
    assert await store.get_position("user-1", "paper", "BTCUSDT") is None
    assert {t.symbol for t in await store.list_trades()} == {"ETHUSDT", "BTCUSDT"}


async def test_sqlite_errors_become_store_unavailable(store: SqliteStore) -> None:
    with pytest.raises(StoreUnavailable) as caught:
        await store._call(lambda c: c.execute("SELECT * FROM no_such_table"), write=False)
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    assert await store.ping() is True  # the writer keeps working


async def test_results_are_new_records(store: SqliteStore) -> None:
    record = make_request()
    await store.insert_webhook_request(record)
    first = await store.get_webhook_request(record.id)
    second = await store.get_webhook_request(record.id)
    assert first == second and first is not second
    assert isinstance(first, WebhookRequestRecord)


async def test_a_file_made_before_a_column_was_added_gets_it_on_open(db_path: Path) -> None:
    """A data dir from an older Sparky: its tables lack the fee columns; opening adds them, rows kept."""
    from importlib import resources

    schema = resources.files("sparky.store.sqlite").joinpath("schema.sql").read_text("utf-8")
    db_path.parent.mkdir(parents=True)
    old = sqlite3.connect(db_path)
    old.executescript(schema)
    old.executescript("ALTER TABLE trades DROP COLUMN fees_usd; ALTER TABLE positions DROP COLUMN fees_usd;")
    old.execute("INSERT INTO trades (id, created_at, symbol, side, entry_price, entry_time, exit_price, exit_time,"
                " quantity, position_size_usd, pnl_usd, pnl_percent, is_winner, exit_reason, exchange, user_id)"
                " VALUES ('t-old', ?, 'BTCUSDT', 'BUY', 100, ?, 110, ?, 1, 100, 10, 10, 1, 'MANUAL', 'paper',"
                " 'user-1')", (T0.isoformat(), T0.isoformat(), T0.isoformat()))
    old.commit()
    old.close()

    store = SqliteStore(db_path)
    await store.open()
    try:
        await store.upsert_position(make_position(fees_usd=Decimal("0.27")))
        await store.record_close(make_trade(fees_usd=Decimal("0.5"), exit_time=T0 + timedelta(days=1)))
        new, older = await store.list_trades()
        assert (new.fees_usd, older.id, older.fees_usd, older.pnl_usd) == (Decimal("0.5"), "t-old", None, Decimal(10))
    finally:
        await store.aclose()
    assert "fees_usd" in [row[1] for row in raw_query(db_path, "PRAGMA table_info(positions)")]


# leases and file modes


async def test_a_file_from_before_leases_gains_the_lease_columns(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    earlier = [c for c in EXPECTED_COLUMNS["webhook_requests"] if not c.startswith("lease_")]
    conn = sqlite3.connect(db_path)
    conn.execute(f"CREATE TABLE webhook_requests ({', '.join(earlier)}, PRIMARY KEY (id))")
    conn.execute("INSERT INTO webhook_requests (id, status, created_at, user_id) VALUES ('r1', 'pending', ?, 'u')",
                 (T0.isoformat(timespec="microseconds"),))
    conn.commit()
    conn.close()
    for _ in range(2):  # the second open finds them there
        store = SqliteStore(db_path)
        await store.open()
        try:
            columns = [row[1] for row in raw_query(db_path, "PRAGMA table_info(webhook_requests)")]
            assert columns == EXPECTED_COLUMNS["webhook_requests"]
            (left,) = await store.pending_webhook_requests()
            assert (left.id, left.lease_owner, left.lease_expires_at) == ("r1", None, None)
        finally:
            await store.aclose()
    store = SqliteStore(db_path)
    await store.open()
    try:  # a row from before leases is anyone's to resume
        assert await store.claim_webhook_request("r1", "server-a", lease_until=T0, now=T0) is True
    finally:
        await store.aclose()


async def test_two_stores_on_one_file_claim_a_request_once(store: SqliteStore, db_path: Path) -> None:
    other = SqliteStore(db_path)
    await other.open()
    try:
        record = make_request(lease_owner="server-gone", lease_expires_at=T0)
        await store.insert_webhook_request(record)
        later = T0 + timedelta(seconds=1)
        claims = await asyncio.gather(
            store.claim_webhook_request(record.id, "server-a", lease_until=later + timedelta(seconds=60), now=later),
            other.claim_webhook_request(record.id, "server-b", lease_until=later + timedelta(seconds=60), now=later),
        )
        assert sorted(claims) == [False, True]
        loaded = await other.get_webhook_request(record.id)
        assert loaded is not None
        assert loaded.lease_owner == ("server-a" if claims[0] else "server-b")
    finally:
        await other.aclose()


def mode(path: Path) -> str:
    return oct(path.stat().st_mode & 0o777)


async def test_the_file_and_its_wal_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    db_path = tmp_path / "data" / "sparky.db"
    previous = os.umask(0o022)  # the usual umask: files 0644 unless made otherwise
    try:
        store = SqliteStore(db_path)
        await store.open()
        try:
            await store.insert_webhook_request(make_request())
            modes = {p.name: mode(p) for p in db_path.parent.iterdir()}
        finally:
            await store.aclose()
    finally:
        os.umask(previous)
    assert modes == {"sparky.db": "0o600", "sparky.db-wal": "0o600", "sparky.db-shm": "0o600"}
    assert mode(db_path.parent) == "0o700"


async def test_a_file_others_could_read_is_made_private_when_opened(db_path: Path) -> None:
    store = SqliteStore(db_path)
    await store.open()
    await store.insert_webhook_request(make_request())
    wal = db_path.with_name(db_path.name + "-wal")
    for path in (db_path, wal):
        path.chmod(0o644)
    second = SqliteStore(db_path)  # the first still holds the WAL open: it is not removed
    await second.open()
    try:
        assert (mode(db_path), mode(wal)) == ("0o600", "0o600")
    finally:
        await second.aclose()
        await store.aclose()

