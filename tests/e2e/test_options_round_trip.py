"""A Tradier option trade end to end through the real app: a `tradier_options` call alert buys one
OTOCO, the options monitor sees the entry fill and then the target (or a close alert's market
sell) fill, and the user finds the trade row and the notifications. Tradier is the scripted account
of tests/unit/exchanges/tradier_options/fake.py; each monitor pass is one `run_once` (no sleeps)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
import respx

from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from tests.conftest import Sparky
from tests.unit.exchanges.tradier_options.fake import ACCOUNT, ORDERS, TOKEN, FakeOptionsTradier, listed, occ

ALICE = "11111111-1111-4111-8111-111111111111"
ALICE_SECRET = "alice-options-secret-5b1e"


@pytest.fixture
def venue():
    with respx.mock(assert_all_called=False) as router:
        yield FakeOptionsTradier(router)


@pytest.fixture
async def alice(start) -> Any:
    async with start(options_monitor_sec=3600) as sparky:  # passes driven by the test
        store = sparky.services.store
        await store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))
        await store.upsert_credentials(CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest(ALICE_SECRET)))
        await store.upsert_credentials(CredentialRecord(ALICE, "tradier", api_key=TOKEN, account_id=ACCOUNT,
                                                        extra_metadata={"environment": "sandbox"}))
        await sparky.services.secrets.refresh()
        yield sparky


async def alert(sparky: Sparky, **fields: Any) -> dict[str, Any]:
    response = await sparky.client.post("/webhook", json={"secret": ALICE_SECRET, "exchange": "tradier_options",
                                                          **fields})
    assert response.status_code == 200, response.text
    return response.json()


async def notifications(sparky: Sparky) -> list[str]:
    await sparky.services.notifier.drain()
    return sorted(n.metadata["event"] for n in await sparky.services.store.list_notifications(ALICE))


async def test_a_call_bought_by_alert_is_closed_by_its_target_with_the_trade_and_notification(
        alice: Sparky, venue: FakeOptionsTradier) -> None:
    placed = await alert(alice, action="buy", symbol="SPY", right="call", strike=500, quantity=2,
                         stop_loss_percent=50, take_profit_percent=100)
    order_id = int(placed["option"]["order_id"])
    option_symbol = occ("SPY", listed(1), "call", 500)
    monitor = alice.services.options

    venue.fill_entry(order_id, 2)  # bought at its limit, 2.39: the target (4.75) and stop (1.20) work
    await monitor.run_once()
    [row] = await alice.services.store.option_trades(user_id=ALICE)
    assert (row.status, row.quantity_contracts, row.cost_usd) == ("open", D(2), D(478))

    target = venue.orders[order_id]["leg"][1]
    target.update(status="filled", exec_quantity=2.0, avg_fill_price=4.8)  # filled a nickel better
    venue.orders[order_id]["leg"][2]["status"] = "canceled"  # Tradier cancels the stop with it
    await monitor.run_once()

    [row] = await alice.services.store.option_trades(user_id=ALICE)
    assert (row.status, row.pnl_usd, row.pnl_percent) == ("closed_tp", D(482), D("100.8368"))
    [trade] = await alice.services.store.list_trades(user_id=ALICE)
    assert (trade.exchange, trade.symbol, trade.side, trade.quantity, trade.entry_price, trade.exit_price) == (
        "tradier_options", option_symbol, "BUY", D(2), D("2.39"), D("4.8"))
    assert (trade.pnl_usd, trade.exit_reason, trade.order_id, trade.fees_usd) == (
        D(482), "TAKE_PROFIT", str(target["id"]), None)  # (4.80 − 2.39) × 2 × 100; Tradier reports no fee
    assert await notifications(alice) == ["take_profit_triggered", "trade_opened"]
    assert [method for method, path in venue.posted()] == ["POST"]  # the OTOCO only: its target closed it

    before = len(venue.calls)
    await monitor.run_once()
    assert len(venue.calls) == before  # closed: nothing is asked of Tradier any more


async def test_a_close_alert_sells_at_market_and_the_monitor_records_its_fill(alice: Sparky,
                                                                             venue: FakeOptionsTradier) -> None:
    placed = await alert(alice, action="buy", symbol="SPY", right="call", strike=500, quantity=2)
    order_id = int(placed["option"]["order_id"])
    venue.fill_entry(order_id, 2)
    await alice.services.options.run_once()

    closing = await alert(alice, action="close", symbol="SPY")
    close_id = int(closing["closes"][0]["close_order_id"])
    assert venue.posted() == [("POST", ORDERS), ("DELETE", f"{ORDERS}/{order_id}"), ("POST", ORDERS)]
    venue.orders[close_id].update(status="filled", exec_quantity=2.0, avg_fill_price=2.1)
    await alice.services.options.run_once()

    [row] = await alice.services.store.option_trades(user_id=ALICE)
    assert (row.status, row.pnl_usd) == ("closed", D(-58))  # (2.10 − 2.39) × 2 × 100
    [trade] = await alice.services.store.list_trades(user_id=ALICE)
    assert (trade.exit_reason, trade.exit_price, trade.order_id) == ("MANUAL", D("2.1"), str(close_id))
    assert await notifications(alice) == ["position_closed_loss", "trade_opened"]
