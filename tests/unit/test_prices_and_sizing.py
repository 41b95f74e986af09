"""Exit prices from the fill, rounded toward the entry, never on the wrong side; quantity floors."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from sparky.config import ExchangeSection
from sparky.exchanges.base import Side, SymbolRules
from sparky.execution.prices import stop_loss_price, take_profit_price
from sparky.execution.sizing import OrderTooSmall, order_quantity
from sparky.signals.models import Signal


@pytest.mark.parametrize(("side", "fill", "pct", "tick", "stop", "target"), [
    (Side.BUY, D("27123.45"), D("1.5"), D("0.1"), D("26716.6"), D("27530.3")),
    (Side.SELL, D("27123.45"), D("1.5"), D("0.1"), D("27530.3"), D("26716.6")),
    (Side.BUY, D("1.12247"), D(1), D("0.00001"), D("1.11125"), D("1.13369")),
    (Side.BUY, D("0.061234"), D(3), D("0.00001"), D("0.05940"), D("0.06307")),
    # a tick coarser than the distance: one tick away from the fill, on the correct side
    (Side.BUY, D("100.3"), D("0.1"), D(1), D(100), D(101)),
    (Side.SELL, D("100.3"), D("0.1"), D(1), D(101), D(100)),
    (Side.BUY, D(100), D("0.1"), D(1), D(99), D(101)),
])
def test_exit_prices(side: Side, fill: D, pct: D, tick: D, stop: D, target: D) -> None:
    assert stop_loss_price(side, fill, pct, tick) == stop
    assert take_profit_price(side, fill, pct, tick) == target


def test_stop_rounding_never_risks_more_than_asked() -> None:
    fill, pct = D("27123.45"), D("1.5")
    stop = stop_loss_price(Side.BUY, fill, pct, D("0.1"))
    assert fill - stop <= fill * pct / 100


RULES = SymbolRules("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D(5))


def signal(**fields) -> Signal:
    return Signal(action="buy", symbol="BTCUSDT", exchange="paper", **fields)


def test_quantity_from_usd_is_floored_to_the_step() -> None:
    assert order_quantity(signal(position_size_usd=D(1000)), D("27123.45"), RULES, None, D(600)) == D("0.036")


def test_sizing_priority_alert_then_section_then_default() -> None:
    section = ExchangeSection(tradeAmount=270, positionMultiplier=2)
    assert order_quantity(signal(), D(27000), RULES, section, D(600)) == D("0.02")
    assert order_quantity(signal(), D(27000), RULES, None, D(600)) == D("0.022")
    assert order_quantity(signal(quantity=D("0.0059")), D(27000), RULES, section, D(600)) == D("0.005")


def test_too_small_is_refused_with_the_reason() -> None:
    with pytest.raises(OrderTooSmall, match="below the minimum quantity 0.001"):
        order_quantity(signal(position_size_usd=D(20)), D(27000), RULES, None, D(600))
    rules = SymbolRules("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D(100))
    with pytest.raises(OrderTooSmall, match="notional 81.000 is below the minimum 100"):
        order_quantity(signal(position_size_usd=D(90)), D(27000), rules, None, D(600))
