"""A stop or target that filled on the venue is dated when it filled there, not when Sparky
noticed it (the next signal). Through the real app: the paper venue with its clock driven, and
OANDA over respx with the order's `filledTime`."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from sparky.store.base import decode_time, utcnow
from tests.conftest import Sparky
from tests.e2e.test_venue_oanda import oanda  # noqa: F401  (the fixture)
from tests.unit.exchanges.oanda.test_oanda import body_of


async def test_a_stop_filled_on_paper_is_dated_at_its_fill_not_at_the_next_signal(
        sparky: Sparky, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                 stop_loss_percent=2)).json()
    assert opened["action"] == "opened"
    [position] = await sparky.services.store.list_positions()
    filled_at = utcnow()
    monkeypatch.setattr(sparky.paper._book, "clock", lambda: filled_at)  # the venue's clock stops here
    await sparky.paper.note_price("BTCUSDT", D(26400))  # the market falls through the stop
    stop = await sparky.paper.get_order("BTCUSDT", order_id=position.stop_loss_order_id)
    assert decode_time(stop.updated_at) == filled_at

    closed = (await sparky.alert(action="close", symbol="BTCUSDT")).json()  # noticed only now

    [trade] = await sparky.services.store.list_trades()
    assert (trade.exit_reason, trade.exit_price, trade.exit_time) == ("STOP_LOSS", D(26400), filled_at)
    noticed = (await sparky.services.store.get_webhook_request(closed["request_id"])).created_at
    assert trade.exit_time < noticed


async def test_a_trailing_stop_filled_on_oanda_is_dated_at_its_filled_time(oanda: Any) -> None:  # noqa: F811
    async with oanda() as (server, fake):
        opened = await server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000, price=1.1,
                                    stop_loss_percent=1, useTrailingStop=True, trailingStop=15)
        assert opened.json()["action"] == "opened", opened.text
        [entry] = fake.order_calls()
        entry_id = body_of(entry)["order"]["clientExtensions"]["id"]
        [position] = await server.services.store.list_positions()
        trailing = fake.client_ids[f"{entry_id}-ts"]
        fake.fill_exit(trailing, D("1.10180"))
        # OANDA reports RFC 3339 with nanoseconds; it filled now, before the next signal
        filled_at = utcnow()
        stamp = f"{filled_at:%Y-%m-%dT%H:%M:%S}.{filled_at.microsecond:06d}789Z"
        fake.orders[trailing]["filledTime"] = stamp
        fake.transactions[fake.orders[trailing]["fillingTransactionID"]]["time"] = stamp
        assert filled_at > position.entry_time

        closed = await server.alert(exchange="oanda", action="close", symbol="EURUSD")
        assert closed.status_code == 200, closed.text

        [trade] = await server.services.store.list_trades()
        assert (trade.exit_reason, trade.exit_price, trade.exit_time) == ("TRAILING_STOP", D("1.10180"), filled_at)
        noticed = (await server.services.store.get_webhook_request(closed.json()["request_id"])).created_at
        assert trade.exit_time < noticed
