"""TradingView strategy alerts through the app: what the suggested template and `sentiment` send at
entry, reversal and exit, and what the paper venue receives. An exit must never become a short."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal as D
from pathlib import Path

import pytest

from sparky.cli import users as users_cli
from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.execution.orders import client_order_id
from sparky.first_run import welcome_text
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.models import Signal
from sparky.store.base import RequestStatus, WebhookRequestRecord, utcnow
from tests.conftest import SECRET, Sparky
from tests.support import LONG_ONLY, LONG_SHORT, SHORT_ONLY, message_after, orders, send


def banner_template() -> str:
    text = welcome_text(webhook_secret=SECRET, admin_token=None, port=3000, data_dir=Path("data"))
    return message_after(text, "TradingView alert message")


# --- the suggested template ---------------------------------------------------------------------


@pytest.mark.parametrize(("strategy", "actions", "entry_sides"), [
    (LONG_ONLY, ["opened", "closed"], [Side.BUY]),
    (SHORT_ONLY, ["opened", "closed"], [Side.SELL]),
    (LONG_SHORT, ["opened", "reversed", "closed"], [Side.BUY, Side.SELL]),
], ids=["long-only", "short-only", "long-short"])
async def test_the_first_start_template_follows_the_strategy_and_its_exit_closes(
    sparky: Sparky, strategy: list, actions: list[str], entry_sides: list[Side]
) -> None:
    answers = await send(sparky, orders(banner_template(), strategy))

    assert [a["action"] for a in answers] == actions
    assert await sparky.paper.positions() == []
    assert await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT") is None
    entries = [r for r in sparky.paper.requests if not r.reduce_only]
    assert [r.side for r in entries] == entry_sides  # the exit opened nothing
    exit_order = sparky.paper.requests[-1]
    assert (exit_order.kind, exit_order.reduce_only) == (OrderKind.MARKET, True)
    assert exit_order.client_order_id == client_order_id(answers[-1]["request_id"], "x")
    assert len(await sparky.services.store.list_trades()) == len(entry_sides)


async def test_the_users_add_template_trades_for_that_user(start, data_dir: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["users", "add", "--data-dir", str(data_dir), "--plan", "Pro"]
    assert await asyncio.to_thread(users_cli.main, argv) == 0  # the CLI runs its own event loop
    printed = capsys.readouterr().out
    template = message_after(printed, "TradingView alert message")
    user_id = printed.splitlines()[0].removeprefix("Created user ").split(":")[0]

    async with start() as sparky:
        answers = await send(sparky, orders(template, LONG_ONLY))
        assert [a["action"] for a in answers] == ["opened", "closed"]
        paper = await sparky.services.accounts.get(user_id, "paper")
        assert await paper.positions() == []
        assert [(t.side, t.exit_reason) for t in await sparky.services.store.list_trades()] == [("BUY", "MANUAL")]
        assert await sparky.paper.positions() == []  # the local user's account was never touched


# --- action + sentiment (the position after the order) ------------------------------------------


async def test_long_only_exit_sent_as_sell_with_sentiment_flat_closes_the_long_and_opens_nothing(
    sparky: Sparky,
) -> None:
    opened = (await sparky.alert(action="buy", sentiment="long", symbol="BTCUSDT", price=27000,
                                 position_size_usd=2700)).json()
    assert opened["action"] == "opened"
    response = await sparky.alert(action="sell", sentiment="flat", symbol="BTCUSDT", price=27270)

    assert response.status_code == 200
    body = response.json()
    assert body["action"] == "closed" and body["pnl"] == {"usd": 27, "percent": 1}
    assert sparky.paper.requests[1:] == [
        OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), client_order_id(body["request_id"], "x"),
                     reduce_only=True),
    ]
    assert await sparky.paper.positions() == []
    assert await sparky.paper.open_orders("BTCUSDT") == []  # both exits cancelled
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert (row.status, row.action, row.payload["sentiment"]) == (RequestStatus.SUCCESS, "close_long", "flat")


async def test_short_only_exit_sent_as_buy_with_sentiment_flat_closes_the_short(sparky: Sparky) -> None:
    await sparky.alert(action="sell", sentiment="bearish", symbol="BTCUSDT", price=27000, position_size_usd=2700)
    body = (await sparky.alert(action="BUY", sentiment="Flat", symbol="BTCUSDT", price=26730)).json()

    assert body["action"] == "closed" and body["pnl"] == {"usd": 27, "percent": 1}
    assert [(r.side, r.reduce_only) for r in sparky.paper.requests] == [(Side.SELL, False), (Side.BUY, True)]
    assert await sparky.paper.positions() == []


async def test_an_exit_ending_flat_closes_only_the_side_it_closes(sparky: Sparky) -> None:
    nothing = (await sparky.alert(action="sell", sentiment="flat", symbol="BTCUSDT", price=27000)).json()
    assert (nothing["action"], nothing["message"]) == ("skipped", "No position to close")
    assert sparky.paper.requests == []

    await sparky.alert(action="sell", symbol="BTCUSDT", price=27000, position_size_usd=2700)
    body = (await sparky.alert(action="sell", sentiment="flat", symbol="BTCUSDT", price=26900)).json()
    assert body["action"] == "skipped" and "No long position to close" in body["message"]
    assert len(sparky.paper.requests) == 1
    assert (await sparky.paper.position("BTCUSDT")).side is Side.SELL


@pytest.mark.parametrize(("held", "action", "sentiment"), [
    ("buy", "sell", "long"), ("buy", "sell", "bullish"), ("sell", "buy", "short"), (None, "sell", "long"),
    (None, "buy", "bearish"),
])
async def test_an_opposite_order_that_leaves_the_same_side_open_trades_nothing(
    sparky: Sparky, held: str | None, action: str, sentiment: str
) -> None:
    """A partial exit in TradingView; Sparky has no partial exits, and it must never open the other side."""
    if held is not None:
        await sparky.alert(action=held, symbol="BTCUSDT", price=27000, position_size_usd=2700)
    async def venue() -> tuple:
        return list(sparky.paper.requests), await sparky.paper.positions(), await sparky.paper.open_orders("BTCUSDT")

    before = await venue()

    response = await sparky.alert(action=action, sentiment=sentiment, symbol="BTCUSDT", price=27100)

    assert response.status_code == 200
    body = response.json()
    assert body["action"] == "skipped" and body["success"] is False
    assert "Partial exit" in body["message"] and "nothing was sent" in body["message"]
    assert await venue() == before  # no order; what was open keeps its stop
    assert (held is None) == (before[1] == [])
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert row.status is RequestStatus.SKIPPED and row.action.startswith("partial_exit_")


@pytest.mark.parametrize(("action", "sentiment", "side"), [
    ("buy", "long", Side.BUY), ("buy", "Bullish", Side.BUY), ("sell", "short", Side.SELL),
    ("sell", "BEARISH", Side.SELL),
])
async def test_a_sentiment_on_the_entry_side_opens_as_before(sparky: Sparky, action: str, sentiment: str,
                                                              side: Side) -> None:
    body = (await sparky.alert(action=action, sentiment=sentiment, symbol="BTCUSDT", price=27000)).json()
    assert body["action"] == "opened"
    assert [(r.side, r.kind) for r in sparky.paper.requests] == [(side, OrderKind.MARKET)]


async def test_a_reversal_with_sentiment_reverses(sparky: Sparky) -> None:
    await sparky.alert(action="buy", sentiment="long", symbol="BTCUSDT", price=27000, position_size_usd=2700)
    body = (await sparky.alert(action="sell", sentiment="short", symbol="BTCUSDT", price=27000,
                               position_size_usd=2700)).json()
    assert body["action"] == "reversed"
    assert (await sparky.paper.position("BTCUSDT")).side is Side.SELL


async def test_an_exit_recorded_before_a_crash_still_only_closes_when_recovered(start) -> None:
    """Recovery runs the stored signal: `sell` + `flat` must stay a close of the long."""
    async with start() as sparky:
        await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700)
        exit_ = Signal.model_validate({"action": "sell", "sentiment": "flat", "symbol": "BTCUSDT",
                                       "exchange": "paper", "price": 27270})
        record = WebhookRequestRecord(
            id=str(uuid.uuid4()), status=RequestStatus.PENDING, created_at=utcnow(), user_id=LOCAL_USER_ID,
            exchange="paper", action=exit_.action.value, symbol="BTCUSDT", payload={},
            signal=exit_.model_dump(mode="json"),
        )
        await sparky.services.store.insert_webhook_request(record)  # then the server stops before running it
    async with start() as sparky:
        row = await sparky.services.store.get_webhook_request(record.id)
        assert (row.status, row.result["action"]) == (RequestStatus.SUCCESS, "closed")
        assert await sparky.paper.positions() == []
        assert [(r.side, r.reduce_only) for r in sparky.paper.requests] == [(Side.SELL, True)]
