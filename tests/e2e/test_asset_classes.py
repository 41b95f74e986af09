"""The `asset_class` of position and trade rows, which the dashboard splits its charts and filters by,
comes from the venue and the instrument: OANDA forex, Tradier stocks, a ccxt market per its type."""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import pytest
import respx

from sparky.exchanges.ccxt.markets import asset_class_of
from tests.conftest import SECRET as WEBHOOK_SECRET
from tests.e2e.test_venue_ccxt import bybit  # noqa: F401  (fixture)
from tests.e2e.test_venue_oanda import oanda  # noqa: F401  (fixture)
from tests.unit.exchanges.ccxt.test_ccxt import KEY, SECRET
from tests.unit.exchanges.tradier.test_tradier import ACCOUNT, TOKEN, FakeTradier


async def _round_trip_classes(server: Any, **alert: Any) -> tuple[str, str]:
    """Open, read the position row, close, read the trade row: their asset classes."""
    opened = await server.client.post("/webhook", json={"secret": WEBHOOK_SECRET, "action": "buy", **alert})
    assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
    [position] = await server.services.store.list_positions()
    closed = await server.client.post("/webhook", json={"secret": WEBHOOK_SECRET, **alert, "action": "close"})
    assert closed.status_code == 200 and closed.json()["action"] == "closed", closed.text
    [trade] = await server.services.store.list_trades()
    return position.asset_class, trade.asset_class


async def test_oanda_positions_and_trades_are_forex(oanda: Any) -> None:  # noqa: F811
    async with oanda() as (server, _fake):
        classes = await _round_trip_classes(server, exchange="oanda", symbol="EURUSD", quantity=1000,
                                            stop_loss_percent=1)
    assert classes == ("forex", "forex")


async def test_tradier_positions_and_trades_are_stocks(start: Any, tmp_path: Any) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"tradier": {"accountId": ACCOUNT, "accessToken": TOKEN,
                                              "environment": "sandbox"}}))
    with respx.mock(assert_all_called=False) as router:
        venue = FakeTradier(router)
        venue.quote("AAPL", D("200.00"))
        venue.fill_price = D("200.00")
        async with start(config_path=config) as server:
            classes = await _round_trip_classes(server, exchange="tradier", symbol="AAPL", price="200.00",
                                                position_size_usd=2000, stop_loss_percent=2)
    assert classes == ("stocks", "stocks")


async def test_a_ccxt_perpetual_swap_is_crypto(bybit: Any, start: Any, tmp_path: Any) -> None:  # noqa: F811
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": KEY, "apiSecret": SECRET}}))
    bybit.last = bybit.fill = D("2000")
    async with start(config_path=config) as server:
        classes = await _round_trip_classes(server, exchange="bybit", symbol="BYBIT:ETHUSDT.P", price="2000",
                                            position_size_usd=100, stop_loss_percent=2)
    assert classes == ("crypto", "crypto")


async def test_paper_positions_and_trades_are_crypto(start: Any) -> None:
    async with start() as server:
        classes = await _round_trip_classes(server, exchange="paper", symbol="BTCUSDT", price="50000",
                                            position_size_usd=100, stop_loss_percent=2)
    assert classes == ("crypto", "crypto")


@pytest.mark.parametrize(("market", "asset_class"), [
    ({"type": "spot", "spot": True}, "crypto"),
    ({"type": "swap", "swap": True, "linear": True}, "crypto"),
    ({"type": "future", "future": True, "expiry": 1767225600000}, "futures"),
    ({"type": "option", "option": True, "strike": 100000}, "options"),
    ({"future": True}, "futures"),  # a venue that leaves `type` out: its flags say it
])
def test_a_ccxt_market_type_names_its_asset_class(market: dict, asset_class: str) -> None:
    assert asset_class_of(market) == asset_class


async def test_a_position_adopted_from_oanda_and_its_trade_are_forex(oanda: Any) -> None:  # noqa: F811
    """Opened on the venue without Sparky: the sync adopts it, and a close books its trade."""
    async with oanda() as (server, fake):
        fake.open_trade("EUR_USD", D(1000), D("1.10000"))
        synced = await server.admin_post("/positions/sync")
        assert synced.status_code == 200, synced.text
        [position] = await server.services.store.list_positions()
        closed = await server.alert(exchange="oanda", action="close", symbol="EURUSD")
        assert closed.status_code == 200 and closed.json()["action"] == "closed", closed.text
        [trade] = await server.services.store.list_trades()
    assert (position.notes, position.asset_class, trade.asset_class) == ("Adopted from the exchange", "forex", "forex")
