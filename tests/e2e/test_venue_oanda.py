"""OANDA through the real app: dollar sizes in units of the base currency, and one position per
instrument whatever the alert's spelling (scripted account behind respx, tests/fixtures/oanda/)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import pytest

import sparky.services
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import PositionRecord, utcnow
from tests.conftest import Sparky
from tests.unit.exchanges.oanda.test_oanda import ACCOUNT, TOKEN, FakeOanda, body_of, calls


@pytest.fixture
def oanda(start: Callable[..., Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`async with oanda() as (server, fake)`: the app with a config.json `oanda` section, trading
    on a scripted practice account."""
    fake = FakeOanda()
    monkeypatch.setattr(sparky.services, "HttpClientPool", lambda: fake.pool)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"oanda": {"accountId": ACCOUNT, "accessToken": TOKEN}}))

    @asynccontextmanager
    async def running() -> AsyncIterator[tuple[Sparky, FakeOanda]]:
        async with start(config_path=config) as server:
            yield server, fake

    running.fake = fake  # type: ignore[attr-defined]  # scripted before the server starts
    return running


def units_sent(fake: FakeOanda) -> list[str]:
    return [body_of(r)["order"]["units"] for r in fake.order_calls() if r.url.path.endswith("/orders")]


# ------------------------------------------------------------------ sizing in the base currency
@pytest.mark.parametrize(("symbol", "quotes", "units", "size_usd"), [
    # USD is the base: 1000 dollars are 1000 units, whatever the yen price
    ("USDJPY", {"USD_JPY": D("155.123")}, "1000", 1000),
    # USD is the quote: units of euros at the pair's price (1000 / 1.1 = 909.09 → 909)
    ("EURUSD", {"EUR_USD": D("1.10000")}, "909", 999.9),
    # a cross: euros at the EUR_USD price, not at the EUR_GBP one (which would buy 1176)
    ("EURGBP", {"EUR_GBP": D("0.85000"), "EUR_USD": D("1.10000")}, "909", 999.9),
    # USD_CHF is how OANDA lists the franc: 1 CHF = 1 / 0.90000 dollars (1000 × 0.9 = 900)
    ("CHFJPY", {"CHF_JPY": D("172.500"), "USD_CHF": D("0.90000")}, "900", 1000),
])
async def test_a_dollar_size_buys_units_of_the_base_currency(oanda: Any, symbol: str, quotes: dict[str, D],
                                                             units: str, size_usd: float) -> None:
    async with oanda() as (server, fake):
        fake.quotes.update(quotes)
        response = await server.alert(exchange="oanda", action="buy", symbol=symbol, position_size_usd=1000,
                                      stop_loss_percent=1)
        assert response.status_code == 200 and response.json()["action"] == "opened", response.text
        assert units_sent(fake) == [units]
        position = response.json()["position"]
        assert position["quantity"] == int(units) and position["positionSizeUsd"] == pytest.approx(size_usd)


async def test_an_index_cfd_is_sized_in_its_trade_units_precision(oanda: Any) -> None:
    """DE30_EUR trades in tenths of a unit priced in euros: 5000 / (18000 × 1.1) = 0.2525 → 0.2."""
    async with oanda() as (server, fake):
        fake.quotes.update({"DE30_EUR": D("18000.0"), "EUR_USD": D("1.10000")})
        response = await server.alert(exchange="oanda", action="buy", symbol="DE30EUR", position_size_usd=5000,
                                      stop_loss_percent=1)
        assert response.status_code == 200, response.text
        assert units_sent(fake) == ["0.2"]
        assert response.json()["position"]["positionSizeUsd"] == pytest.approx(3960)  # 0.2 × 18000 × 1.1


async def test_the_conversion_rate_is_read_once_per_signal(oanda: Any) -> None:
    """Sizing and the dollar value of the fill share one read of EUR_USD (EUR_GBP is quoted once
    too: the stop attached to the entry is priced from the market, not from the alert)."""
    async with oanda() as (server, fake):
        fake.quotes.update({"EUR_GBP": D("0.85000"), "EUR_USD": D("1.10000")})
        response = await server.alert(exchange="oanda", action="buy", symbol="EURGBP", price=0.85,
                                      position_size_usd=1000, stop_loss_percent=1)
        assert response.status_code == 200, response.text
        pricing = [c.request.url.params["instruments"] for c in fake.router.calls
                   if c.request.url.path.endswith("/pricing")]
        assert pricing == ["EUR_GBP", "EUR_USD"]


