"""Limits that count entries hold when alerts arrive together, and a strategy's status never keeps
a user in its positions. Through the real app, on the paper venue."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from sparky.exchanges.base import Order, OrderRequest
from sparky.store.base import RequestStatus
from sparky.store.tenants import StrategyRecord, TradeSettings
from tests.conftest import Sparky
from tests.e2e.test_multi_tenant import ALICE, add_user, post

#: a bounded wait for something the test made happen (never a timing assertion)
WAIT_SEC = 10


class HeldVenue:
    """The venue takes its time with the orders of one symbol: they wait until `release()`.
    Wraps the user's paper account, which still does all the work."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, paper: object, symbol: str) -> None:
        self.reached = asyncio.Event()
        self._released = asyncio.Event()
        place: Callable[[OrderRequest], Awaitable[Order]] = paper.place_order  # type: ignore[attr-defined]

        async def place_order(request: OrderRequest) -> Order:
            if request.symbol == symbol and not self._released.is_set():
                self.reached.set()
                await self._released.wait()
            return await place(request)

        monkeypatch.setattr(paper, "place_order", place_order)

    async def wait_reached(self) -> None:
        await asyncio.wait_for(self.reached.wait(), WAIT_SEC)

    def release(self) -> None:
        self._released.set()


@pytest.fixture
async def tenants(start):
    async with start() as sparky:
        await add_user(sparky, ALICE)
        await sparky.services.secrets.refresh()
        yield sparky


async def finished(sparky: Sparky, answer: dict) -> tuple[RequestStatus, dict]:
    """How an accepted request (202, still executing) ended: its row's status and answer."""
    assert answer["status"] == 202, answer
    await sparky.services.dispatcher.wait_idle()
    row = await sparky.services.store.get_webhook_request(answer["request_id"])
    return row.status, row.result


async def limits(sparky: Sparky, **values) -> None:
    await sparky.services.store.upsert_trade_settings(TradeSettings(ALICE, "paper", **values))
    sparky.services.gates.reload()


ENTRY = {"action": "buy", "price": 10, "position_size_usd": 50}


async def test_six_concurrent_entries_with_two_trades_a_week_open_exactly_two(tenants: Sparky) -> None:
    await limits(tenants, max_trades_per_week=2)
    results = await asyncio.gather(*(post(tenants, ALICE, symbol=f"W{i}USDT", **ENTRY) for i in range(6)))

    assert sorted(r["status"] for r in results) == [200, 200, 429, 429, 429, 429]
    assert sorted(r["action"] for r in results) == ["opened"] * 2 + ["rejected"] * 4
    refused = [r for r in results if r["status"] == 429]
    assert all(r["data"] == {"limitType": "max_trades_per_week", "current": 2, "limit": 2} for r in refused)
    assert all(r["message"].startswith("Maximum trades per week reached on paper: 2 of 2 this week")
               for r in refused)
    store = tenants.services.store
    assert await store.count_open_positions(ALICE, "paper") == 2
    paper = await tenants.services.accounts.get(ALICE, "paper")
    assert len(await paper.positions()) == 2  # the venue received exactly two entries
    for r in refused:
        row = await store.get_webhook_request(r["request_id"])
        assert (row.status, row.http_status) == (RequestStatus.REJECTED, 429)
    await tenants.services.notifier.drain()
    titles = [n.title for n in await store.list_notifications(ALICE)]
    assert titles.count("Risk limit reached") >= 1


