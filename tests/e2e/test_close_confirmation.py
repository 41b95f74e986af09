"""When a close's own fill proves the position gone, and when the venue is asked again.

A reduce-only close the venue reports filled for the whole position leaves nothing open on a
one-way account: the position is not read again (a round trip saved on every close). An account
that may hold both sides of a symbol has it read until the held side is gone.
"""

from __future__ import annotations

from decimal import Decimal as D

from tests.conftest import Sparky
from tests.doubles import CountsPositionReads, HedgeModeAccount, install

LONG = {"action": "buy", "symbol": "BTCUSDT", "price": 27000, "position_size_usd": 2700,
        "stop_loss_percent": 2, "take_profit_percent": 4}


async def open_and_close(sparky: Sparky) -> dict:
    assert (await sparky.alert(**LONG)).json()["action"] == "opened"
    response = await sparky.alert(action="close", symbol="BTCUSDT", price=27270)
    assert response.status_code == 200
    return response.json()


async def test_a_close_filled_in_full_on_a_one_way_account_is_not_read_again(sparky: Sparky) -> None:
    venue = install(sparky, CountsPositionReads)
    closed = await open_and_close(sparky)
    assert closed["action"] == "closed" and closed["pnl"]["usd"] == 27
    close = sparky.paper.requests[-1]
    assert (close.side.value, close.kind.value, close.quantity, close.reduce_only) == ("sell", "market", D("0.1"), True)
    # read once per signal (before its orders), never after the close
    assert venue.position_reads == [(0, "BTCUSDT"), (1, "BTCUSDT")]
    assert await sparky.paper.position("BTCUSDT") is None
    [trade] = await sparky.services.store.list_trades()
    assert (trade.exit_price, trade.quantity, trade.exit_reason) == (D("27270"), D("0.1"), "MANUAL")


async def test_a_close_on_an_account_that_may_hold_both_sides_is_confirmed_by_reading_the_position(
        sparky: Sparky) -> None:
    venue = install(sparky, HedgeModeAccount)
    closed = await open_and_close(sparky)
    assert closed["action"] == "closed" and closed["pnl"]["usd"] == 27
    # the signal's read, then the confirmation after the close order (the venue's second order)
    assert venue.position_reads == [(0, "BTCUSDT"), (1, "BTCUSDT"), (2, "BTCUSDT")]
    assert await sparky.paper.position("BTCUSDT") is None
