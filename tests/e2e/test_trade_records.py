"""Trade rows that match what the venue did: partial closes, stops found after long histories, fees.

Through the real app over HTTP; the position is changed on the paper venue directly between two
signals where the point is what Sparky does with a change made outside it.
"""

from __future__ import annotations

import json
from decimal import Decimal as D
from typing import Any

import respx

import sparky.exchanges.ccxt.adapter as ccxt_venue
from sparky.exchanges.base import OrderKind, OrderRequest, Side
from sparky.execution.orders import client_order_id
from sparky.signals.auth import LOCAL_USER_ID
from tests.conftest import SECRET as WEBHOOK_SECRET
from tests.conftest import Sparky
from tests.e2e.test_recovery import lose_database_from
from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster
from tests.unit.exchanges.ccxt.test_ccxt import KEY as BYBIT_KEY
from tests.unit.exchanges.ccxt.test_ccxt import SECRET as BYBIT_SECRET
from tests.unit.exchanges.ccxt.test_ccxt import BybitVenue, Record

OPEN = {"symbol": "BTCUSDT", "price": 27000, "position_size_usd": 2700, "stop_loss_percent": 2,
        "take_profit_percent": 4}  # 0.1 BTC, stop 26460, target 28080


async def by_hand(sparky: Sparky, side: Side, quantity: str, price: str, name: str, *,
                  reduce_only: bool = False, symbol: str = "BTCUSDT") -> None:
    """An order the user placed on the venue themselves, at the price the market is at."""
    await sparky.paper.note_price(symbol, D(price))
    await sparky.paper.place_order(OrderRequest(symbol, side, OrderKind.MARKET, D(quantity), name,
                                                reduce_only=reduce_only))


async def trades(sparky: Sparky) -> list[Any]:
    return list(reversed(await sparky.services.store.list_trades(symbol="BTCUSDT")))  # oldest first


async def stored(sparky: Sparky) -> Any:
    return await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT")


# ---------------------------------------------------------------- sizes changed outside Sparky

async def test_a_position_reduced_on_the_venue_records_a_trade_for_the_part_that_closed(sparky: Sparky) -> None:
    assert (await sparky.alert(action="buy", **OPEN)).json()["action"] == "opened"
    await by_hand(sparky, Side.SELL, "0.04", "27500", "by-hand-1", reduce_only=True)  # +20 on the venue

    closed = (await sparky.alert(action="close", symbol="BTCUSDT")).json()  # no price: the venue's last
    assert closed["action"] == "closed" and closed["pnl"]["usd"] == 30  # the 0.06 left, at 27500

    part, rest = await trades(sparky)
    assert (part.exit_reason, part.quantity, part.exit_price, part.pnl_usd) == (
        "PARTIAL_CLOSE", D("0.04"), D("27500"), D("20"))
    assert part.notes == ("0.04 of 0.1 closed on the exchange outside Sparky; "
                          "exit price is the last price when Sparky saw it")
    assert (rest.exit_reason, rest.quantity, rest.pnl_usd) == ("MANUAL", D("0.06"), D("30"))
    realised = (await sparky.paper.balance()).extra["realised_pnl"]
    assert part.pnl_usd + rest.pnl_usd == realised == D("50")


async def test_the_rest_of_a_reduced_position_keeps_its_entry_and_protection(sparky: Sparky) -> None:
    await sparky.alert(action="buy", **OPEN)
    before = await stored(sparky)
    await by_hand(sparky, Side.SELL, "0.04", "27500", "by-hand-1", reduce_only=True)
    skipped = (await sparky.alert(action="buy", symbol="BTCUSDT")).json()
    assert skipped["action"] == "skipped"  # still long: only the bookkeeping changed
    after = await stored(sparky)
    assert (after.quantity, after.entry_price, after.position_size_usd) == (D("0.06"), D("27000"), D("1620"))
    assert (after.stop_loss_order_id, after.take_profit_order_id) == (before.stop_loss_order_id,
                                                                      before.take_profit_order_id)
    assert len(await trades(sparky)) == 1


async def test_a_position_added_to_on_the_venue_takes_its_size_and_average_entry_without_a_trade(
        sparky: Sparky) -> None:
    await sparky.alert(action="buy", **OPEN)
    await by_hand(sparky, Side.BUY, "0.1", "28000", "by-hand-1")
    assert (await sparky.alert(action="buy", symbol="BTCUSDT")).json()["action"] == "skipped"
    grown = await stored(sparky)
    assert (grown.quantity, grown.entry_price, grown.position_size_usd) == (D("0.2"), D("27500"), D("5500"))
    assert await trades(sparky) == []


