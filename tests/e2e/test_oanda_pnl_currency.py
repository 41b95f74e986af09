"""OANDA through the real app: a trade's P&L is recorded in dollars whatever currency the
instrument is priced in — the venue's realised P&L of the close where its fill reports one, else
the price difference converted at the exit's rate (scripted account, tests/fixtures/oanda/)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import httpx

from tests.e2e.test_venue_oanda import oanda  # noqa: F401  (the fixture)
from tests.unit.exchanges.oanda.test_oanda import FakeOanda


async def round_trip(server: Any, fake: FakeOanda, symbol: str, instrument: str, exit_price: D,
                     reported_pl: str | None = None) -> Any:
    opened = await server.alert(exchange="oanda", action="buy", symbol=symbol, quantity=1000)
    assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
    fake.quotes[instrument] = exit_price
    if reported_pl is not None:
        reporting_pl(fake, instrument, reported_pl)
    closed = await server.alert(exchange="oanda", action="close", symbol=symbol)
    assert closed.status_code == 200 and closed.json()["action"] == "closed", closed.text
    [trade] = await server.services.store.list_trades()
    return trade


def reporting_pl(fake: FakeOanda, instrument: str, pl: str) -> None:
    """The next close's fill reports `pl` (OANDA converts at its own bid/ask rate)."""

    def answer(request: httpx.Request) -> httpx.Response:
        data = fake._close(request, instrument).json()
        data["longOrderFillTransaction"]["pl"] = pl
        return httpx.Response(200, json=data)

    fake.scripted.append(answer)


async def test_a_usd_jpy_close_records_the_dollars_oanda_realised(oanda: Any) -> None:  # noqa: F811
    """1000 dollars bought at 155 yen and sold at 156 made 1000 yen: 6.41 dollars, not 1000."""
    async with oanda() as (server, fake):
        fake.quotes["USD_JPY"] = D("155.000")
        trade = await round_trip(server, fake, "USDJPY", "USD_JPY", D("156.000"), reported_pl="6.4080")
        assert (trade.exit_price, trade.quantity) == (D("156.000"), D(1000))
        assert trade.pnl_usd == D("6.4080") and trade.is_winner
        assert trade.position_size_usd == D("993.58974359")  # 155000 yen at the exit's 156
        assert trade.pnl_percent == D("0.6449")


async def test_a_eur_gbp_close_records_dollars_not_pounds(oanda: Any) -> None:  # noqa: F811
    """1000 euros bought at 0.85 and sold at 0.84 lost 10 pounds: 12.50 dollars at GBP_USD 1.25."""
    async with oanda() as (server, fake):
        fake.quotes.update({"EUR_GBP": D("0.85000"), "EUR_USD": D("1.10000"), "GBP_USD": D("1.25000")})
        trade = await round_trip(server, fake, "EURGBP", "EUR_GBP", D("0.84000"))
        assert trade.pnl_usd == D("-12.5") and not trade.is_winner


async def test_a_usd_quoted_close_is_unchanged(oanda: Any) -> None:  # noqa: F811
    async with oanda() as (server, fake):
        trade = await round_trip(server, fake, "EURUSD", "EUR_USD", D("1.10100"))
        assert trade.pnl_usd == D(1) and trade.position_size_usd == D(1100)


async def test_a_close_outside_sparky_is_converted_at_the_exit_rate(oanda: Any) -> None:  # noqa: F811
    """No fill to read the realised P&L from: the yen difference at the last USD_JPY price."""
    async with oanda() as (server, fake):
        fake.quotes["USD_JPY"] = D("155.000")
        opened = await server.alert(exchange="oanda", action="buy", symbol="USDJPY", quantity=1000)
        assert opened.status_code == 200, opened.text
        fake.trades.clear()  # the user closed it on OANDA's platform
        fake.quotes["USD_JPY"] = D("160.000")
        closed = await server.alert(exchange="oanda", action="close", symbol="USDJPY")
        assert closed.status_code == 200, closed.text
        [trade] = await server.services.store.list_trades()
        assert (trade.exit_reason, trade.exit_price) == ("MANUAL", D("160.000"))
        assert trade.pnl_usd == D("31.25")  # 5000 yen / 160
