"""Trade settings the SignalStudio dashboard offers: `max_trades_per_day` and
`max_position_size_usd`. Through the real app, on the paper venue."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from sparky.store.base import RequestStatus, TradeRecord, utcnow
from sparky.store.tenants import TradeSettings
from tests.conftest import Sparky
from tests.e2e.test_multi_tenant import ALICE, add_user, post


@pytest.fixture
async def tenants(start):
    async with start() as sparky:
        await add_user(sparky, ALICE)
        await sparky.services.secrets.refresh()
        yield sparky


async def settings(sparky: Sparky, **values) -> None:
    await sparky.services.store.upsert_trade_settings(TradeSettings(ALICE, "paper", **values))
    sparky.services.gates.reload()


ENTRY = {"action": "buy", "price": 10, "position_size_usd": 50}


async def test_two_trades_a_day_refuse_the_third_entry_of_the_utc_day_but_never_an_exit(tenants: Sparky) -> None:
    store = tenants.services.store
    midnight = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    # entered and closed one minute before midnight UTC: yesterday's trade, not today's
    await store.record_close(TradeRecord(
        ALICE, "paper", "OLDUSDT", "BUY", Decimal(10), midnight - timedelta(minutes=1), Decimal(11),
        midnight - timedelta(seconds=30), Decimal(5), Decimal(50), Decimal(5), Decimal(10), True, "MANUAL"))
    await settings(tenants, max_trades_per_day=2)

    first = await post(tenants, ALICE, symbol="AUSDT", **ENTRY)
    second = await post(tenants, ALICE, symbol="BUSDT", **ENTRY)
    third = await post(tenants, ALICE, symbol="CUSDT", **ENTRY)

    assert [(r["status"], r["action"]) for r in (first, second)] == [(200, "opened")] * 2
    assert (third["status"], third["error"]) == (429, "Risk limit exceeded")
    assert third["data"] == {"limitType": "max_trades_per_day", "current": 2, "limit": 2}
    tomorrow = (midnight + timedelta(days=1)).strftime("%Y-%m-%d")
    assert third["message"].startswith(f"Maximum trades per day reached on paper: 2 of 2 today; resets {tomorrow}")
    row = await store.get_webhook_request(third["request_id"])
    assert (row.status, row.http_status) == (RequestStatus.REJECTED, 429)
    paper = await tenants.services.accounts.get(ALICE, "paper")
    assert sorted(p.symbol for p in await paper.positions()) == ["AUSDT", "BUSDT"]  # the venue got two entries

    closed = await post(tenants, ALICE, symbol="AUSDT", action="close", price=11)
    assert (closed["status"], closed["action"]) == (200, "closed")
    assert [p.symbol for p in await paper.positions()] == ["BUSDT"]


async def test_a_max_position_size_caps_a_larger_alert(tenants: Sparky) -> None:
    await settings(tenants, max_position_size_usd=Decimal(500))

    opened = await post(tenants, ALICE, symbol="AUSDT", action="buy", price=10, position_size_usd=2000)

    assert (opened["status"], opened["action"]) == (200, "opened")
    paper = await tenants.services.accounts.get(ALICE, "paper")
    [position] = await paper.positions()
    assert position.quantity == 50  # $500 at 10, not the $2,000 asked
    stored = await tenants.services.store.get_position(ALICE, "paper", "AUSDT")
    assert (stored.quantity, stored.position_size_usd) == (50, 500)


async def test_a_smaller_alert_and_an_exit_are_not_changed_by_the_cap(tenants: Sparky) -> None:
    await settings(tenants, max_position_size_usd=Decimal(500))

    opened = await post(tenants, ALICE, symbol="AUSDT", action="buy", price=10, position_size_usd=200)
    closed = await post(tenants, ALICE, symbol="AUSDT", action="close", price=11)

    assert (opened["action"], closed["action"]) == ("opened", "closed")
    [trade] = await tenants.services.store.list_trades(user_id=ALICE)
    assert trade.quantity == 20


async def test_a_negative_max_position_size_refuses_the_entry_naming_the_setting(tenants: Sparky) -> None:
    await settings(tenants, max_position_size_usd=Decimal(-5))

    refused = await post(tenants, ALICE, symbol="AUSDT", **ENTRY)

    assert (refused["status"], refused["action"], refused["field"]) == (400, "rejected", "max_position_size_usd")
    assert refused["message"].startswith("max_position_size_usd must be a positive number of dollars (0: no cap)")
    paper = await tenants.services.accounts.get(ALICE, "paper")
    assert await paper.positions() == []


async def test_a_max_position_size_of_zero_is_no_cap(tenants: Sparky) -> None:
    await settings(tenants, max_position_size_usd=Decimal(0), max_trades_per_day=0)

    opened = await post(tenants, ALICE, symbol="AUSDT", action="buy", price=10, position_size_usd=2000)

    assert opened["action"] == "opened"
    stored = await tenants.services.store.get_position(ALICE, "paper", "AUSDT")
    assert stored.quantity == 200