# ------------------------------------------------------------------ one instrument, one position
async def test_every_spelling_of_an_instrument_is_one_position(oanda: Any) -> None:
    async with oanda() as (server, fake):
        opened = await server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000,
                                    stop_loss_percent=1)
        assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
        assert opened.json()["position"]["symbol"] == "EUR_USD"

        closed = await server.alert(exchange="oanda", action="close", symbol="EUR_USD")
        assert closed.status_code == 200 and closed.json()["action"] == "closed", closed.text
        assert [r.url.path.rsplit("/", 2)[-2:] for r in fake.order_calls()][-1] == ["EUR_USD", "close"]
        assert fake.trades == []

        store = server.services.store
        assert await store.list_positions() == []  # no second row left behind under another spelling
        [trade] = await store.list_trades()  # the round trip booked once
        assert (trade.symbol, trade.side, trade.quantity) == ("EUR_USD", "BUY", D(1000))
        rows = await store.list_webhook_requests(user_id=LOCAL_USER_ID)
        assert {row.symbol for row in rows} == {"EUR_USD"}


async def test_two_buys_in_two_spellings_at_once_send_one_entry(oanda: Any) -> None:
    async with oanda() as (server, fake):
        fake.network_turns = True  # the two executions overlap wherever they wait for the venue
        first, second = await asyncio.gather(
            server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000, alert_id="a-1"),
            server.alert(exchange="oanda", action="buy", symbol="EUR/USD", quantity=1000, alert_id="a-2"))
        actions = sorted(r.json()["action"] for r in (first, second))
        assert actions == ["opened", "skipped"], (first.text, second.text)
        assert units_sent(fake) == ["1000"]  # one entry; the other found the position open
        assert [t["units"] for t in fake.trades] == [D(1000)]


async def test_the_same_alert_in_another_spelling_is_a_duplicate(oanda: Any) -> None:
    async with oanda() as (server, fake):
        first = await server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000)
        second = await server.alert(exchange="oanda", action="buy", symbol="EUR_USD", quantity=1000)
        assert first.json()["action"] == "opened" and second.json()["action"] == "duplicate"
        assert second.json()["duplicate_of"] == first.json()["request_id"]
        assert units_sent(fake) == ["1000"]


async def test_an_instrument_oanda_does_not_list_is_refused_naming_the_symbol(oanda: Any) -> None:
    async with oanda() as (server, fake):
        await server.services.accounts.warmed()  # the account's instruments, listed at start-up
        fake.router.calls.clear()
        response = await server.alert(exchange="oanda", action="buy", symbol="FOOBAR", quantity=1000)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["field"] == "symbol" and "FOOBAR is not traded on oanda" in body["error"]
        assert fake.order_calls() == [] and calls(fake) == [("GET", "/instruments")]
        [row] = await server.services.store.list_webhook_requests(user_id=LOCAL_USER_ID)
        assert (row.status.value, row.http_status) == ("rejected", 400)


async def test_an_unreachable_venue_gets_503_and_nothing_is_recorded(oanda: Any) -> None:
    oanda.fake.instrument_failures.extend([503] * 3)  # down from start-up on: the warm-up fails
    async with oanda() as (server, fake):
        await server.services.accounts.warmed()
        fake.instrument_failures.extend([503] * 3)  # every retry of the instrument read
        response = await server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000)
        assert response.status_code == 503, response.text
        assert "nothing was recorded or executed" in response.json()["error"]
        assert fake.order_calls() == []
        assert await server.services.store.list_webhook_requests(user_id=LOCAL_USER_ID) == []
        retried = await server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000)
        assert retried.status_code == 200 and retried.json()["action"] == "opened", retried.text


