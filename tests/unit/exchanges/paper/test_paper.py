"""PaperExchange: exact fills, prices, statuses, balances, failure injection and persistence."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest

from sparky.exchanges.base import (
    Bracket,
    Order,
    OrderKind,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    SymbolRules,
)
from sparky.exchanges.errors import (
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
)
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.paper.book import PaperBook

BUY, SELL = Side.BUY, Side.SELL
MARKET, LIMIT, STOP, TP = OrderKind.MARKET, OrderKind.LIMIT, OrderKind.STOP, OrderKind.TAKE_PROFIT
OPEN, FILLED, CANCELED, REJECTED = (
    OrderStatus.OPEN, OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED)
T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def req(side: Side, qty: str, cid: str, kind: OrderKind = MARKET, *, symbol: str = "BTC",
        price: str | None = None, trigger: str | None = None, reduce_only: bool = False,
        sl: str | None = None, tp: str | None = None) -> OrderRequest:
    bracket = Bracket(D(sl) if sl else None, D(tp) if tp else None) if (sl or tp) else None
    return OrderRequest(symbol, side, kind, D(qty), cid, price=D(price) if price else None,
                        trigger_price=D(trigger) if trigger else None, reduce_only=reduce_only,
                        bracket=bracket)


def exits(side: Side, qty: str, *, sl: str, tp: str) -> tuple[OrderRequest, OrderRequest]:
    return (req(side, qty, "sl", STOP, trigger=sl, reduce_only=True),
            req(side, qty, "tp", TP, trigger=tp, reduce_only=True))


async def get(ex: PaperExchange, order_id: str | None = None, *, client_order_id: str | None = None,
              symbol: str = "BTC") -> Order:
    found = await ex.get_order(symbol, order_id=order_id, client_order_id=client_order_id)
    assert found is not None
    return found


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def ex(clock: Clock) -> PaperExchange:
    exchange = PaperExchange(clock=clock)
    await exchange.note_price("BTC", D("27000"))
    return exchange


async def long_btc(ex: PaperExchange, qty: str = "0.1", cid: str = "entry", **kw: str) -> None:
    order = await ex.place_order(req(BUY, qty, cid, **kw))
    assert order.status is FILLED


# --------------------------------------------------------------------------- prices and rules

async def test_market_order_fills_at_last_price(ex: PaperExchange) -> None:
    order = await ex.place_order(req(BUY, "0.1", "a"))
    assert (order.id, order.status, order.filled_quantity, order.average_price) == (
        "P1", FILLED, D("0.1"), D("27000"))
    assert order.updated_at == "2024-01-02T03:04:05+00:00"
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))
    bal = await ex.balance()
    assert (bal.currency, bal.total, bal.available) == ("USD", D("10000"), D("9730"))  # 2700 / 10x


async def test_no_price_known_is_invalid_order() -> None:
    ex = PaperExchange()
    with pytest.raises(InvalidOrder, match="no price is known for BTC.*alert should carry a price"):
        await ex.symbol_rules("BTC")
    with pytest.raises(InvalidOrder, match="no price"):
        await ex.last_price("BTC")
    with pytest.raises(InvalidOrder, match="no price"):
        await ex.place_order(req(BUY, "0.1", "a"))
    rules = SymbolRules("BTC", D("0.5"), D("0.001"), D("0.001"), D("10"))
    configured = PaperExchange(rules={"BTC": rules})
    assert await configured.symbol_rules("BTC") == rules
    with pytest.raises(InvalidOrder, match="no price is known"):
        await configured.place_order(req(BUY, "0.1", "a"))
    assert await ex.positions() == [] and await configured.open_orders() == []


async def test_default_rules_derived_from_first_price_and_then_fixed() -> None:
    ex = PaperExchange()
    await ex.note_price("BTC", D("27000"))
    await ex.note_price("ETH", D("1800"))
    await ex.note_price("DOGE", D("0.5"))
    await ex.note_price("BTC", D("150000"))  # does not re-derive
    assert await ex.symbol_rules("BTC") == SymbolRules("BTC", D("0.1"), D("0.0001"), D("0.0001"), D("5"))
    assert await ex.symbol_rules("ETH") == SymbolRules("ETH", D("0.01"), D("0.001"), D("0.001"), D("5"))
    assert await ex.symbol_rules("DOGE") == SymbolRules("DOGE", D("0.000001"), D("10"), D("10"), D("5"))
    assert await ex.last_price("BTC") == D("150000")


async def test_configured_rules_win_over_defaults() -> None:
    rules = SymbolRules("BTC", D("0.5"), D("0.01"), D("0.02"), D("100"))
    ex = PaperExchange(rules={"BTC": rules})
    await ex.note_price("BTC", D("27000"))
    assert await ex.symbol_rules("BTC") == rules
    with pytest.raises(InvalidOrder, match="below the minimum quantity 0.02"):
        await ex.place_order(req(BUY, "0.01", "a"))
    with pytest.raises(InvalidOrder, match="tick size 0.5"):
        await ex.place_order(req(BUY, "0.02", "b", LIMIT, price="26000.1"))
    assert (await ex.place_order(req(BUY, "0.02", "c"))).status is FILLED


@pytest.mark.parametrize("price", [D(0), D(-1), D("NaN"), D("Infinity")])
async def test_note_price_rejects_non_positive_or_non_finite(ex: PaperExchange, price: D) -> None:
    with pytest.raises(InvalidOrder):
        await ex.note_price("BTC", price)
    assert await ex.last_price("BTC") == D("27000")


# --------------------------------------------------------------------------- validation

@pytest.mark.parametrize(("request_", "message"), [
    (req(BUY, "0", "x"), "quantity must be"),
    (req(BUY, "-0.1", "x"), "quantity must be"),
    (req(BUY, "0.00015", "x"), "not a multiple of the step size 0.0001"),
    (req(BUY, "0.0001", "x"), "notional 2.7000 is below the minimum notional 5"),
    (req(BUY, "0.1", "x", LIMIT), "limit order needs a price"),
    (req(SELL, "0.1", "x", STOP), "needs a trigger price"),
    (req(SELL, "0.1", "x", TP), "needs a trigger price"),
    (req(BUY, "0.1", "x", price="27000"), "market order takes neither"),
    (req(BUY, "0.1", "x", LIMIT, price="26000.05"), "not a multiple of the tick size 0.1"),
    (req(BUY, "0.1", "x", STOP, trigger="28000.01"), "not a multiple of the tick size 0.1"),
    (req(SELL, "0.1", "x", STOP, trigger="27000"), "would fire immediately at the last price 27000"),
    (req(BUY, "0.1", "x", STOP, trigger="26999.9"), "would fire immediately"),
    (req(SELL, "0.1", "x", TP, trigger="26999.9"), "would fire immediately"),
    (req(BUY, "0.1", "x", TP, trigger="27000.1"), "would fire immediately"),
    (req(BUY, "0.1", "x", sl="27500", tp="28000"), "stop loss < entry < take profit"),
    (req(BUY, "0.1", "x", sl="26000", tp="26500"), "stop loss < entry < take profit"),
    (req(SELL, "0.1", "x", sl="26000", tp="25000"), "take profit < entry < stop loss"),
    (req(BUY, "0.1", "x", sl="26000.05"), "tick size"),
    (req(BUY, "0.1", "x", LIMIT, price="26000", sl="26500"), "stop loss < entry"),
])
async def test_invalid_orders_are_rejected_without_effect(
    ex: PaperExchange, request_: OrderRequest, message: str
) -> None:
    with pytest.raises(InvalidOrder, match=message):
        await ex.place_order(request_)
    assert ex.requests == [request_]
    assert await ex.open_orders() == [] and await ex.positions() == []
    assert await ex.get_order("BTC", client_order_id="x") is None
    # the rejected client id never became an order, so it may be sent again
    assert (await ex.place_order(req(BUY, "0.1", "x"))).id == "P1"


async def test_reduce_only_rejected_when_flat_or_increasing(ex: PaperExchange) -> None:
    with pytest.raises(InvalidOrder, match="no position in BTC"):
        await ex.place_order(req(SELL, "0.1", "r1", reduce_only=True))
    await long_btc(ex)
    with pytest.raises(InvalidOrder, match="would increase the position"):
        await ex.place_order(req(BUY, "0.1", "r2", reduce_only=True))
    with pytest.raises(InvalidOrder, match="would increase the position"):
        await ex.place_order(req(BUY, "0.1", "r3", STOP, trigger="28000", reduce_only=True))
    with pytest.raises(InvalidOrder, match="reduce-only order cannot carry a bracket"):
        await ex.place_order(req(SELL, "0.1", "r4", reduce_only=True, sl="28000"))
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))


async def test_reduce_only_is_clipped_to_the_position(ex: PaperExchange) -> None:
    await long_btc(ex, "0.1")
    await ex.note_price("BTC", D("27500"))
    order = await ex.place_order(req(SELL, "0.3", "close", reduce_only=True))
    assert (order.status, order.quantity, order.filled_quantity, order.average_price) == (
        FILLED, D("0.3"), D("0.1"), D("27500"))
    assert await ex.position("BTC") is None
    assert (await ex.balance()).total == D("10050")  # no reversal: only 0.1 closed


async def test_resting_exit_is_clipped_after_partial_close(ex: PaperExchange) -> None:
    await long_btc(ex, "0.2")
    sl, tp = await ex.place_exit_pair(*exits(SELL, "0.2", sl="26000", tp="28000"))
    await ex.place_order(req(SELL, "0.1", "half", reduce_only=True))
    await ex.note_price("BTC", D("25950"))
    got = await ex.get_order("BTC", order_id=sl.id)
    assert got is not None and (got.status, got.filled_quantity, got.average_price) == (
        FILLED, D("0.1"), D("25950"))
    assert (await get(ex, tp.id)).status is CANCELED
    assert await ex.position("BTC") is None
    assert (await ex.balance()).total == D("10000") - D("105")  # (25950 - 27000) * 0.1


async def test_exits_are_canceled_when_the_position_closes(ex: PaperExchange) -> None:
    await long_btc(ex, sl="26000", tp="28000")
    entry = await ex.get_order("BTC", client_order_id="entry")
    assert entry is not None
    await ex.place_order(req(SELL, "0.1", "flat", reduce_only=True))
    for oid in (entry.stop_loss_order_id, entry.take_profit_order_id):
        assert (await get(ex, oid)).status is CANCELED
    # a later long is not closed by the old exits
    await long_btc(ex, cid="again")
    await ex.note_price("BTC", D("25000"))
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))


# --------------------------------------------------------------------------- limit / stop / tp

async def test_buy_limit_rests_then_fills_at_limit_when_touched(ex: PaperExchange) -> None:
    order = await ex.place_order(req(BUY, "0.1", "l", LIMIT, price="26500"))
    assert order.status is OPEN and [o.id for o in await ex.open_orders("BTC")] == [order.id]
    await ex.note_price("BTC", D("26500.1"))
    assert (await get(ex, order.id)).status is OPEN
    await ex.note_price("BTC", D("26500"))
    filled = await ex.get_order("BTC", order_id=order.id)
    assert filled is not None and (filled.status, filled.average_price, filled.filled_quantity) == (
        FILLED, D("26500"), D("0.1"))
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("26500"))
    assert await ex.open_orders() == [] and await ex.last_price("BTC") == D("26500")


async def test_buy_limit_gapped_through_fills_at_the_better_gap_price(ex: PaperExchange) -> None:
    order = await ex.place_order(req(BUY, "0.1", "l", LIMIT, price="26500"))
    await ex.note_price("BTC", D("26400"))  # the price jumped past the limit: a limit fills at its price or better
    filled = await get(ex, order.id)
    assert (filled.status, filled.average_price) == (FILLED, D("26400"))
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("26400"))


async def test_sell_limit_gapped_through_fills_at_the_better_gap_price(ex: PaperExchange) -> None:
    order = await ex.place_order(req(SELL, "0.1", "l", LIMIT, price="27500"))
    await ex.note_price("BTC", D("27499.9"))
    assert (await get(ex, order.id)).status is OPEN
    await ex.note_price("BTC", D("27600"))
    assert await ex.position("BTC") == Position("BTC", SELL, D("0.1"), D("27600"))


async def test_marketable_limit_fills_at_once_at_last_price(ex: PaperExchange) -> None:
    buy = await ex.place_order(req(BUY, "0.1", "b", LIMIT, price="27500"))
    assert (buy.status, buy.average_price, buy.price) == (FILLED, D("27000"), D("27500"))
    sell = await ex.place_order(req(SELL, "0.3", "s", LIMIT, price="26000"))
    assert (sell.status, sell.average_price) == (FILLED, D("27000"))
    assert await ex.position("BTC") == Position("BTC", SELL, D("0.2"), D("27000"))


async def test_stop_entries_trigger_and_fill_at_observed_price(ex: PaperExchange) -> None:
    buy = await ex.place_order(req(BUY, "0.1", "bs", STOP, trigger="27500"))
    await ex.note_price("BTC", D("27499.9"))
    assert (await get(ex, buy.id)).status is OPEN
    await ex.note_price("BTC", D("27600"))
    got = await ex.get_order("BTC", order_id=buy.id)
    assert got is not None and (got.status, got.average_price) == (FILLED, D("27600"))
    sell = await ex.place_order(req(SELL, "0.1", "ss", STOP, trigger="26000"))
    await ex.note_price("BTC", D("25900"))
    got = await ex.get_order("BTC", order_id=sell.id)
    assert got is not None and (got.status, got.average_price) == (FILLED, D("25900"))
    assert await ex.position("BTC") is None
    assert (await ex.balance()).total == D("10000") - D("170")  # bought 27600, sold 25900


async def test_long_exit_pair_stop_fills_and_cancels_take_profit(ex: PaperExchange) -> None:
    await long_btc(ex)
    sl, tp = await ex.place_exit_pair(*exits(SELL, "0.1", sl="26000", tp="28000"))
    assert (sl.linked_order_id, tp.linked_order_id) == (tp.id, sl.id)
    assert (sl.status, tp.status) == (OPEN, OPEN)
    await ex.note_price("BTC", D("26000.1"))
    assert len(await ex.open_orders()) == 2
    await ex.note_price("BTC", D("25800"))  # gap through the stop: fills at the observed price
    got_sl, got_tp = await get(ex, sl.id), await get(ex, tp.id)
    assert (got_sl.status, got_sl.average_price, got_tp.status) == (FILLED, D("25800"), CANCELED)
    assert await ex.position("BTC") is None and await ex.open_orders() == []
    bal = await ex.balance()
    assert (bal.total, bal.available) == (D("9880"), D("9880"))  # -120 realised


async def test_oco_partner_canceled_while_position_stays_open(ex: PaperExchange) -> None:
    await long_btc(ex, "0.2")
    sl, tp = await ex.place_exit_pair(*exits(SELL, "0.1", sl="26000", tp="28000"))
    await ex.note_price("BTC", D("28000"))
    assert (await get(ex, tp.id)).status is FILLED
    assert (await get(ex, sl.id)).status is CANCELED
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))
    assert await ex.open_orders() == []


async def test_short_exit_pair_take_profit_fills_and_cancels_stop(ex: PaperExchange) -> None:
    await ex.place_order(req(SELL, "0.1", "short"))
    sl, tp = await ex.place_exit_pair(*exits(BUY, "0.1", sl="28000", tp="26000"))
    await ex.note_price("BTC", D("26000"))
    got_tp = await ex.get_order("BTC", client_order_id="tp")
    assert got_tp is not None and (got_tp.status, got_tp.average_price) == (FILLED, D("26000"))
    assert (await get(ex, sl.id)).status is CANCELED
    assert (await ex.balance()).total == D("10100")  # (27000 - 26000) * 0.1


async def test_short_stop_loss_triggers_upward(ex: PaperExchange) -> None:
    await ex.place_order(req(SELL, "0.1", "short"))
    sl, tp = await ex.place_exit_pair(*exits(BUY, "0.1", sl="28000", tp="26000"))
    await ex.note_price("BTC", D("28100"))
    assert (await get(ex, sl.id)).average_price == D("28100")
    assert (await get(ex, tp.id)).status is CANCELED
    assert (await ex.balance()).total == D("9890")


async def test_exit_pair_is_atomic_and_validated(ex: PaperExchange) -> None:
    sl = req(SELL, "0.1", "sl", STOP, trigger="26000", reduce_only=True)
    tp = req(SELL, "0.1", "tp", TP, trigger="28000", reduce_only=True)
    with pytest.raises(InvalidOrder, match="no position"):
        await ex.place_exit_pair(sl, tp)
    await long_btc(ex)
    with pytest.raises(InvalidOrder, match="would fire immediately"):  # TP below the market
        await ex.place_exit_pair(sl, req(SELL, "0.1", "tp", TP, trigger="26500", reduce_only=True))
    with pytest.raises(InvalidOrder, match="reduce-only"):
        await ex.place_exit_pair(sl, req(SELL, "0.1", "tp", TP, trigger="28000"))
    with pytest.raises(InvalidOrder, match="would increase"):
        await ex.place_exit_pair(*exits(BUY, "0.1", sl="28000", tp="26000"))
    assert await ex.open_orders() == []
    assert await ex.get_order("BTC", client_order_id="sl") is None
    assert ex.requests[-2:] == [req(BUY, "0.1", "sl", STOP, trigger="28000", reduce_only=True),
                                req(BUY, "0.1", "tp", TP, trigger="26000", reduce_only=True)]
    placed = await ex.place_exit_pair(sl, tp)
    assert [o.client_order_id for o in placed] == ["sl", "tp"]


# --------------------------------------------------------------------------- brackets

async def test_attached_bracket_created_when_market_entry_fills(ex: PaperExchange) -> None:
    entry = await ex.place_order(req(BUY, "0.1", "e1", sl="26000", tp="28500"))
    assert (entry.status, entry.stop_loss_order_id, entry.take_profit_order_id) == (FILLED, "P2", "P3")
    sl, tp = await ex.open_orders("BTC")
    assert (sl.id, sl.client_order_id, sl.side, sl.kind, sl.trigger_price, sl.quantity, sl.reduce_only) == (
        "P2", "e1-sl", SELL, STOP, D("26000"), D("0.1"), True)
    assert (tp.id, tp.client_order_id, tp.side, tp.kind, tp.trigger_price, tp.quantity, tp.reduce_only) == (
        "P3", "e1-tp", SELL, TP, D("28500"), D("0.1"), True)
    assert (sl.linked_order_id, tp.linked_order_id) == ("P3", "P2")
    await ex.note_price("BTC", D("28500"))
    assert (await get(ex, "P3")).status is FILLED
    assert (await get(ex, "P2")).status is CANCELED
    assert (await ex.balance()).total == D("10150")


async def test_attached_bracket_on_short_limit_created_only_on_fill(ex: PaperExchange) -> None:
    entry = await ex.place_order(req(SELL, "0.2", "s1", LIMIT, price="27500", sl="28000", tp="26000"))
    assert entry.status is OPEN and entry.stop_loss_order_id is None
    assert [o.id for o in await ex.open_orders()] == [entry.id]
    await ex.note_price("BTC", D("27600"))
    filled = await ex.get_order("BTC", order_id=entry.id)
    assert filled is not None and filled.status is FILLED and filled.average_price == D("27600")
    sl = await ex.get_order("BTC", client_order_id="s1-sl")
    tp = await ex.get_order("BTC", client_order_id="s1-tp")
    assert sl is not None and tp is not None
    assert (filled.stop_loss_order_id, filled.take_profit_order_id) == (sl.id, tp.id)
    assert (sl.side, sl.kind, sl.trigger_price, sl.quantity, sl.status) == (
        BUY, STOP, D("28000"), D("0.2"), OPEN)
    assert (tp.side, tp.kind, tp.trigger_price, tp.quantity, tp.status) == (
        BUY, TP, D("26000"), D("0.2"), OPEN)


async def test_bracket_created_in_a_gap_sees_the_same_price(ex: PaperExchange) -> None:
    await ex.place_order(req(BUY, "0.1", "g", LIMIT, price="26500", sl="26000", tp="27500"))
    await ex.note_price("BTC", D("25900"))  # one gap model: entry and its crossed stop both fill at 25900
    entry = await ex.get_order("BTC", client_order_id="g")
    sl = await ex.get_order("BTC", client_order_id="g-sl")
    assert entry is not None and (entry.status, entry.average_price) == (FILLED, D("25900"))
    assert sl is not None and (sl.status, sl.average_price) == (FILLED, D("25900"))
    assert await ex.position("BTC") is None and await ex.open_orders() == []
    assert (await ex.balance()).total == D("10000")  # not (25900 - 26500) * 0.1: the limit never paid 26500


async def test_take_profit_gapped_through_fills_at_the_gap_price(ex: PaperExchange) -> None:
    await long_btc(ex)
    sl, tp = await ex.place_exit_pair(*exits(SELL, "0.1", sl="26000", tp="28000"))
    await ex.note_price("BTC", D("28300"))  # a take-profit-market fills at the market once triggered
    got_tp, got_sl = await get(ex, tp.id), await get(ex, sl.id)
    assert (got_tp.status, got_tp.average_price, got_sl.status) == (FILLED, D("28300"), CANCELED)
    assert (await ex.balance()).total == D("10130")  # (28300 - 27000) * 0.1


async def test_bracket_client_ids_are_reserved(ex: PaperExchange) -> None:
    await ex.place_order(req(BUY, "0.1", "r", LIMIT, price="26000", sl="25000"))
    with pytest.raises(InvalidOrder, match="already used"):
        await ex.place_order(req(BUY, "0.1", "r-sl"))


# --------------------------------------------------------------------------- positions / balance

async def test_increasing_averages_the_entry(ex: PaperExchange) -> None:
    await long_btc(ex, "0.1")
    await ex.note_price("BTC", D("27300"))
    await long_btc(ex, "0.2", cid="more")
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.3"), D("27200"))
    assert (await ex.balance()).available == D("10000") - D("816")


async def test_reversal_through_zero(ex: PaperExchange) -> None:
    await long_btc(ex, "0.1")
    await ex.note_price("BTC", D("28000"))
    order = await ex.place_order(req(SELL, "0.3", "rev"))
    assert (order.filled_quantity, order.average_price) == (D("0.3"), D("28000"))
    assert await ex.positions() == [Position("BTC", SELL, D("0.2"), D("28000"))]
    bal = await ex.balance()
    assert (bal.total, bal.available) == (D("10100"), D("9540"))  # margin 0.2 * 28000 / 10


async def test_short_profit_and_long_loss_realised(ex: PaperExchange) -> None:
    await ex.place_order(req(SELL, "0.1", "s"))
    await ex.note_price("BTC", D("26000"))
    await ex.place_order(req(BUY, "0.1", "cover", reduce_only=True))
    assert (await ex.balance()).total == D("10100")
    await long_btc(ex, "0.1", cid="l")
    await ex.note_price("BTC", D("25000"))
    await ex.place_order(req(SELL, "0.1", "out", reduce_only=True))
    bal = await ex.balance()
    assert (bal.total, bal.available, bal.extra["realised_pnl"]) == (D("10000"), D("10000"), D("0"))


async def test_positions_lists_every_open_symbol(ex: PaperExchange) -> None:
    await ex.note_price("ETH", D("1800"))
    await long_btc(ex)
    await ex.place_order(req(SELL, "1", "e", symbol="ETH"))
    assert await ex.positions() == [Position("BTC", BUY, D("0.1"), D("27000")),
                                    Position("ETH", SELL, D("1"), D("1800"))]
    assert await ex.position("SOL") is None


async def test_fees_are_charged_on_every_fill(clock: Clock) -> None:
    ex = PaperExchange(fee_rate=D("0.001"), clock=clock)
    await ex.note_price("BTC", D("27000"))
    await ex.place_order(req(BUY, "0.1", "a"))
    await ex.note_price("BTC", D("28000"))
    await ex.place_order(req(SELL, "0.1", "b", reduce_only=True))
    bal = await ex.balance()
    assert (bal.total, bal.extra["fees"]) == (D("10000") + D("100") - D("2.7") - D("2.8"), D("5.5"))


async def test_insufficient_margin(clock: Clock) -> None:
    ex = PaperExchange(starting_equity=D("1000"), clock=clock)
    await ex.note_price("BTC", D("27000"))
    with pytest.raises(InsufficientFunds):
        await ex.place_order(req(BUY, "0.4", "big"))  # 10800 / 10 = 1080 > 1000
    assert await ex.position("BTC") is None and await ex.get_order("BTC", client_order_id="big") is None
    resting = await ex.place_order(req(BUY, "0.3", "rest", LIMIT, price="26000"))  # 780 fits now
    await long_btc(ex, "0.3", cid="fits")  # 810 <= 1000
    with pytest.raises(InsufficientFunds):
        await ex.place_order(req(BUY, "0.1", "more"))  # 270 > 190 available
    with pytest.raises(InsufficientFunds):
        await ex.place_order(req(SELL, "0.8", "flip"))  # short 0.5 needs 1350
    await ex.note_price("BTC", D("26000"))  # the resting limit no longer fits: rejected, not filled
    got = await ex.get_order("BTC", order_id=resting.id)
    assert got is not None and (got.status, got.filled_quantity) == (REJECTED, D("0"))
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.3"), D("27000"))
    closed = await ex.place_order(req(SELL, "0.3", "close", reduce_only=True))  # reducing always allowed
    assert closed.status is FILLED and (await ex.balance()).total == D("700")


# --------------------------------------------------------------------------- orders

async def test_duplicate_client_order_id_is_rejected(ex: PaperExchange) -> None:
    await long_btc(ex, cid="dup")
    with pytest.raises(InvalidOrder, match="'dup' was already used"):
        await ex.place_order(req(SELL, "0.1", "dup"))
    canceled = await ex.place_order(req(BUY, "0.1", "c", LIMIT, price="20000"))
    await ex.cancel_order("BTC", canceled.id)
    with pytest.raises(InvalidOrder, match="already used"):
        await ex.place_order(req(BUY, "0.1", "c"))
    with pytest.raises(InvalidOrder, match="distinct client order ids"):
        await ex.place_exit_pair(req(SELL, "0.1", "z", STOP, trigger="26000", reduce_only=True),
                                 req(SELL, "0.1", "z", TP, trigger="28000", reduce_only=True))
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))


async def test_cancel_and_lookup(ex: PaperExchange, clock: Clock) -> None:
    order = await ex.place_order(req(BUY, "0.1", "c", LIMIT, price="26000"))
    clock.now = T0 + timedelta(minutes=5)
    canceled = await ex.cancel_order("BTC", order.id)
    assert (canceled.id, canceled.status, canceled.updated_at) == (
        order.id, CANCELED, "2024-01-02T03:09:05+00:00")
    with pytest.raises(OrderNotFound):
        await ex.cancel_order("BTC", order.id)
    with pytest.raises(OrderNotFound):
        await ex.cancel_order("BTC", "P999")
    filled = await ex.place_order(req(BUY, "0.1", "f"))
    with pytest.raises(OrderNotFound):
        await ex.cancel_order("BTC", filled.id)
    assert (await get(ex, client_order_id="c")).status is CANCELED
    assert (await get(ex, filled.id)).client_order_id == "f"
    assert await ex.get_order("ETH", order_id=filled.id) is None
    assert await ex.get_order("BTC", order_id=filled.id, client_order_id="c") is None
    assert await ex.get_order("BTC", client_order_id="nope") is None
    await ex.note_price("BTC", D("25000"))  # the canceled limit does not fill
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))


async def test_open_orders_filters_by_symbol(ex: PaperExchange) -> None:
    await ex.note_price("ETH", D("1800"))
    a = await ex.place_order(req(BUY, "0.1", "a", LIMIT, price="26000"))
    b = await ex.place_order(req(BUY, "1", "b", LIMIT, symbol="ETH", price="1700"))
    assert [o.id for o in await ex.open_orders()] == [a.id, b.id]
    assert [o.id for o in await ex.open_orders("ETH")] == [b.id]


async def test_returned_orders_are_snapshots(ex: PaperExchange) -> None:
    order = await ex.place_order(req(BUY, "0.1", "s", LIMIT, price="26000"))
    order.status = CANCELED
    order.quantity = D("5")
    (await ex.open_orders())[0].price = D("1")
    got = await ex.get_order("BTC", order_id=order.id)
    assert got is not None and (got.status, got.quantity, got.price) == (OPEN, D("0.1"), D("26000"))


async def test_requests_log_records_every_request_in_order(ex: PaperExchange) -> None:
    entry = req(BUY, "0.1", "e")
    bad = req(BUY, "0.00001", "bad")
    sl = req(SELL, "0.1", "sl", STOP, trigger="26000", reduce_only=True)
    tp = req(SELL, "0.1", "tp", TP, trigger="28000", reduce_only=True)
    await ex.place_order(entry)
    with pytest.raises(InvalidOrder):
        await ex.place_order(bad)
    await ex.place_exit_pair(sl, tp)
    assert ex.requests == [entry, bad, sl, tp]


# --------------------------------------------------------------------------- failure injection

async def test_injected_failure_raises_before_acting_then_recovers(ex: PaperExchange) -> None:
    ex.fail("place_order", times=2)
    for cid in ("a", "a"):
        with pytest.raises(ExchangeUnavailable, match="paper: injected failure") as info:
            await ex.place_order(req(BUY, "0.1", cid))
        assert info.value.exchange == "paper"
    assert await ex.get_order("BTC", client_order_id="a") is None and await ex.position("BTC") is None
    assert (await ex.place_order(req(BUY, "0.1", "a"))).status is FILLED
    assert len(ex.requests) == 3


async def test_injected_failures_queue_up(ex: PaperExchange) -> None:
    ex.fail("balance", error=RateLimited("slow down", exchange="paper"))
    ex.fail("balance")
    with pytest.raises(RateLimited):
        await ex.balance()
    with pytest.raises(ExchangeUnavailable):
        await ex.balance()
    assert (await ex.balance()).total == D("10000")


@pytest.mark.parametrize("operation", [
    "get_order", "position", "positions", "balance", "last_price", "open_orders", "symbol_rules",
    "cancel_order",
])
async def test_every_operation_can_fail(ex: PaperExchange, operation: str) -> None:
    order = await ex.place_order(req(BUY, "0.1", "o", LIMIT, price="26000"))
    calls = {
        "get_order": lambda: ex.get_order("BTC", order_id=order.id),
        "position": lambda: ex.position("BTC"), "positions": ex.positions, "balance": ex.balance,
        "last_price": lambda: ex.last_price("BTC"), "open_orders": ex.open_orders,
        "symbol_rules": lambda: ex.symbol_rules("BTC"),
        "cancel_order": lambda: ex.cancel_order("BTC", order.id),
    }
    ex.fail(operation)
    with pytest.raises(ExchangeUnavailable):
        await calls[operation]()
    assert (await get(ex, order.id)).status is OPEN
    await calls[operation]()


async def test_unknown_operation_cannot_be_failed(ex: PaperExchange) -> None:
    with pytest.raises(ValueError):
        ex.fail("withdraw")


async def test_applied_failure_takes_effect_and_order_is_found_by_client_id(ex: PaperExchange) -> None:
    ex.fail("place_order", error=OutcomeUnknown("timeout", exchange="paper"), applied=True)
    with pytest.raises(OutcomeUnknown):
        await ex.place_order(req(BUY, "0.1", "maybe", sl="26000"))
    found = await ex.get_order("BTC", client_order_id="maybe")
    assert found is not None and (found.status, found.filled_quantity, found.stop_loss_order_id) == (
        FILLED, D("0.1"), "P2")
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))


async def test_applied_cancel_failure_cancels(ex: PaperExchange) -> None:
    order = await ex.place_order(req(BUY, "0.1", "o", LIMIT, price="26000"))
    ex.fail("cancel_order", error=OutcomeUnknown("timeout", exchange="paper"), applied=True)
    with pytest.raises(OutcomeUnknown):
        await ex.cancel_order("BTC", order.id)
    assert await ex.open_orders() == []


async def test_stop_loss_failure_blocks_stop_orders_and_exit_pairs(ex: PaperExchange) -> None:
    await long_btc(ex)
    sl = req(SELL, "0.1", "sl", STOP, trigger="26000", reduce_only=True)
    tp = req(SELL, "0.1", "tp", TP, trigger="28000", reduce_only=True)
    ex.fail("stop_loss", times=2)
    with pytest.raises(ExchangeUnavailable):
        await ex.place_exit_pair(sl, tp)
    assert await ex.open_orders() == []  # neither leg
    with pytest.raises(ExchangeUnavailable):
        await ex.place_order(sl)
    tp_only = await ex.place_order(tp)  # a take profit is not a stop
    assert tp_only.status is OPEN
    assert (await ex.place_order(sl)).status is OPEN  # the rule is used up


async def test_stop_loss_failure_on_bracket_fills_entry_without_bracket(ex: PaperExchange) -> None:
    ex.fail("stop_loss")
    entry = await ex.place_order(req(BUY, "0.1", "e", sl="26000", tp="28000"))
    assert (entry.status, entry.stop_loss_order_id, entry.take_profit_order_id) == (FILLED, None, None)
    assert await ex.open_orders() == []
    assert await ex.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))
    resting = await ex.place_order(req(BUY, "0.1", "e2", LIMIT, price="26500", sl="26000"))
    ex.fail("stop_loss")
    await ex.note_price("BTC", D("26500"))  # fills later: still no bracket, no error
    got = await ex.get_order("BTC", order_id=resting.id)
    assert got is not None and (got.status, got.stop_loss_order_id) == (FILLED, None)
    assert await ex.open_orders() == []
    third = await ex.place_order(req(BUY, "0.1", "e3", sl="26000"))  # no rule left: protected
    assert third.stop_loss_order_id is not None


# --------------------------------------------------------------------------- persistence

async def test_persistence_round_trip(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state" / "paper.json"
    ex = PaperExchange(state_path=path, clock=clock)
    await ex.note_price("BTC", D("27000"))
    await ex.place_order(req(BUY, "0.2", "e1", sl="26000", tp="28000"))
    await ex.note_price("BTC", D("27500"))
    await ex.place_order(req(SELL, "0.1", "half", reduce_only=True))  # realises +50
    await ex.place_order(req(BUY, "0.1", "e2", LIMIT, price="27000", sl="26500", tp="29000"))
    await ex.place_order(req(BUY, "0.1", "gone", LIMIT, price="20000"))
    await ex.cancel_order("BTC", "P6")
    # no close: a crash right here must lose nothing (the journal reached the kernel)
    again = PaperExchange(state_path=path, clock=clock)
    assert await again.positions() == await ex.positions() == [
        Position("BTC", BUY, D("0.1"), D("27000"))]
    assert await again.open_orders() == await ex.open_orders()
    assert [o.id for o in await again.open_orders()] == ["P2", "P3", "P5"]
    assert await again.balance() == await ex.balance()
    assert (await again.balance()).total == D("10050")
    assert await again.last_price("BTC") == D("27500")
    assert await again.symbol_rules("BTC") == SymbolRules("BTC", D("0.1"), D("0.0001"), D("0.0001"), D("5"))
    assert await again.get_order("BTC", order_id="P6") == await ex.get_order("BTC", order_id="P6")
    for cid in ("e1", "gone", "e2-sl"):  # used and reserved client ids survive
        with pytest.raises(InvalidOrder, match="already used"):
            await again.place_order(req(BUY, "0.1", cid))
    assert (await again.place_order(req(BUY, "0.1", "new", LIMIT, price="20000"))).id == "P7"
    # the resting entry fills after the restart and gets its bracket
    await again.note_price("BTC", D("27000"))
    e2 = await again.get_order("BTC", client_order_id="e2")
    assert e2 is not None
    assert (e2.status, e2.stop_loss_order_id, e2.take_profit_order_id) == (FILLED, "P8", "P9")
    # OCO links survive: the take profit cancels its stop
    await again.note_price("BTC", D("28000"))
    assert (await get(again, "P3")).status is FILLED
    assert (await get(again, "P2")).status is CANCELED
    # 0.2 long closed by the 0.2 take profit: flat, e2's fresh bracket goes with it
    assert await again.position("BTC") is None
    assert [o.id for o in await again.open_orders()] == ["P7"]
    assert (await again.balance()).total == D("10250")
    await again.aclose()
    third = PaperExchange(state_path=path, clock=clock)
    assert await third.open_orders() == await again.open_orders()
    assert await third.balance() == await again.balance()


async def test_every_mutation_is_journaled_and_compaction_keeps_state(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    ex = PaperExchange(state_path=path)
    await ex.note_price("BTC", D("27000"))
    await ex.place_order(req(BUY, "0.1", "a"))
    lines = (tmp_path / "paper.json.journal").read_text().splitlines()
    assert len(lines) == 2  # one line per mutation, holding only what changed
    assert json.loads(lines[1])["orders"][0]["average_price"] == "27000"
    await ex.aclose()  # compacts: the snapshot holds everything, the journal starts over
    assert (tmp_path / "paper.json.journal").read_text() == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["paper.json", "paper.json.journal"]
    again = PaperExchange(state_path=path)
    assert await again.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))


async def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    ex = PaperExchange(state_path=path)
    await ex.note_price("BTC", D("27000"))
    await ex.place_order(req(BUY, "0.1", "a"))
    with open(tmp_path / "paper.json.journal", "a") as journal:
        journal.write('{"version":1,"orders":[{"id":"P9"')  # power lost mid-write
    again = PaperExchange(state_path=path)
    assert await again.position("BTC") == Position("BTC", BUY, D("0.1"), D("27000"))
    assert (await again.place_order(req(BUY, "0.1", "b"))).id == "P2"


async def test_finished_order_history_is_bounded_but_open_orders_are_kept(ex: PaperExchange) -> None:
    await ex.note_price("BTC", D("27000"))
    resting = await ex.place_order(req(BUY, "0.1", "rest", LIMIT, price="20000"))
    first = await ex.place_order(req(BUY, "0.1", "first"))
    for i in range(PaperBook.HISTORY + 5):
        await ex.place_order(req(SELL if i % 2 == 0 else BUY, "0.1", f"o{i}"))
    ex._book.prune()
    assert await ex.get_order("BTC", order_id=first.id) is None  # oldest finished order forgotten
    assert (await ex.get_order("BTC", order_id=resting.id)).status is OrderStatus.OPEN


async def test_corrupt_snapshot_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="cannot read the state"):
        PaperExchange(state_path=path)


async def test_ping_and_capabilities(ex: PaperExchange) -> None:
    assert await ex.ping() is True
    assert ex.name == "paper"
    caps = ex.capabilities
    assert (caps.attached_brackets, caps.oco, caps.reduce_only, caps.limit_orders, caps.simulated) == (
        True, True, True, True, True)


async def test_snapshot_write_failure_is_outcome_unknown(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    ex = PaperExchange(state_path=blocker / "paper.json")
    with pytest.raises(OutcomeUnknown, match="could not write"):
        await ex.note_price("BTC", D("27000"))
    with pytest.raises(OutcomeUnknown):
        await ex.place_order(req(BUY, "0.1", "w"))
    # the order took effect in memory: look it up, never resend
    assert (await get(ex, client_order_id="w")).status is FILLED


async def test_the_orders_of_a_symbols_latest_position_outlive_the_bounded_history(tmp_path: Path) -> None:
    path = tmp_path / "paper.json"
    ex = PaperExchange(state_path=path)
    await ex.note_price("BTC", D("27000"))
    await ex.note_price("ETH", D("1800"))
    await ex.place_order(req(BUY, "0.1", "e", sl="26000", tp="28000"))
    await ex.note_price("BTC", D("25900"))  # the stop fills; nobody has asked about it yet
    first_eth = await ex.place_order(req(BUY, "1", "eth-0", symbol="ETH"))
    for i in range(1, PaperBook.HISTORY + 5):  # far more orders finish on another symbol
        await ex.place_order(req(SELL if i % 2 else BUY, "1", f"eth-{i}", symbol="ETH"))
    await ex.aclose()  # the snapshot forgets the old history

    again = PaperExchange(state_path=path)
    stop = await again.get_order("BTC", client_order_id="e-sl")
    assert stop is not None and (stop.status, stop.average_price) == (FILLED, D("25900"))
    assert (await again.get_order("BTC", client_order_id="e")).status is FILLED
    assert (await again.get_order("BTC", client_order_id="e-tp")).status is CANCELED
    assert await again.get_order("ETH", order_id=first_eth.id) is None  # plain history is still bounded


async def test_a_new_position_releases_the_previous_ones_orders(ex: PaperExchange) -> None:
    await ex.place_order(req(BUY, "0.1", "first", sl="26000"))
    await ex.note_price("BTC", D("25900"))
    await ex.note_price("BTC", D("27000"))
    await ex.place_order(req(BUY, "0.1", "second"))
    for i in range(PaperBook.HISTORY + 5):
        await ex.place_order(req(BUY, "0.1", f"b{i}", LIMIT, price="20000"))
        await ex.cancel_order("BTC", (await ex.get_order("BTC", client_order_id=f"b{i}")).id)
    ex._book.prune()
    assert await ex.get_order("BTC", client_order_id="first-sl") is None
    assert (await ex.get_order("BTC", client_order_id="second")).status is FILLED


async def test_each_fill_reports_its_fee_in_the_settlement_currency(clock: Clock) -> None:
    ex = PaperExchange(clock=clock, fee_rate=D("0.0005"))
    await ex.note_price("BTC", D("27000"))
    entry = await ex.place_order(req(BUY, "0.1", "f", sl="26000"))
    assert entry.fee == D("1.35")  # 0.1 × 27000 × 0.05 %
    await ex.note_price("BTC", D("25900"))
    stop = await ex.get_order("BTC", client_order_id="f-sl")
    assert stop is not None and stop.fee == D("1.295")
    assert (await ex.balance()).extra["fees"] == D("2.645")


async def test_paper_has_no_candles_and_says_why() -> None:
    venue = PaperExchange()
    await venue.note_price("BTCUSDT", D("27000"))
    with pytest.raises(NotSupported, match="paper: no candles: .* keeps only the last price"):
        await venue.candles("BTCUSDT", "1h", 10)
