"""What the dashboard reads from the rows Sparky writes, on both stores: a strategy named in an alert
is on its position and trade and its counters follow every close; close, take-profit and stop-loss
notifications carry the original's types and metadata."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from decimal import Decimal as D
from typing import Any

import pytest
import respx

from sparky.store.tenants import CredentialRecord, LocalUser, StrategyRecord, secret_digest
from tests.conftest import Sparky

ALICE = "11111111-1111-4111-8111-111111111111"
SECRET = "alice-secret-8c1f2e"


class Dashboard:
    """A running server with Alice (plan Pro, her own secret) and her active strategy `Breakout`,
    and a way to read the strategy's counters from the table the dashboard reads."""

    def __init__(self, server: Sparky, counters: Any) -> None:
        self.server, self._counters = server, counters
        self.strategy_id = ""

    async def alert(self, **fields: Any) -> dict:
        body = {"secret": SECRET, "exchange": "paper", "symbol": "BTCUSDT", "price": 27000, **fields}
        response = await self.server.client.post("/webhook", json=body)
        assert response.status_code == 200, response.text
        return response.json()

    def counters(self) -> tuple[int, int]:
        return self._counters(self.strategy_id)

    async def notifications(self) -> list[Any]:
        await self.server.services.notifier.drain()
        return list(reversed(await self.server.services.store.list_notifications(ALICE)))


@asynccontextmanager
async def _sqlite(start: Any, data_dir: Any) -> AsyncIterator[tuple[Sparky, Any]]:
    async with start() as server:
        await server.services.store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))

        def counters(strategy_id: str) -> tuple[int, int]:
            with closing(sqlite3.connect(server.services.settings.database_path)) as db:
                return db.execute("SELECT total_trades, winning_trades FROM strategies WHERE id = ?",
                                  (strategy_id,)).fetchone()
        yield server, counters


@asynccontextmanager
async def _supabase(start: Any, data_dir: Any) -> AsyncIterator[tuple[Sparky, Any]]:
    from tests.unit.store.supabase.test_store import KEY, REST, URL, FakePostgrest

    fake = FakePostgrest()
    fake.tables["subscriptions"].append({"id": "sub-1", "user_id": ALICE, "plan": "Pro", "status": "active"})
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=REST).mock(side_effect=fake)
        async with start(supabase_url=URL, supabase_service_role_key=KEY) as server:
            def counters(strategy_id: str) -> tuple[int, int]:
                [row] = [s for s in fake.tables["strategies"] if s["id"] == strategy_id]
                return row.get("total_trades") or 0, row.get("winning_trades") or 0
            yield server, counters


@pytest.fixture(params=["sqlite", "supabase"])
async def dashboard(request: Any, start: Any, data_dir: Any) -> AsyncIterator[Dashboard]:
    backend = _sqlite if request.param == "sqlite" else _supabase
    async with backend(start, data_dir) as (server, counters):
        store = server.services.store
        await store.upsert_credentials(CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest(SECRET)))
        await server.services.secrets.refresh()
        dashboard = Dashboard(server, counters)
        dashboard.strategy_id = (await store.upsert_strategy(
            StrategyRecord(ALICE, "Breakout", status="active"))).id
        yield dashboard


# ------------------------------------------------------------------ strategies
async def test_a_strategy_named_in_an_alert_is_on_the_position_and_the_trade(dashboard: Dashboard) -> None:
    opened = await dashboard.alert(action="buy", strategy="Breakout", position_size_usd=2700)
    assert opened["action"] == "opened", opened
    store = dashboard.server.services.store
    [position] = await store.list_positions(user_id=ALICE)
    assert position.strategy_id == dashboard.strategy_id
    request = await store.get_webhook_request(opened["request_id"])
    assert request.strategy_id == dashboard.strategy_id

    assert (await dashboard.alert(action="close", strategy="Breakout", price=27270))["action"] == "closed"
    [trade] = await store.list_trades(user_id=ALICE)
    assert trade.strategy_id == dashboard.strategy_id
    assert dashboard.counters() == (1, 1)


async def test_concurrent_closes_count_every_trade_on_the_strategy(dashboard: Dashboard) -> None:
    entries = {"BTCUSDT": (27000, 27270), "ETHUSDT": (1800, 1782), "SOLUSDT": (100, 101)}  # win, loss, win
    opened = await asyncio.gather(*(
        dashboard.alert(action="buy", strategy="Breakout", symbol=symbol, price=entry, position_size_usd=270)
        for symbol, (entry, _exit) in entries.items()))
    assert [o["action"] for o in opened] == ["opened"] * 3, opened
    closed = await asyncio.gather(*(
        dashboard.alert(action="close", symbol=symbol, price=exit_) for symbol, (_entry, exit_) in entries.items()))
    assert [c["action"] for c in closed] == ["closed"] * 3, closed
    trades = await dashboard.server.services.store.list_trades(user_id=ALICE)
    assert {t.strategy_id for t in trades} == {dashboard.strategy_id}
    assert dashboard.counters() == (3, 2)


# ------------------------------------------------------------------ notifications
@pytest.mark.parametrize(("exit_price", "kind", "pnl", "percent"), [
    (27270, "success", 27.0, 1.0),    # 0.1 BTC from 27000 to 27270
    (26730, "warning", -27.0, -1.0),
])
async def test_a_close_is_notified_as_success_or_warning_with_its_pnl(
        dashboard: Dashboard, exit_price: int, kind: str, pnl: float, percent: float) -> None:
    await dashboard.alert(action="buy", position_size_usd=2700)
    await dashboard.alert(action="close", price=exit_price)
    closing = [n for n in await dashboard.notifications() if n.title == "Closed BTCUSDT"]
    assert [(n.type, n.metadata["pnl"], n.metadata["pnlPercent"]) for n in closing] == [(kind, pnl, percent)]


@pytest.mark.parametrize(("price", "title", "kind", "pnl", "percent"), [
    (27540, "Take Profit hit on BTCUSDT", "success", 54.0, 2.0),   # the take-profit at 2 %
    (26460, "Stop Loss hit on BTCUSDT", "warning", -54.0, -2.0),   # the stop at 2 %
])
async def test_exits_the_venue_filled_are_notified_as_success_or_warning_with_their_pnl(
        dashboard: Dashboard, price: int, title: str, kind: str, pnl: float, percent: float) -> None:
    await dashboard.alert(action="buy", position_size_usd=2700, stop_loss_percent=2, take_profit_percent=2)
    paper = await dashboard.server.services.accounts.get(ALICE, "paper")
    await paper.note_price("BTCUSDT", D(price))
    await dashboard.alert(action="close", price=price)  # finds the position closed by its exit
    exits = [n for n in await dashboard.notifications() if n.title == title]
    assert [(n.type, n.metadata["pnl"], n.metadata["pnlPercent"]) for n in exits] == [(kind, pnl, percent)]


async def test_the_dashboards_two_preferences_are_stored(dashboard: Dashboard) -> None:
    store = dashboard.server.services.store
    await store.set_notification_preferences(ALICE, {"notify_protection_order_placed": False,
                                                     "notify_ai_ideas": False})
    preferences = await store.notification_preferences(ALICE)
    assert (preferences["notify_protection_order_placed"], preferences["notify_ai_ideas"]) == (False, False)
