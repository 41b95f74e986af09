"""SupabaseStore keeps the paper venue's positions and trades in `paper_positions` / `paper_trades`
(migrations/0020), never in the `positions` / `trades` the dashboard sums as the user's results;
every other venue's stay where they were. Against the in-memory PostgREST of test_store.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import respx

pytest.importorskip("supabase", reason="supabase-py is not installed (pip install supabase)")

from sparky.store.supabase.store import SupabaseStore  # noqa: E402
from sparky.store.tenants import WeeklyTradeStats  # noqa: E402
from tests.store_contract import T0, make_position, make_trade  # noqa: E402
from tests.unit.store.supabase.test_store import KEY, REST, URL, FakePostgrest  # noqa: E402

USER = "user-1"


@pytest.fixture
async def db() -> AsyncIterator[tuple[SupabaseStore, FakePostgrest]]:
    fake = FakePostgrest()
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=REST).mock(side_effect=fake)
        store = SupabaseStore(URL, KEY)
        await store.open()
        yield store, fake
        await store.aclose()


def exchanges(fake: FakePostgrest, table: str) -> list[str]:
    return [row["exchange"] for row in fake.tables[table]]


async def test_a_paper_close_is_written_to_paper_trades_and_nothing_to_trades(db: Any) -> None:
    store, fake = db
    await store.upsert_position(make_position(user_id=USER, exchange="paper", strategy_id=None))
    assert exchanges(fake, "positions") == [] and exchanges(fake, "paper_positions") == ["paper"]

    await store.record_close(make_trade(user_id=USER, exchange="paper", strategy_id=None))
    assert fake.tables["trades"] == [] and exchanges(fake, "paper_trades") == ["paper"]
    assert fake.tables["paper_positions"] == []  # the close removed it
    [trade] = await store.list_trades(user_id=USER)  # the server still finds what it recorded
    assert trade.exchange == "paper" and trade.pnl_usd == Decimal("0.0617435175")


async def test_a_live_close_still_goes_to_trades(db: Any) -> None:
    store, fake = db
    await store.upsert_position(make_position(user_id=USER, exchange="aster", strategy_id=None))
    await store.record_close(make_trade(user_id=USER, exchange="aster", strategy_id=None))
    assert exchanges(fake, "trades") == ["aster"]
    assert fake.tables["paper_trades"] == [] and fake.tables["positions"] == []


async def test_a_paper_partial_close_stays_in_the_paper_tables(db: Any) -> None:
    store, fake = db
    await store.upsert_position(make_position(user_id=USER, exchange="paper", strategy_id=None))
    rest = make_position(user_id=USER, exchange="paper", strategy_id=None, quantity=Decimal("0.00002"))
    await store.record_partial_close(make_trade(user_id=USER, exchange="paper", strategy_id=None), rest)
    assert fake.tables["trades"] == [] and fake.tables["positions"] == []
    left = await store.get_position(USER, "paper", rest.symbol)
    assert left is not None and left.quantity == Decimal("0.00002")


async def test_reads_and_risk_counts_see_paper_and_live_as_before(db: Any) -> None:
    store, _ = db
    await store.upsert_position(make_position(user_id=USER, exchange="paper", symbol="BTCUSDT", entry_time=T0,
                                              strategy_id=None))
    await store.upsert_position(make_position(user_id=USER, exchange="aster", symbol="ETHUSDT",
                                              entry_time=T0 + timedelta(minutes=1), strategy_id=None))
    assert [(p.exchange, p.symbol) for p in await store.list_positions(user_id=USER)] == [
        ("paper", "BTCUSDT"), ("aster", "ETHUSDT")]
    assert [p.exchange for p in await store.list_positions(exchange="paper")] == ["paper"]
    assert await store.count_open_positions(USER) == 2
    assert await store.count_open_positions(USER, "paper") == 1
    await store.record_close(make_trade(user_id=USER, exchange="paper", symbol="SOLUSDT", pnl_usd=Decimal("-3"),
                                        entry_time=T0, exit_time=T0 + timedelta(hours=1), strategy_id=None))
    assert await store.weekly_trade_stats(USER, "paper", T0 - timedelta(days=1)) == WeeklyTradeStats(2, Decimal(3))
    assert await store.weekly_trade_stats(USER, "aster", T0 - timedelta(days=1)) == WeeklyTradeStats(1, Decimal(0))
    await store.delete_position(USER, "paper", "BTCUSDT")
    assert [p.exchange for p in await store.list_positions()] == ["aster"]
