"""OANDA: what each fill cost besides its price reaches `Order.fee` (entry, close, a filled stop)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal as D

import httpx
import pytest

from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.exchanges.oanda.wire import fill_fee
from tests.unit.exchanges.oanda.test_oanda import QTY, SYMBOL, OandaHarness, entry, fixture

COSTS = {"commission": "0.0800", "guaranteedExecutionFee": "0.0100", "financing": "-0.0150"}


@pytest.fixture
def venue() -> OandaHarness:
    return OandaHarness()


def costing(answer: Callable[[httpx.Request], httpx.Response], key: str) -> Callable[[httpx.Request], httpx.Response]:
    """The venue's own reply, with the fill charging COSTS (as a commission-priced account would)."""

    def reply(request: httpx.Request) -> httpx.Response:
        data = answer(request).json()
        data[key].update(COSTS)
        return httpx.Response(201 if key == "orderFillTransaction" else 200, json=data)

    return reply


def test_the_fee_is_commission_and_guaranteed_fee_plus_financing_paid() -> None:
    fill = fixture("order_market_filled.json")["orderFillTransaction"]
    assert fill_fee(fill) == D(0)  # the recorded fill: a spread-priced account pays no commission
    assert fill_fee({**fill, **COSTS}) == D("0.1050")  # 0.08 + 0.01 + 0.015 financing paid
    assert fill_fee({**fill, "financing": "0.0200", "commission": "0.0500"}) == D("0.0300")  # financing received
    assert fill_fee({"units": "1000", "price": "1.1"}) is None  # names no cost at all: not reported


async def test_entry_and_close_report_what_their_fills_charged(venue: OandaHarness) -> None:
    venue.fake.scripted.append(costing(venue.fake._post_order, "orderFillTransaction"))
    opened = await venue.exchange.place_order(entry(Side.BUY))
    assert opened.fee == D("0.1050")

    venue.fake.scripted.append(costing(lambda r: venue.fake._close(r, "EUR_USD"), "longOrderFillTransaction"))
    closed = await venue.exchange.place_order(OrderRequest(SYMBOL, Side.SELL, OrderKind.MARKET, QTY, "sp0000-x",
                                                           reduce_only=True))
    assert closed.fee == D("0.1050")


async def test_a_filled_stop_reports_its_fee_from_its_fill_transaction(venue: OandaHarness) -> None:
    fill = fixture("transaction_fill.json")["transaction"]
    fill.update(id="7001", units="-1000", price="1.09000", reason="STOP_LOSS_ORDER", tradeOpened=None,
                tradesClosed=[{"tradeID": "6358", "units": "-1000", "price": "1.09000"}], commission="0.0400")
    order = fixture("order_stop_loss_get.json")["order"]
    order.update(state="FILLED", fillingTransactionID="7001")
    venue.fake.orders["6391"], venue.fake.transactions["7001"] = order, fill
    found = await venue.exchange.get_order(SYMBOL, order_id="6391")
    assert found is not None and (found.average_price, found.fee) == (D("1.09000"), D("0.0400"))
