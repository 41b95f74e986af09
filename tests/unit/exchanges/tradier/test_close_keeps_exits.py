"""Tradier: a close that had to cancel the exits holding its shares, then failed, leaves the
position protected again (or says it is UNPROTECTED).

Tradier refuses a close while resting exits hold the shares (`LongPositionCrossZero`,
errors_crosses_zero.json); the adapter cancels the exits' OCO and sends the close again. These
tests make that second close fail the ways it does — 429, a 5xx, a market order that never fills
because the market is closed — and read what the scripted account received and what the store holds.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from sparky.config import LegacyConfig
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.registry import ExchangeRegistry
from sparky.execution.executor import Job, TradeExecutor
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.models import Signal
from sparky.store.sqlite.store import SqliteStore
from tests.conftest import make_settings
from tests.support import execute, local_accounts
from tests.unit.exchanges.tradier.test_tradier import ORDERS, FakeTradier, TradierHarness, fixture, make_exchange

OPEN_ID = "11111111-1111-4111-8111-111111111111"
CLOSE_ID = "22222222-2222-4222-8222-222222222222"
CLOSE_CID = "sp222222222222422282222222-x"
OLD_OCO = 257460  # the entry is 257459; its OCO 257460 (legs 257461, 257462)


@pytest.fixture
async def pool() -> Any:
    pool = HttpClientPool()
    yield pool
    await pool.aclose()


@pytest.fixture
def venue(pool: HttpClientPool) -> Any:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        harness = TradierHarness(FakeTradier(router), make_exchange(pool))
        harness.market(harness.price)
        yield harness


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "sparky.sqlite", synchronous="NORMAL")
    await store.open()
    yield store
    await store.aclose()


@pytest.fixture
def executor(venue: TradierHarness, store: SqliteStore, tmp_path: Path) -> TradeExecutor:
    registry = ExchangeRegistry()
    registry.add(venue.exchange)
    return TradeExecutor(store, local_accounts(registry, tmp_path), make_settings(tmp_path), LegacyConfig())


async def open_protected_long(venue: TradierHarness, executor: TradeExecutor) -> None:
    venue.fills_at(venue.price)
    signal = Signal(action="buy", symbol="AAPL", exchange="tradier", quantity=D(10),
                    stop_loss_percent=D(2), take_profit_percent=D(4))
    opened = await execute(executor, Job(OPEN_ID, LOCAL_USER_ID, signal))
    assert opened.body["action"] == "opened", opened.body
    venue.fake.holds_shares_for_exits = True  # the OCO's legs hold the 10 shares from now on


async def close(executor: TradeExecutor) -> dict[str, Any]:
    signal = Signal(action="close", symbol="AAPL", exchange="tradier")
    return (await execute(executor, Job(CLOSE_ID, LOCAL_USER_ID, signal))).body


def second_close_fails(venue: TradierHarness, fail: Callable[[dict[str, str]], httpx.Response]) -> None:
    """The first close is refused for the shares the exits hold, as Tradier does; the second `fail`s."""
    venue.fake.scripted.extend([venue.fake.accept, fail])


def market_closed(venue: TradierHarness) -> None:
    venue.fake.fill_price = None  # the resent close is taken but never fills (market closed, halt)


SECOND_CLOSE = {
    "429": lambda venue: second_close_fails(venue, lambda form: httpx.Response(429, text="Rate limit exceeded")),
    "503": lambda venue: second_close_fails(venue, lambda form: httpx.Response(503, text="Service Unavailable")),
    "market closed": market_closed,
}

RESTORED_OCO = {  # the same exits as before, at the stored prices, for the shares still held
    "class": "oco", "duration": "gtc",
    "symbol[0]": "AAPL", "side[0]": "sell", "quantity[0]": "10", "type[0]": "limit", "price[0]": "156.26",
    "symbol[1]": "AAPL", "side[1]": "sell", "quantity[1]": "10", "type[1]": "stop", "stop[1]": "147.25",
    "tag": f"{CLOSE_CID}sl--{CLOSE_CID}tp"}


@pytest.mark.parametrize("failure", sorted(SECOND_CLOSE))
async def test_a_failed_close_puts_back_the_exits_it_cancelled(venue: TradierHarness, executor: TradeExecutor,
                                                              store: SqliteStore, failure: str) -> None:
    await open_protected_long(venue, executor)
    SECOND_CLOSE[failure](venue)

    body = await close(executor)

    assert body["action"] == "close_failed", body
    assert "AAPL stays open: its exits, cancelled for the close, were placed again " \
           "(stop-loss at 147.25 and take-profit at 156.26)" in body["error"], body
    closes = [{k: form[k] for k in ("class", "side", "quantity", "type", "tag")} for form in venue.fake.forms[2:4]]
    assert closes == [{"class": "equity", "side": "sell", "quantity": "10", "type": "market", "tag": CLOSE_CID}] * 2
    assert ("DELETE", f"{ORDERS}/{OLD_OCO}") in venue.fake.requests()  # freed the shares
    assert venue.fake.forms[4:] == [RESTORED_OCO]
    new_oco = max(venue.fake.orders)
    assert [leg["status"] for leg in venue.fake.orders[new_oco]["leg"]] == ["open", "open"]
    stored = await store.get_position(LOCAL_USER_ID, "tradier", "AAPL")
    assert stored is not None and stored.quantity == D(10)
    assert (stored.stop_loss_order_id, stored.take_profit_order_id) == (f"{new_oco}:sl", f"{new_oco}:tp")
    assert (stored.stop_loss_price, stored.take_profit_price) == (D("147.25"), D("156.26"))
    assert venue.fake.held["AAPL"][0] == D(10)


async def test_the_next_close_after_exits_were_put_back_cancels_them_and_closes(
        venue: TradierHarness, executor: TradeExecutor, store: SqliteStore) -> None:
    await open_protected_long(venue, executor)
    SECOND_CLOSE["429"](venue)
    assert (await close(executor))["action"] == "close_failed"
    restored = max(venue.fake.orders)

    signal = Signal(action="close", symbol="AAPL", exchange="tradier")
    closed = await execute(executor, Job("33333333-3333-4333-8333-333333333333", LOCAL_USER_ID, signal))

    assert closed.body["action"] == "closed", closed.body
    assert ("DELETE", f"{ORDERS}/{restored}") in venue.fake.requests()
    assert "AAPL" not in venue.fake.held and await store.get_position(LOCAL_USER_ID, "tradier", "AAPL") is None


async def test_exits_that_cannot_be_put_back_raise_the_unprotected_alarm(
        venue: TradierHarness, executor: TradeExecutor, store: SqliteStore) -> None:
    await open_protected_long(venue, executor)
    SECOND_CLOSE["429"](venue)
    venue.fake.reply_next(401, fixture("fault_invalid_token.json"))  # the OCO placing them again

    with capture_logs() as logs:
        body = await close(executor)

    assert body["action"] == "close_failed", body
    assert body["error"].startswith("UNPROTECTED POSITION: the close of AAPL failed (tradier: rate limited")
    assert body["error"].endswith("Close AAPL on tradier by hand.")
    assert [e for e in logs if e["event"] == "position.unprotected" and e["log_level"] == "critical"]
    assert venue.fake.forms[4] == RESTORED_OCO and len(venue.fake.forms) == 5  # tried once: not retryable
    stored = await store.get_position(LOCAL_USER_ID, "tradier", "AAPL")
    assert stored is not None  # still held, and no longer claiming the cancelled exits
    assert (stored.stop_loss_order_id, stored.take_profit_order_id) == (None, None)


async def test_a_close_refused_without_touching_the_exits_leaves_them_alone(
        venue: TradierHarness, executor: TradeExecutor, store: SqliteStore) -> None:
    await open_protected_long(venue, executor)
    venue.fake.reply_next(429, text="Rate limit exceeded")  # the first close: nothing was cancelled

    body = await close(executor)

    assert body["action"] == "rejected" and "rate limited" in body["error"], body
    assert [f["class"] for f in venue.fake.forms] == ["equity", "oco", "equity"]  # no exit sent again
    stored = await store.get_position(LOCAL_USER_ID, "tradier", "AAPL")
    assert (stored.stop_loss_order_id, stored.take_profit_order_id) == (f"{OLD_OCO}:sl", f"{OLD_OCO}:tp")


async def test_a_reversal_whose_close_failed_keeps_the_long_protected_and_opens_nothing(
        venue: TradierHarness, executor: TradeExecutor, store: SqliteStore) -> None:
    await open_protected_long(venue, executor)
    SECOND_CLOSE["503"](venue)
    signal = Signal(action="sell", symbol="AAPL", exchange="tradier", quantity=D(10),
                    stop_loss_percent=D(2), take_profit_percent=D(4))

    body = (await execute(executor, Job(CLOSE_ID, LOCAL_USER_ID, signal))).body

    assert body["action"] == "reversal_failed", body
    assert "were placed again (stop-loss at 147.25 and take-profit at 156.26)" in body["error"]
    rx = "sp222222222222422282222222-rx"
    assert [(f["class"], f.get("side"), f["tag"]) for f in venue.fake.forms[2:]] == [
        ("equity", "sell", rx), ("equity", "sell", rx), ("oco", None, f"{rx}sl--{rx}tp")]  # no short entry
    new_oco = max(venue.fake.orders)
    stored = await store.get_position(LOCAL_USER_ID, "tradier", "AAPL")
    assert (stored.side, stored.stop_loss_order_id, stored.take_profit_order_id) == (
        "BUY", f"{new_oco}:sl", f"{new_oco}:tp")