async def test_a_loss_realised_while_an_entry_waits_refuses_that_entry(start, monkeypatch) -> None:
    async with start(sync_budget_ms=0) as sparky:  # every answer is 202 once the request is recorded
        await add_user(sparky, ALICE)
        await sparky.services.secrets.refresh()
        await limits(sparky, max_loss_per_week_usd=10)
        # long 10 XUSDT at 10; reversing at 8 loses $20, twice the weekly limit
        opened = await post(sparky, ALICE, symbol="XUSDT", action="buy", price=10, position_size_usd=100,
                            stop_loss_percent=50)
        assert (await finished(sparky, opened))[1]["action"] == "opened"
        venue = HeldVenue(monkeypatch, await sparky.services.accounts.get(ALICE, "paper"), "XUSDT")
        reversal = await post(sparky, ALICE, symbol="XUSDT", action="sell", price=8, position_size_usd=100)
        await venue.wait_reached()  # the reversal is closing the long: its loss is not recorded yet

        # admitted by the early check (no loss this week yet) and recorded, then refused when entering
        entry = await post(sparky, ALICE, symbol="YUSDT", **ENTRY)
        venue.release()
        status, answer = await finished(sparky, reversal)
        assert (status, answer["action"], answer["reversed"]["pnl"]["usd"]) == (RequestStatus.SUCCESS, "reversed", -20)
        status, answer = await finished(sparky, entry)
        assert (status, answer["error"]) == (RequestStatus.REJECTED, "Risk limit exceeded")
        assert answer["data"] == {"limitType": "max_loss_per_week_usd", "current": 20, "limit": 10}
        assert await sparky.services.store.get_position(ALICE, "paper", "YUSDT") is None
        paper = await sparky.services.accounts.get(ALICE, "paper")
        assert [p.symbol for p in await paper.positions()] == ["XUSDT"]


async def test_an_exit_of_a_paused_strategy_still_closes_and_its_entries_are_refused(tenants: Sparky) -> None:
    store = tenants.services.store
    await store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="active"))
    for symbol in ("AUSDT", "BUSDT", "CUSDT", "DUSDT", "EUSDT"):
        opened = await post(tenants, ALICE, symbol=symbol, strategy="Momentum", **ENTRY)
        assert opened["action"] == "opened"
    assert (await post(tenants, ALICE, symbol="FUSDT", action="sell", price=10, position_size_usd=50,
                       strategy="Momentum"))["action"] == "opened"
    await store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="inactive"))  # paused in the dashboard
    tenants.services.gates.reload()

    exits = [
        await post(tenants, ALICE, symbol="AUSDT", action="close", price=11, strategy="Momentum"),
        await post(tenants, ALICE, symbol="BUSDT", action="close_long", price=11, strategy="Momentum"),
        await post(tenants, ALICE, symbol="CUSDT", action="flat", price=11, strategy="Momentum"),
        # TradingView's strategy alert: sell taking the position to flat closes the long
        await post(tenants, ALICE, symbol="DUSDT", action="sell", sentiment="flat", price=11, strategy="Momentum"),
        await post(tenants, ALICE, symbol="FUSDT", action="close_short", price=9, strategy="Momentum"),
    ]
    assert [(r["status"], r["action"]) for r in exits] == [(200, "closed")] * 5
    assert [p.symbol for p in await store.list_positions(user_id=ALICE)] == ["EUSDT"]
    assert sorted(t.symbol for t in await store.list_trades(user_id=ALICE)) == [
        "AUSDT", "BUSDT", "CUSDT", "DUSDT", "FUSDT"]

    for entry in ({"symbol": "GUSDT", **ENTRY}, {"symbol": "EUSDT", "action": "sell", "price": 11}):
        refused = await post(tenants, ALICE, strategy="Momentum", **entry)
        assert (refused["status"], refused["action"]) == (200, "rejected")
        assert refused["message"] == "Strategy 'Momentum' not found or inactive"
    assert [p.symbol for p in await store.list_positions(user_id=ALICE)] == ["EUSDT"]  # not reversed


async def test_an_exit_naming_a_deleted_strategy_still_closes(tenants: Sparky) -> None:
    opened = await post(tenants, ALICE, symbol="AUSDT", **ENTRY)
    assert opened["action"] == "opened"
    closed = await post(tenants, ALICE, symbol="AUSDT", action="close", price=11, strategy="Gone")
    assert (closed["status"], closed["action"]) == (200, "closed")
    assert await tenants.services.store.list_positions(user_id=ALICE) == []
