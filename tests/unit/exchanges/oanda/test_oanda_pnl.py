"""OANDA: what a close realised, as its fill reports it, reaches `Order.realized_pnl`."""

from __future__ import annotations

from decimal import Decimal as D

from sparky.exchanges.oanda.wire import fill_pnl
from tests.unit.exchanges.oanda.test_oanda import fixture


def test_the_realised_pnl_is_the_fills_pl_else_its_closed_trades_realized_pl() -> None:
    fill = fixture("position_close.json")["longOrderFillTransaction"]
    assert fill_pnl({**fill, "pl": "-12.5000"}) == D("-12.5000")
    without_pl = {k: v for k, v in fill.items() if k != "pl"}
    without_pl["tradesClosed"] = [{**fill["tradesClosed"][0], "realizedPL": "4.0000"},
                                  {**fill["tradesClosed"][0], "realizedPL": "-1.5000"}]
    assert fill_pnl(without_pl) == D("2.5000")
    assert fill_pnl({"units": "-1000", "price": "1.1"}) is None  # names neither: not reported