async def test_a_stop_smaller_than_the_position_records_its_part_at_its_fill_price(sparky: Sparky) -> None:
    await sparky.alert(action="buy", **OPEN)  # the stop covers the 0.1 Sparky opened
    await by_hand(sparky, Side.BUY, "0.05", "27000", "by-hand-1")
    await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)  # seen: 0.15 held
    await sparky.paper.note_price("BTCUSDT", D("26400"))  # through the stop: 0.1 sold at 26400

    await sparky.alert(action="buy", symbol="BTCUSDT", price=26400)
    (stop,) = await trades(sparky)
    assert (stop.exit_reason, stop.quantity, stop.exit_price, stop.pnl_usd) == (
        "STOP_LOSS", D("0.1"), D("26400"), D("-60"))
    assert stop.notes == "Stop loss filled 0.1 of 0.15"
    left = await stored(sparky)
    assert (left.quantity, left.stop_loss_order_id) == (D("0.05"), None)  # that stop is spent


class ThinBook(FakeAster):
    """A venue whose book runs out: the next market order fills only `fill_at_most`, the rest expires."""

    fill_at_most: D | None = None

    def _accept(self, params: dict[str, str]) -> dict[str, Any]:
        if self.fill_at_most is None or params["type"] != "MARKET":
            return super()._accept(params)
        available, self.fill_at_most = self.fill_at_most, None
        order = super()._accept({**params, "quantity": str(available)})
        order.update(origQty=params["quantity"], status="EXPIRED")
        return order


async def test_a_close_that_fills_only_in_part_records_that_part(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    venue = ThinBook()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config, close_confirm_attempts=2) as sparky:
            async def alert(action: str, price: str) -> dict:
                venue.price = venue.fill_price = D(price)
                response = await sparky.client.post("/webhook", json={
                    "secret": WEBHOOK_SECRET, "exchange": "aster", "symbol": "BTCUSDT", "action": action,
                    "price": price, "position_size_usd": 270, "stop_loss_percent": 2})
                assert response.status_code == 200, response.text
                return response.json()

            assert (await alert("buy", "27000"))["action"] == "opened"  # 0.010 BTC
            venue.fill_at_most = D("0.004")
            failed = await alert("close", "27500")
            assert failed["action"] == "close_failed"
            (part,) = await sparky.services.store.list_trades()
            assert (part.exit_reason, part.quantity, part.exit_price, part.pnl_usd) == (
                "MANUAL", D("0.004"), D("27500"), D("2"))
            assert part.notes == "Close order filled 0.004 of 0.01; the rest is still open"
            position = await sparky.services.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT")
            assert position.quantity == D("0.006")

            closed = await alert("close", "27600")
            assert closed["action"] == "closed" and closed["pnl"]["usd"] == 3.6  # the 0.006 left
            assert sum(t.pnl_usd for t in await sparky.services.store.list_trades()) == D("5.6")


async def test_a_partial_close_resumed_after_a_crash_is_not_recorded_twice(start, tmp_path, monkeypatch) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    venue = ThinBook()
    body = {"secret": WEBHOOK_SECRET, "exchange": "aster", "symbol": "BTCUSDT", "position_size_usd": 270}
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config, close_confirm_attempts=2) as sparky:
            await sparky.client.post("/webhook", json={**body, "action": "buy", "price": "27000"})
            venue.price = venue.fill_price = D("27500")
            venue.fill_at_most = D("0.004")
            lose_database_from(monkeypatch, sparky.services.store, "finish_execution")  # crash after the part
            rid = (await sparky.client.post("/webhook", json={**body, "action": "close", "price": "27500"})).json()[
                "request_id"]
            monkeypatch.undo()
        async with start(config_path=config, close_confirm_attempts=2) as sparky:  # recovery resumes the close
            row = await sparky.services.store.get_webhook_request(rid)
            assert (row.status.value, row.result["action"]) == ("failed", "close_failed")
            (part,) = await sparky.services.store.list_trades()  # once, not again from the same fill
            assert (part.quantity, part.exit_price) == (D("0.004"), D("27500"))
            assert [o["clientOrderId"] for o in venue.orders].count(client_order_id(rid, "x")) == 1


# ---------------------------------------------------------------- the venue's order history