async def test_a_position_recorded_under_another_spelling_is_renamed_at_start(oanda: Any) -> None:
    """A row written before symbols were canonical (`EURUSD`) becomes OANDA's `EUR_USD` when the
    server starts, so the next signal closes that one position and books one trade."""
    async with oanda() as (server, fake):
        fake.open_trade("EUR_USD", D(1000), D("1.10000"))
        await server.services.store.upsert_position(PositionRecord(
            user_id=LOCAL_USER_ID, exchange="oanda", symbol="EURUSD", side="BUY", entry_price=D("1.1"),
            quantity=D(1000), entry_time=utcnow(), position_size_usd=D(1100), stop_loss_percent=D(1)))
    async with oanda() as (server, fake):  # the same data directory, started again
        store = server.services.store
        [row] = await store.list_positions()
        assert (row.symbol, row.quantity, row.stop_loss_percent) == ("EUR_USD", D(1000), D(1))
        closed = await server.alert(exchange="oanda", action="close", symbol="EURUSD")
        assert closed.status_code == 200 and closed.json()["action"] == "closed", closed.text
        assert await store.list_positions() == []
        [trade] = await store.list_trades()
        assert (trade.symbol, trade.exit_reason, trade.stop_loss_percent) == ("EUR_USD", "MANUAL", D(1))


# ------------------------------------------------------------------ exits filled on the venue
async def test_a_trailing_stop_that_closed_the_trade_is_recorded_as_such_at_its_fill(oanda: Any) -> None:
    """The entry carries a stop loss, a take profit and a trailing stop; the trailing stop fills on
    the venue (OANDA cancels the other two). The next signal books the trade as TRAILING_STOP at
    the trailing stop's own fill price, not as a manual close at the next price."""
    async with oanda() as (server, fake):
        opened = await server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000, price=1.1,
                                    stop_loss_percent=1, take_profit_percent=2, useTrailingStop=True,
                                    trailingStop=15)
        assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
        [entry] = fake.order_calls()
        entry_id = body_of(entry)["order"]["clientExtensions"]["id"]
        assert body_of(entry)["order"]["trailingStopLossOnFill"] == {
            "distance": "0.00150", "timeInForce": "GTC", "clientExtensions": {"id": f"{entry_id}-ts", "tag": "sparky"}}
        store = server.services.store
        [position] = await store.list_positions()
        assert position.trailing_stop_order_id == f"@{entry_id}-ts"

        trailing = fake.client_ids[f"{entry_id}-ts"]
        fake.fill_exit(trailing, D("1.10180"))  # the price ran to 1.1033 and came back 15 pips
        fake.quotes["EUR_USD"] = D("1.09900")  # where the market is at the next signal
        closed = await server.alert(exchange="oanda", action="close", symbol="EURUSD")
        assert closed.status_code == 200, closed.text

        [trade] = await store.list_trades()
        assert (trade.exit_reason, trade.exit_price, trade.quantity) == ("TRAILING_STOP", D("1.10180"), D(1000))
        assert trade.pnl_usd == D("1.80000000") and trade.is_winner
        assert trade.order_id == trailing
        assert await store.list_positions() == []


# ------------------------------------------------------------------ brackets priced from the market
@pytest.mark.parametrize(("market", "stop", "target"), [
    # the market fell below the alert's stop: priced from 1.10000 the stop (1.08900) would be above
    # the fill, and OANDA cancels the whole entry (STOP_LOSS_ON_FILL_LOSS)
    (D("1.08000"), "1.06920", "1.10160"),
    # the market rose: priced from 1.10000 the stop would sit 2.8 % under the fill instead of 1 %
    (D("1.12000"), "1.10880", "1.14240"),
])
async def test_an_attached_bracket_is_priced_from_the_market_not_a_stale_alert_price(
        oanda: Any, market: D, stop: str, target: str) -> None:
    async with oanda() as (server, fake):
        fake.quotes["EUR_USD"] = market
        response = await server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000,
                                      price=1.1, stop_loss_percent=1, take_profit_percent=2)
        assert response.status_code == 200 and response.json()["action"] == "opened", response.text
        [entry] = fake.order_calls()
        order = body_of(entry)["order"]
        assert (order["units"], order["stopLossOnFill"]["price"], order["takeProfitOnFill"]["price"]) == (
            "1000", stop, target)
        assert calls(fake)[0] == ("GET", "/instruments")
        assert sorted(calls(fake)[1:3]) == [("GET", "/openPositions"), ("GET", "/pendingOrders")]
        assert calls(fake)[3:] == [("GET", "/pricing"), ("POST", "/orders")]  # the quote just before the entry
        position = response.json()["position"]
        assert (position["entryPrice"], position["stopLossPrice"], position["takeProfitPrice"]) == (
            float(market), float(stop), float(target))
