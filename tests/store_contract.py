"""The `Store` contract: behaviour every adapter must have.

Adapter tests subclass `StoreContract` and provide a fixture named `store` that yields an opened
store with empty tables, e.g.::

    class TestSqliteStore(StoreContract):
        @pytest.fixture
        async def store(self, tmp_path):
            store = SqliteStore(tmp_path / "sparky.db")
            await store.open()
            yield store
            await store.aclose()
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from sparky.store.base import (
    CloseWrite,
    DuplicateRequest,
    PositionRecord,
    PositionWrite,
    PriceMark,
    RequestStatus,
    RestingEntryRecord,
    Store,
    TradeRecord,
    WebhookRequestRecord,
    utcnow,
)
from tests.ai_contract import AiStoreContract
from tests.option_trades_contract import OptionTradeStoreContract

T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def make_request(**overrides: object) -> WebhookRequestRecord:
    values: dict[str, object] = {
        "id": str(uuid.uuid4()),
        "status": RequestStatus.PENDING,
        "created_at": T0,
        "user_id": "user-1",
        "exchange": "paper",
        "action": "buy",
        "symbol": "BTCUSDT",
        "payload": {"action": "buy", "symbol": "BTCUSDT", "position_size_usd": 100},
        "signal": {"action": "buy", "symbol": "BTCUSDT", "size": {"usd": "100"}},
        "webhook_secret": "sha256:0123456789ab",
        "strategy_id": None,
        "idempotency_key": None,
        "source_ip": "52.89.214.238",
    }
    values.update(overrides)
    return WebhookRequestRecord(**values)  # type: ignore[arg-type]


def make_position(**overrides: object) -> PositionRecord:
    values: dict[str, object] = {
        "user_id": "user-1",
        "exchange": "paper",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "entry_price": Decimal("27000.1"),
        "quantity": Decimal("0.00012345"),
        "entry_time": T0,
        "position_size_usd": Decimal("3.333027345"),
        "stop_loss_price": Decimal("26000"),
        "take_profit_price": Decimal("29000.5"),
        "stop_loss_percent": Decimal("3.7"),
        "take_profit_percent": Decimal("7.4"),
        "entry_order_id": "o-entry",
        "stop_loss_order_id": "o-sl",
        "take_profit_order_id": "o-tp",
        "trailing_stop_order_id": "o-ts",
        "strategy_id": "strategy-1",
    }
    values.update(overrides)
    return PositionRecord(**values)  # type: ignore[arg-type]


def make_trade(**overrides: object) -> TradeRecord:
    values: dict[str, object] = {
        "user_id": "user-1",
        "exchange": "paper",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "entry_price": Decimal("27000.1"),
        "entry_time": T0,
        "exit_price": Decimal("27500.25"),
        "exit_time": T0 + timedelta(hours=2),
        "quantity": Decimal("0.00012345"),
        "position_size_usd": Decimal("3.333027345"),
        "pnl_usd": Decimal("0.0617435175"),
        "pnl_percent": Decimal("1.85"),
        "is_winner": True,
        "exit_reason": "TAKE_PROFIT",
        "stop_loss_price": Decimal("26000"),
        "take_profit_price": Decimal("27500.25"),
        "order_id": "o-exit",
        "notes": "tp hit",
        "strategy_id": "strategy-1",
    }
    values.update(overrides)
    return TradeRecord(**values)  # type: ignore[arg-type]


def make_resting_entry(**overrides: object) -> RestingEntryRecord:
    values: dict[str, object] = {
        "user_id": "user-1",
        "exchange": "paper",
        "symbol": "BTCUSDT",
        "side": "BUY",
        "quantity": Decimal("0.00012345"),
        "limit_price": Decimal("26000.1"),
        "client_order_id": "sp0123456789abcdef01234567-e",
        "order_id": "o-limit",
        "request_id": "0c6f3f0e-8f7e-4a7a-9c52-6c1e2b8d4f11",
        "created_at": T0,
        "stop_loss_price": Decimal("25480.1"),
        "take_profit_price": Decimal("27040.000000001"),
        "stop_loss_percent": Decimal("2"),
        "take_profit_percent": Decimal("4"),
        "strategy_id": "strategy-1",
    }
    values.update(overrides)
    return RestingEntryRecord(**values)  # type: ignore[arg-type]


def price_mark(position: PositionRecord, price: Decimal, pnl: Decimal, percent: Decimal, at: datetime) -> PriceMark:
    assert position.id is not None
    return PriceMark(position.user_id, position.exchange, position.symbol, position.id, position.side,
                     position.quantity, position.entry_price, price, pnl, percent, at)


class StoreContract(AiStoreContract, OptionTradeStoreContract):
    """Tests every `Store` adapter inherits (the AI tables' and the option trades' too). Subclasses provide the `store` fixture."""

    # lifecycle

    async def test_ping(self, store: Store) -> None:
        assert await store.ping() is True

    # webhook_requests

    async def test_request_round_trip(self, store: Store) -> None:
        record = make_request(idempotency_key="alert-1", strategy_id="strategy-1")
        await store.insert_webhook_request(record)
        loaded = await store.get_webhook_request(record.id)
        assert loaded == record
        assert loaded is not record

    async def test_unknown_request_is_none(self, store: Store) -> None:
        assert await store.get_webhook_request(str(uuid.uuid4())) is None

    async def test_payload_decimals_are_stored_as_strings(self, store: Store) -> None:
        record = make_request(payload={"price": Decimal("27000.1")}, signal=None)
        await store.insert_webhook_request(record)
        loaded = await store.get_webhook_request(record.id)
        assert loaded is not None
        assert loaded.payload == {"price": "27000.1"}
        assert loaded.signal is None

    async def test_duplicate_idempotency_key_names_the_existing_request(self, store: Store) -> None:
        first = make_request(idempotency_key="alert-1")
        await store.insert_webhook_request(first)
        second = make_request(idempotency_key="alert-1")
        with pytest.raises(DuplicateRequest) as caught:
            await store.insert_webhook_request(second)
        assert caught.value.existing_id == first.id
        assert await store.get_webhook_request(second.id) is None

    async def test_idempotency_key_is_per_user(self, store: Store) -> None:
        await store.insert_webhook_request(make_request(user_id="user-1", idempotency_key="k"))
        other = make_request(user_id="user-2", idempotency_key="k")
        await store.insert_webhook_request(other)
        assert await store.get_webhook_request(other.id) is not None

    async def test_idempotency_key_without_user_is_still_unique(self, store: Store) -> None:
        # single-tenant (legacy secret) requests have no user_id and must still be deduplicated
        first = make_request(user_id=None, idempotency_key="k")
        await store.insert_webhook_request(first)
        with pytest.raises(DuplicateRequest) as caught:
            await store.insert_webhook_request(make_request(user_id=None, idempotency_key="k"))
        assert caught.value.existing_id == first.id

    async def test_requests_without_key_never_collide(self, store: Store) -> None:
        for _ in range(3):
            await store.insert_webhook_request(make_request(idempotency_key=None))
        assert len(await store.pending_webhook_requests()) == 3

    async def test_finish_moves_pending_to_terminal(self, store: Store) -> None:
        record = make_request()
        await store.insert_webhook_request(record)
        before = utcnow()
        await store.finish_webhook_request(
            record.id,
            RequestStatus.SUCCESS,
            error_message=None,
            result={"success": True, "action": "opened", "pnl": Decimal("1.5")},
            http_status=200,
        )
        loaded = await store.get_webhook_request(record.id)
        assert loaded is not None
        assert loaded.status is RequestStatus.SUCCESS
        assert loaded.result == {"success": True, "action": "opened", "pnl": "1.5"}
        assert loaded.http_status == 200
        assert loaded.error_message is None
        assert loaded.processed_at is not None
        assert loaded.processed_at.tzinfo is not None
        assert loaded.processed_at >= before - timedelta(seconds=1)
        assert loaded.payload == record.payload  # untouched

    async def test_finish_records_the_error(self, store: Store) -> None:
        record = make_request()
        await store.insert_webhook_request(record)
        await store.finish_webhook_request(
            record.id,
            RequestStatus.REJECTED,
            error_message="gate: weekend",
            result=None,
            http_status=429,
        )
        loaded = await store.get_webhook_request(record.id)
        assert loaded is not None
        assert (loaded.status, loaded.error_message, loaded.result, loaded.http_status) == (
            RequestStatus.REJECTED,
            "gate: weekend",
            None,
            429,
        )

    async def test_terminal_request_is_never_overwritten(self, store: Store) -> None:
        record = make_request()
        await store.insert_webhook_request(record)
        await store.finish_webhook_request(
            record.id, RequestStatus.SUCCESS, error_message=None, result={"n": 1}, http_status=200
        )
        first = await store.get_webhook_request(record.id)
        await store.finish_webhook_request(
            record.id, RequestStatus.FAILED, error_message="late", result={"n": 2}, http_status=500
        )
        assert await store.get_webhook_request(record.id) == first

    async def test_finish_unknown_request_is_silent(self, store: Store) -> None:
        await store.finish_webhook_request(
            str(uuid.uuid4()),
            RequestStatus.EXPIRED,
            error_message=None,
            result=None,
            http_status=None,
        )

    async def test_pending_requests_oldest_first(self, store: Store) -> None:
        late = make_request(created_at=T0 + timedelta(seconds=5))
        early = make_request(created_at=T0)  # whole second: no fractional part
        middle = make_request(created_at=T0 + timedelta(microseconds=1))
        done = make_request(created_at=T0 - timedelta(days=1))
        for record in (late, done, early, middle):
            await store.insert_webhook_request(record)
        await store.finish_webhook_request(
            done.id, RequestStatus.SUCCESS, error_message=None, result=None, http_status=200
        )
        pending = await store.pending_webhook_requests()
        assert [r.id for r in pending] == [early.id, middle.id, late.id]
        assert all(r.status is RequestStatus.PENDING for r in pending)

    # leases on pending requests (execution/leases.py)

    async def test_lease_round_trip(self, store: Store) -> None:
        record = make_request(lease_owner="server-a", lease_expires_at=T0 + timedelta(seconds=60))
        await store.insert_webhook_request(record)
        assert await store.get_webhook_request(record.id) == record
        (pending,) = await store.pending_webhook_requests()
        assert (pending.lease_owner, pending.lease_expires_at) == ("server-a", T0 + timedelta(seconds=60))

    async def test_a_live_lease_of_another_server_is_not_claimed(self, store: Store) -> None:
        record = make_request(lease_owner="server-b", lease_expires_at=T0 + timedelta(seconds=60))
        await store.insert_webhook_request(record)
        taken = await store.claim_webhook_request(record.id, "server-a", lease_until=T0 + timedelta(seconds=119),
                                                  now=T0 + timedelta(seconds=59, microseconds=999999))
        assert taken is False
        assert await store.get_webhook_request(record.id) == record

    @pytest.mark.parametrize(("owner", "expires"), [
        ("server-b", T0 + timedelta(seconds=60)),   # its lease ended at `now`
        ("server-b", T0 - timedelta(days=1)),       # long ago
        ("server-a", T0 + timedelta(hours=1)),      # our own, whatever its lease
        (None, None),                               # recorded before leases existed
        ("server-b", None),
    ])
    async def test_a_request_is_claimed_when_ours_unleased_or_its_lease_ended(
            self, store: Store, owner: str | None, expires: datetime | None) -> None:
        record = make_request(lease_owner=owner, lease_expires_at=expires)
        await store.insert_webhook_request(record)
        until = T0 + timedelta(seconds=120)
        assert await store.claim_webhook_request(record.id, "server-a", lease_until=until,
                                                 now=T0 + timedelta(seconds=60)) is True
        assert await store.get_webhook_request(record.id) == replace(record, lease_owner="server-a",
                                                                     lease_expires_at=until)

    async def test_a_request_is_claimed_once(self, store: Store) -> None:
        record = make_request(lease_owner="server-c", lease_expires_at=T0)
        await store.insert_webhook_request(record)
        later = T0 + timedelta(seconds=1)
        first = await store.claim_webhook_request(record.id, "server-a", lease_until=later + timedelta(seconds=60),
                                                  now=later)
        second = await store.claim_webhook_request(record.id, "server-b", lease_until=later + timedelta(seconds=60),
                                                   now=later)
        assert (first, second) == (True, False)
        loaded = await store.get_webhook_request(record.id)
        assert loaded is not None and loaded.lease_owner == "server-a"

    async def test_a_finished_or_unknown_request_is_never_claimed(self, store: Store) -> None:
        record = make_request()
        await store.insert_webhook_request(record)
        await store.finish_webhook_request(record.id, RequestStatus.SUCCESS, error_message=None, result=None,
                                           http_status=200)
        finished = await store.get_webhook_request(record.id)
        for request_id in (record.id, str(uuid.uuid4())):
            assert await store.claim_webhook_request(request_id, "server-a", lease_until=T0, now=T0) is False
        assert await store.get_webhook_request(record.id) == finished

    async def test_renewal_extends_only_our_pending_leases(self, store: Store) -> None:
        lease = T0 + timedelta(seconds=60)
        ours = make_request(lease_owner="server-a", lease_expires_at=lease)
        theirs = make_request(lease_owner="server-b", lease_expires_at=lease)
        done = make_request(lease_owner="server-a", lease_expires_at=lease)
        untouched = make_request(lease_owner="server-a", lease_expires_at=lease)  # not asked for
        for record in (ours, theirs, done, untouched):
            await store.insert_webhook_request(record)
        await store.finish_webhook_request(done.id, RequestStatus.SUCCESS, error_message=None, result=None,
                                           http_status=200)
        until = T0 + timedelta(seconds=80)
        renewed = await store.renew_webhook_leases([ours.id, theirs.id, done.id, str(uuid.uuid4())], "server-a",
                                                   lease_until=until)
        assert renewed == {ours.id}
        expiries = {r.id: r.lease_expires_at for r in [await store.get_webhook_request(x.id)
                                                       for x in (ours, theirs, done, untouched)] if r}
        assert expiries == {ours.id: until, theirs.id: lease, done.id: lease, untouched.id: lease}
        assert await store.renew_webhook_leases([], "server-a", lease_until=until) == set()

    async def test_times_come_back_as_aware_utc(self, store: Store) -> None:
        paris = datetime(2024, 3, 1, 14, 0, tzinfo=timezone(timedelta(hours=1)))
        record = make_request(created_at=paris)
        await store.insert_webhook_request(record)
        loaded = await store.get_webhook_request(record.id)
        assert loaded is not None
        assert loaded.created_at == datetime(2024, 3, 1, 13, 0, tzinfo=UTC)
        assert loaded.created_at.utcoffset() == timedelta(0)

    # positions

    async def test_position_insert_fills_id_and_timestamps(self, store: Store) -> None:
        position = make_position()
        before = utcnow()
        await store.upsert_position(position)
        loaded = await store.get_position("user-1", "paper", "BTCUSDT")
        assert loaded is not None
        assert loaded is not position
        uuid.UUID(loaded.id or "")  # a uuid
        assert loaded.created_at is not None and loaded.updated_at is not None
        assert loaded.created_at >= before - timedelta(seconds=1)
        assert replace(loaded, id=None, created_at=None, updated_at=None) == position
        assert position.id is None  # the caller's record is not modified

    async def test_decimals_round_trip_exactly(self, store: Store) -> None:
        position = make_position(
            entry_price=Decimal("27000.1"),
            quantity=Decimal("0.00012345"),
            position_size_usd=Decimal("100"),
            current_price=Decimal("0.1"),
            unrealized_pnl_usd=Decimal("-12.34"),
            unrealized_pnl_percent=Decimal("-0.000001"),
        )
        await store.upsert_position(position)
        loaded = await store.get_position("user-1", "paper", "BTCUSDT")
        assert loaded is not None
        for name in (
            "entry_price",
            "quantity",
            "position_size_usd",
            "current_price",
            "unrealized_pnl_usd",
            "unrealized_pnl_percent",
        ):
            value = getattr(loaded, name)
            assert isinstance(value, Decimal), name
            assert value == getattr(position, name), name
        assert str(loaded.entry_price) == "27000.1"
        assert str(loaded.quantity) == "0.00012345"

    async def test_position_upsert_updates_in_place(self, store: Store) -> None:
        await store.upsert_position(make_position())
        first = await store.get_position("user-1", "paper", "BTCUSDT")
        assert first is not None
        update = make_position(
            quantity=Decimal("0.5"),
            current_price=Decimal("27100"),
            unrealized_pnl_usd=Decimal("49.95"),
            last_price_update=T0 + timedelta(minutes=1),
            stop_loss_order_id=None,
        )
        await store.upsert_position(update)
        second = await store.get_position("user-1", "paper", "BTCUSDT")
        assert second is not None
        assert (second.id, second.created_at) == (first.id, first.created_at)
        assert second.updated_at is not None and first.updated_at is not None
        assert second.updated_at >= first.updated_at
        assert second.quantity == Decimal("0.5")
        assert second.current_price == Decimal("27100")
        assert second.last_price_update == T0 + timedelta(minutes=1)
        assert second.stop_loss_order_id is None
        assert len(await store.list_positions()) == 1

    async def test_same_symbol_on_two_exchanges_is_two_positions(self, store: Store) -> None:
        await store.upsert_position(make_position(exchange="paper"))
        await store.upsert_position(make_position(exchange="aster", side="SELL"))
        paper = await store.get_position("user-1", "paper", "BTCUSDT")
        aster = await store.get_position("user-1", "aster", "BTCUSDT")
        assert paper is not None and aster is not None
        assert (paper.side, aster.side) == ("BUY", "SELL")
        assert paper.id != aster.id

    async def test_list_positions_filters_and_orders_by_entry_time(self, store: Store) -> None:
        await store.upsert_position(
            make_position(symbol="ETHUSDT", entry_time=T0 + timedelta(hours=1))
        )
        await store.upsert_position(make_position(symbol="BTCUSDT", entry_time=T0))
        await store.upsert_position(
            make_position(symbol="SOLUSDT", exchange="aster", entry_time=T0)
        )
        await store.upsert_position(make_position(user_id="user-2", entry_time=T0))

        mine = await store.list_positions(user_id="user-1")
        assert [(p.exchange, p.symbol) for p in mine][-1] == ("paper", "ETHUSDT")
        assert {(p.exchange, p.symbol) for p in mine} == {
            ("paper", "BTCUSDT"),
            ("paper", "ETHUSDT"),
            ("aster", "SOLUSDT"),
        }
        assert [
            p.symbol for p in await store.list_positions(user_id="user-1", exchange="paper")
        ] == [
            "BTCUSDT",
            "ETHUSDT",
        ]
        assert [p.user_id for p in await store.list_positions(exchange="aster")] == ["user-1"]
        assert len(await store.list_positions()) == 4

    async def test_get_missing_position_is_none(self, store: Store) -> None:
        assert await store.get_position("user-1", "paper", "NOPE") is None

    async def test_delete_position(self, store: Store) -> None:
        await store.upsert_position(make_position())
        await store.upsert_position(make_position(user_id="user-2"))
        await store.delete_position("user-1", "paper", "BTCUSDT")
        assert await store.get_position("user-1", "paper", "BTCUSDT") is None
        assert await store.get_position("user-2", "paper", "BTCUSDT") is not None
        await store.delete_position("user-1", "paper", "BTCUSDT")  # missing: silent

    # price marks (the background price refresh)

    async def test_marks_write_each_owners_own_row(self, store: Store) -> None:
        for user, exchange in (("user-1", "paper"), ("user-2", "paper"), ("user-1", "aster")):
            await store.upsert_position(make_position(user_id=user, exchange=exchange))
        rows = await store.list_positions()
        at = T0 + timedelta(hours=1)
        marks = [price_mark(p, Decimal(27100 + i), Decimal(i + 1), Decimal("0.5"), at) for i, p in enumerate(rows)]
        assert await store.mark_positions(marks) == 3
        for written in marks:
            row = await store.get_position(written.user_id, written.exchange, written.symbol)
            assert row is not None
            assert (row.current_price, row.unrealized_pnl_usd, row.unrealized_pnl_percent, row.last_price_update) \
                == (written.current_price, written.unrealized_pnl_usd, written.unrealized_pnl_percent, at)
            assert (row.quantity, row.entry_price, row.side) == (written.quantity, written.entry_price, written.side)
        assert await store.mark_positions([]) == 0

    async def test_a_mark_never_writes_a_row_that_changed_since_it_was_read(self, store: Store) -> None:
        for symbol in ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"):
            await store.upsert_position(make_position(exchange="aster", symbol=symbol))
        read = {p.symbol: p for p in await store.list_positions()}
        await store.delete_position("user-1", "aster", "BTCUSDT")  # closed meanwhile
        await store.upsert_position(replace(read["ETHUSDT"], quantity=Decimal("0.0001")))  # partly closed
        await store.delete_position("user-1", "aster", "SOLUSDT")  # closed, and opened again
        await store.upsert_position(make_position(exchange="aster", symbol="SOLUSDT"))
        marks = [price_mark(p, Decimal(30000), Decimal(1), Decimal(1), T0) for p in read.values()]
        assert await store.mark_positions(marks) == 1
        assert await store.get_position("user-1", "aster", "BTCUSDT") is None  # not resurrected
        for symbol in ("ETHUSDT", "SOLUSDT"):
            row = await store.get_position("user-1", "aster", symbol)
            assert row is not None and row.current_price is None and row.last_price_update is None
        kept = await store.get_position("user-1", "aster", "XRPUSDT")
        assert kept is not None and kept.current_price == Decimal(30000)

    # trades

    async def test_record_close_inserts_trade_and_deletes_position(self, store: Store) -> None:
        await store.upsert_position(make_position())
        await store.upsert_position(make_position(exchange="aster"))
        trade = make_trade()
        await store.record_close(trade)

        assert await store.get_position("user-1", "paper", "BTCUSDT") is None
        assert await store.get_position("user-1", "aster", "BTCUSDT") is not None
        (loaded,) = await store.list_trades(user_id="user-1")
        assert loaded is not trade
        uuid.UUID(loaded.id or "")
        assert loaded.created_at is not None and loaded.created_at.tzinfo is not None
        assert replace(loaded, id=None, created_at=None) == trade
        assert loaded.is_winner is True
        assert loaded.pnl_usd == Decimal("0.0617435175")
        assert trade.id is None

    async def test_record_close_without_position_still_records_trade(self, store: Store) -> None:
        await store.record_close(make_trade(is_winner=False, exit_reason="EXTERNAL"))
        (loaded,) = await store.list_trades()
        assert loaded.is_winner is False
        assert loaded.exit_reason == "EXTERNAL"

    async def test_fees_round_trip_on_positions_and_trades(self, store: Store) -> None:
        await store.upsert_position(make_position(fees_usd=Decimal("0.0123456789")))
        loaded = await store.get_position("user-1", "paper", "BTCUSDT")
        assert loaded is not None and loaded.fees_usd == Decimal("0.0123456789")
        await store.record_close(make_trade(fees_usd=Decimal("1.05"), pnl_usd=Decimal("-0.98"), notes="fees"))
        await store.record_close(make_trade(notes="none reported", exit_time=T0 + timedelta(hours=3)))
        unknown, known = await store.list_trades()
        assert (known.notes, known.fees_usd, known.pnl_usd) == ("fees", Decimal("1.05"), Decimal("-0.98"))
        assert (unknown.notes, unknown.fees_usd) == ("none reported", None)

    async def test_record_partial_close_records_the_part_and_keeps_the_rest(self, store: Store) -> None:
        await store.upsert_position(make_position(quantity=Decimal("3"), fees_usd=Decimal("0.3")))
        await store.upsert_position(make_position(exchange="aster"))
        held = await store.get_position("user-1", "paper", "BTCUSDT")
        assert held is not None
        rest = replace(held, quantity=Decimal("2"), position_size_usd=Decimal("54000.2"), fees_usd=Decimal("0.2"),
                       stop_loss_order_id=None)
        part = make_trade(quantity=Decimal("1"), fees_usd=Decimal("0.15"), exit_reason="PARTIAL_CLOSE")
        await store.record_partial_close(part, rest)

        (trade,) = await store.list_trades()
        assert replace(trade, id=None, created_at=None) == part
        kept = await store.get_position("user-1", "paper", "BTCUSDT")
        assert kept is not None and (kept.id, kept.created_at) == (held.id, held.created_at)
        assert (kept.quantity, kept.position_size_usd, kept.fees_usd) == (
            Decimal("2"), Decimal("54000.2"), Decimal("0.2"))
        assert (kept.stop_loss_order_id, kept.take_profit_order_id) == (None, "o-tp")
        other = await store.get_position("user-1", "aster", "BTCUSDT")
        assert other is not None and other.quantity == Decimal("0.00012345")

    async def test_record_partial_close_without_a_stored_position_stores_the_rest(self, store: Store) -> None:
        rest = make_position(quantity=Decimal("2"), notes="Closed without a Sparky record")
        await store.record_partial_close(make_trade(quantity=Decimal("1")), rest)
        kept = await store.get_position("user-1", "paper", "BTCUSDT")
        assert kept is not None and (kept.quantity, kept.notes) == (Decimal("2"), "Closed without a Sparky record")
        assert len(await store.list_trades()) == 1

    # an execution's rows with its request's final status

    async def test_finish_execution_records_the_position_with_the_status(self, store: Store) -> None:
        record = make_request()
        await store.insert_webhook_request(record)
        await store.finish_execution(record.id, RequestStatus.SUCCESS, error_message=None,
                                     result={"action": "opened"}, http_status=200,
                                     writes=[PositionWrite(make_position())])
        loaded = await store.get_webhook_request(record.id)
        assert loaded is not None
        assert (loaded.status, loaded.result, loaded.http_status) == (RequestStatus.SUCCESS, {"action": "opened"}, 200)
        assert loaded.processed_at is not None
        position = await store.get_position("user-1", "paper", "BTCUSDT")
        assert position is not None and position.quantity == Decimal("0.00012345")
        assert position.id is not None and position.created_at is not None

    async def test_finish_execution_records_the_close_with_the_status(self, store: Store) -> None:
        record = make_request(action="close")
        await store.insert_webhook_request(record)
        await store.upsert_position(make_position())
        trade = make_trade()
        await store.finish_execution(record.id, RequestStatus.SUCCESS, error_message=None,
                                     result={"action": "closed"}, http_status=200, writes=[CloseWrite(trade)])
        assert (await store.get_webhook_request(record.id)).status is RequestStatus.SUCCESS  # type: ignore[union-attr]
        assert await store.get_position("user-1", "paper", "BTCUSDT") is None
        (loaded,) = await store.list_trades(user_id="user-1")
        assert replace(loaded, id=None, created_at=None) == trade

    async def test_finish_execution_writes_in_the_order_given(self, store: Store) -> None:
        """A reversal: the old position's trade (which deletes its row), then the new position."""
        record = make_request(action="sell")
        await store.insert_webhook_request(record)
        await store.upsert_position(make_position())
        short = make_position(side="SELL", entry_price=Decimal("27500.25"), entry_order_id="o-short")
        await store.finish_execution(record.id, RequestStatus.SUCCESS, error_message=None, result=None,
                                     http_status=200, writes=[CloseWrite(make_trade()), PositionWrite(short)])
        position = await store.get_position("user-1", "paper", "BTCUSDT")
        assert position is not None and (position.side, position.entry_order_id) == ("SELL", "o-short")
        assert [t.side for t in await store.list_trades()] == ["BUY"]

    async def test_finish_execution_without_writes_finishes_the_request(self, store: Store) -> None:
        record = make_request()
        await store.insert_webhook_request(record)
        await store.finish_execution(record.id, RequestStatus.FAILED, error_message="venue down", result=None,
                                     http_status=200)
        loaded = await store.get_webhook_request(record.id)
        assert loaded is not None and (loaded.status, loaded.error_message) == (RequestStatus.FAILED, "venue down")

    async def test_finish_execution_needs_a_terminal_status_and_then_writes_nothing(self, store: Store) -> None:
        record = make_request()
        await store.insert_webhook_request(record)
        with pytest.raises(ValueError):
            await store.finish_execution(record.id, RequestStatus.PENDING, error_message=None, result=None,
                                         http_status=None, writes=[PositionWrite(make_position())])
        assert await store.get_position("user-1", "paper", "BTCUSDT") is None
        assert (await store.get_webhook_request(record.id)).status is RequestStatus.PENDING  # type: ignore[union-attr]

    async def test_finish_execution_leaves_a_terminal_request_as_it_is(self, store: Store) -> None:
        """Its rows are still written: they are what happened on the venue."""
        record = make_request()
        await store.insert_webhook_request(record)
        await store.finish_webhook_request(record.id, RequestStatus.EXPIRED, error_message="late", result=None,
                                           http_status=200)
        first = await store.get_webhook_request(record.id)
        await store.finish_execution(record.id, RequestStatus.SUCCESS, error_message=None, result={"n": 2},
                                     http_status=200, writes=[PositionWrite(make_position())])
        assert await store.get_webhook_request(record.id) == first
        assert await store.get_position("user-1", "paper", "BTCUSDT") is not None

    async def test_record_execution_writes_in_order(self, store: Store) -> None:
        await store.upsert_position(make_position())
        short = make_position(side="SELL", entry_order_id="o-short")
        await store.record_execution([CloseWrite(make_trade()), PositionWrite(short)])
        position = await store.get_position("user-1", "paper", "BTCUSDT")
        assert position is not None and position.side == "SELL"
        assert len(await store.list_trades()) == 1
        await store.record_execution([])  # nothing to write: nothing happens

    async def test_list_trades_most_recent_first_with_limit(self, store: Store) -> None:
        for hours in (1, 3, 2):
            await store.record_close(
                make_trade(exit_time=T0 + timedelta(hours=hours), notes=f"h{hours}")
            )
        trades = await store.list_trades()
        assert [t.notes for t in trades] == ["h3", "h2", "h1"]
        assert [t.notes for t in await store.list_trades(limit=2)] == ["h3", "h2"]
        assert await store.list_trades(limit=0) == []

    async def test_list_trades_filters(self, store: Store) -> None:
        await store.record_close(make_trade(symbol="BTCUSDT"))
        await store.record_close(make_trade(symbol="ETHUSDT"))
        await store.record_close(make_trade(user_id="user-2", symbol="BTCUSDT"))
        assert len(await store.list_trades()) == 3
        assert {t.symbol for t in await store.list_trades(user_id="user-1")} == {
            "BTCUSDT",
            "ETHUSDT",
        }
        assert [t.user_id for t in await store.list_trades(symbol="ETHUSDT")] == ["user-1"]
        btc = await store.list_trades(user_id="user-2", symbol="BTCUSDT")
        assert [(t.user_id, t.symbol) for t in btc] == [("user-2", "BTCUSDT")]

    # resting_entries

    async def test_resting_entry_round_trip(self, store: Store) -> None:
        entry = make_resting_entry()
        await store.put_resting_entry(entry)
        loaded = await store.get_resting_entry("user-1", "paper", "BTCUSDT")
        assert loaded is not None and loaded is not entry
        uuid.UUID(loaded.id or "")
        assert replace(loaded, id=None) == entry
        assert str(loaded.take_profit_price) == "27040.000000001"  # exactly, not through a float
        assert isinstance(loaded.limit_price, Decimal) and loaded.created_at.utcoffset() == timedelta(0)
        assert entry.id is None  # the caller's record is not modified

    async def test_a_resting_entry_is_not_a_position(self, store: Store) -> None:
        await store.put_resting_entry(make_resting_entry())
        assert await store.list_positions() == []
        assert await store.get_position("user-1", "paper", "BTCUSDT") is None

    async def test_one_resting_entry_per_key_the_new_one_replaces_the_old(self, store: Store) -> None:
        await store.put_resting_entry(make_resting_entry())
        newer = make_resting_entry(side="SELL", limit_price=Decimal("28000"), client_order_id="sp-new-e",
                                   order_id="o-new", created_at=T0 + timedelta(minutes=5), stop_loss_price=None)
        await store.put_resting_entry(newer)
        (only,) = await store.list_resting_entries()
        assert replace(only, id=None) == newer

    async def test_delete_resting_entry_drops_only_that_entry(self, store: Store) -> None:
        older = make_resting_entry()
        await store.put_resting_entry(older)
        newer = make_resting_entry(client_order_id="sp-new-e", order_id="o-new")
        await store.put_resting_entry(newer)
        await store.delete_resting_entry(older)  # a stale look at the key: the newer entry stays
        loaded = await store.get_resting_entry("user-1", "paper", "BTCUSDT")
        assert loaded is not None and loaded.client_order_id == "sp-new-e"
        await store.delete_resting_entry(newer)
        assert await store.get_resting_entry("user-1", "paper", "BTCUSDT") is None
        await store.delete_resting_entry(newer)  # missing: silent

    async def test_list_resting_entries_filters_and_orders_oldest_first(self, store: Store) -> None:
        await store.put_resting_entry(make_resting_entry(symbol="ETHUSDT", created_at=T0 + timedelta(hours=1)))
        await store.put_resting_entry(make_resting_entry(symbol="BTCUSDT", created_at=T0))
        await store.put_resting_entry(make_resting_entry(exchange="oanda", symbol="EUR_USD", created_at=T0))
        await store.put_resting_entry(make_resting_entry(user_id="user-2", created_at=T0))
        mine = await store.list_resting_entries(user_id="user-1")
        assert [(e.exchange, e.symbol) for e in mine][-1] == ("paper", "ETHUSDT")
        assert {(e.exchange, e.symbol) for e in mine} == {("paper", "BTCUSDT"), ("paper", "ETHUSDT"),
                                                           ("oanda", "EUR_USD")}
        paper = await store.list_resting_entries(user_id="user-1", exchange="paper")
        assert [e.symbol for e in paper] == ["BTCUSDT", "ETHUSDT"]
        assert [e.user_id for e in await store.list_resting_entries(exchange="oanda")] == ["user-1"]
        assert len(await store.list_resting_entries()) == 4
        assert await store.get_resting_entry("user-2", "oanda", "EUR_USD") is None