async def test_a_filled_stop_is_found_after_hundreds_of_other_orders_and_a_restart(start) -> None:
    async with start() as sparky:
        await sparky.alert(action="buy", **OPEN)
        await sparky.paper.note_price("BTCUSDT", D("26000"))  # gaps through the stop at 26460
        for i in range(210):  # the account keeps trading another symbol by hand
            await by_hand(sparky, Side.BUY if i % 2 == 0 else Side.SELL, "0.01", "1800", f"eth-{i}",
                          symbol="ETHUSDT")
    async with start() as sparky:  # the restart writes the paper snapshot, which bounds the history
        answer = (await sparky.alert(action="close", symbol="BTCUSDT", price=26100)).json()
        assert answer["action"] == "skipped"  # nothing left to close: the stop did it
        (trade,) = await trades(sparky)
        assert (trade.exit_reason, trade.exit_price, trade.pnl_usd) == ("STOP_LOSS", D("26000"), D("-100"))


# ---------------------------------------------------------------- fees

async def test_trades_record_fees_and_their_pnl_is_net(start) -> None:
    async with start(paper_fee_rate="0.001") as sparky:
        await sparky.alert(action="buy", **OPEN)
        assert (await stored(sparky)).fees_usd == D("2.7")  # 0.1 × 27000 × 0.1 %
        closed = (await sparky.alert(action="close", symbol="BTCUSDT", price=27500)).json()
        assert closed["pnl"] == {"usd": 44.55, "percent": 1.65}  # 50 − 2.7 − 2.75

        await sparky.alert(action="buy", **{**OPEN, "price": 27500})  # 0.098 BTC, stop 26950
        await sparky.paper.note_price("BTCUSDT", D("26000"))
        await sparky.alert(action="buy", symbol="BTCUSDT", price=26000)  # finds the stop filled, opens again

        win, stop = (await trades(sparky))
        assert (win.fees_usd, win.pnl_usd, win.is_winner) == (D("5.45"), D("44.55"), True)
        # (26000 − 27500) × 0.098 = −147, less 2.695 entry and 2.548 exit fees
        assert (stop.exit_reason, stop.fees_usd, stop.pnl_usd) == ("STOP_LOSS", D("5.243"), D("-152.243"))
        balance = await sparky.paper.balance()
        open_fees = (await stored(sparky)).fees_usd  # the new position's entry, counted when it closes
        assert balance.extra["realised_pnl"] - (balance.extra["fees"] - open_fees) == win.pnl_usd + stop.pnl_usd


class FeeChargingBybit(BybitVenue):
    """Bybit charging its taker fee on every fill: `cumExecFee`, and per coin in `cumFeeDetail` (v5
    order history, https://bybit-exchange.github.io/docs/v5/order/order-list), in USDT."""

    rate = D("0.00055")

    def render(self, r: Record) -> dict[str, Any]:
        order = super().render(r)
        fee = str(r.filled * (r.avg or 0) * self.rate)
        order.update(cumExecFee=fee, cumFeeDetail={"USDT": fee})
        return order


async def test_fees_a_ccxt_venue_reports_are_recorded_and_taken_off_the_pnl(monkeypatch, start, tmp_path) -> None:
    venue = FeeChargingBybit()
    monkeypatch.setattr(ccxt_venue, "default_factory", venue._factory)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": BYBIT_KEY, "apiSecret": BYBIT_SECRET}}))
    async with start(config_path=config) as sparky:
        async def alert(action: str, price: str) -> dict:
            venue.last = venue.fill = D(price)
            response = await sparky.client.post("/webhook", json={
                "secret": WEBHOOK_SECRET, "exchange": "bybit", "symbol": "ETHUSDT", "action": action,
                "price": price, "position_size_usd": 100, "stop_loss_percent": 2})
            return response.json()

        assert (await alert("buy", "2000"))["action"] == "opened"  # 0.05 ETH
        position = await sparky.services.store.get_position(LOCAL_USER_ID, "bybit", "ETHUSDT")
        assert position.fees_usd == D("0.055")  # 0.05 × 2000 × 0.055 %
        closed = await alert("close", "2100")
        (trade,) = await sparky.services.store.list_trades()
        # (2100 − 2000) × 0.05 = 5, less 0.055 entry and 0.05775 exit fees
        assert (trade.fees_usd, trade.pnl_usd) == (D("0.11275"), D("4.88725"))
        assert closed["pnl"]["usd"] == 4.89
