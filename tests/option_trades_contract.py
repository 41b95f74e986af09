"""The `OptionTradeStore` contract: the `tradier_option_trades` rows the options executor writes and
the options monitor follows.

`StoreContract` inherits it, so it runs against every adapter's `store` fixture (SQLite on a real
file, Supabase through supabase-py against the in-memory PostgREST). User ids are UUIDs, as in
auth.users.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from sparky.store.option_trades import OptionTradeRecord

ALICE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
BOB = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


def option_trade(user_id: str = ALICE, **overrides: Any) -> OptionTradeRecord:
    values: dict[str, Any] = {
        "underlying_symbol": "SPY", "option_symbol": "SPY260619C00500000", "option_type": "call",
        "strike_price": Decimal("500"), "expiration_date": date(2026, 6, 19), "quantity_contracts": Decimal(3),
        "entry_order_id": "1001", "entry_limit_price": Decimal("2.35"), "tp_limit_price": Decimal("3.55"),
        "sl_stop_price": Decimal("1.15"), "cost_usd": Decimal("705.00"),
        "entry_order": {"id": 1001, "class": "otoco", "status": "pending"},
        "config_snapshot": {"min_days_to_expiry": 1, "strike_tolerance_percent": "2.5"},
        "extra_metadata": {"request_id": "req-1", "environment": "sandbox"},
    }  # fmt: skip
    values.update(overrides)
    return OptionTradeRecord(user_id=user_id, **values)


class OptionTradeStoreContract:
    """Tests every `OptionTradeStore` adapter inherits (through `StoreContract`)."""

    async def test_option_trade_round_trip(self, store: Any) -> None:
        added = await store.add_option_trade(option_trade())
        assert added.id and added.created_at and added.updated_at
        assert added.created_at.utcoffset() == timedelta(0)
        [loaded] = await store.option_trades(user_id=ALICE)
        assert loaded == added
        assert (loaded.option_symbol, loaded.option_type, loaded.strike_price, loaded.expiration_date) == (
            "SPY260619C00500000", "call", Decimal("500"), date(2026, 6, 19))
        assert (loaded.quantity_contracts, loaded.entry_limit_price, loaded.sl_stop_price, loaded.cost_usd) == (
            Decimal(3), Decimal("2.35"), Decimal("1.15"), Decimal("705.00"))
        assert loaded.entry_order == {"id": 1001, "class": "otoco", "status": "pending"}
        assert loaded.config_snapshot == {"min_days_to_expiry": 1, "strike_tolerance_percent": "2.5"}
        assert loaded.extra_metadata == {"request_id": "req-1", "environment": "sandbox"}

    async def test_option_trade_defaults_are_the_tables(self, store: Any) -> None:
        added = await store.add_option_trade(OptionTradeRecord(
            user_id=ALICE, underlying_symbol="QQQ", option_symbol="QQQ260619P00400000", option_type="put",
            strike_price=Decimal(400), expiration_date=date(2026, 6, 19), quantity_contracts=Decimal(1)))
        assert (added.status, added.contract_size, added.config_snapshot, added.extra_metadata) == (
            "pending_entry", 100, {}, {})
        assert (added.tp_order_id, added.sl_order_id, added.pnl_usd, added.strategy) == (None, None, None, None)

    async def test_option_trades_filter_and_keep_their_order(self, store: Any) -> None:
        first = await store.add_option_trade(option_trade())
        second = await store.add_option_trade(option_trade(option_symbol="SPY260619P00490000", option_type="put",
                                                           status="open"))
        await store.add_option_trade(option_trade(underlying_symbol="QQQ", option_symbol="QQQ260619C00400000"))
        await store.add_option_trade(option_trade(BOB))
        mine = await store.option_trades(user_id=ALICE, underlying="SPY")
        assert [t.id for t in mine] == [first.id, second.id]
        assert [t.id for t in await store.option_trades(user_id=ALICE, statuses=("open",))] == [second.id]
        found = await store.option_trades(option_symbol="SPY260619P00490000")
        assert [t.id for t in found] == [second.id]
        assert await store.option_trades(statuses=()) == []
        assert len(await store.option_trades()) == 4
        assert [t.user_id for t in await store.option_trades(user_id=BOB)] == [BOB]

    async def test_update_option_trade_changes_only_what_it_names(self, store: Any) -> None:
        added = await store.add_option_trade(option_trade())
        updated = await store.update_option_trade(
            added.id, status="open", tp_order_id="1002", sl_order_id="1003",
            tp_leg={"id": 1002, "status": "open"}, pnl_usd=Decimal("-12.5"))
        assert updated is not None
        assert updated == replace(added, status="open", tp_order_id="1002", sl_order_id="1003",
                                  tp_leg={"id": 1002, "status": "open"}, pnl_usd=Decimal("-12.5"),
                                  updated_at=updated.updated_at)
        assert updated.updated_at >= added.updated_at
        [loaded] = await store.option_trades(user_id=ALICE)
        assert loaded == updated

    async def test_update_of_an_unknown_option_trade_is_none(self, store: Any) -> None:
        assert await store.update_option_trade(str(uuid.uuid4()), status="closed") is None

    @pytest.mark.parametrize("changes", [{"status": "filled"}, {"user_id": BOB}, {"id": "x"}, {"no_such": 1},
                                         {"option_type": "straddle"}])
    async def test_a_refused_update_changes_nothing(self, store: Any, changes: dict[str, Any]) -> None:
        added = await store.add_option_trade(option_trade())
        with pytest.raises(ValueError):
            await store.update_option_trade(added.id, **changes)
        assert await store.option_trades() == [added]

    @pytest.mark.parametrize("bad", [{"status": "filled"}, {"option_type": "C"}, {"option_symbol": ""},
                                     {"quantity_contracts": Decimal(-1)}, {"expiration_date": "2026-06-19"}])
    async def test_a_refused_option_trade_stores_nothing(self, store: Any, bad: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            await store.add_option_trade(option_trade(**bad))
        assert await store.option_trades() == []
