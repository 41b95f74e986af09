"""The options monitor through the real app: `tradier_option_trades` rows followed on the user's own
Tradier account (respx, Tradier's recorded shapes in tests/fixtures/tradier_options/monitor_*.json),
one pass per `run_once` (no sleeps). What is asserted is what a user sees: the row, the trade, the
notification, and the exact requests Tradier received."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx
from structlog.testing import capture_logs

from sparky.store.option_trades import OptionTradeRecord
from sparky.store.tenants import CredentialRecord, LocalUser, TradeSettings
from tests.conftest import Sparky, make_settings, running

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tradier_options"
ALICE = "11111111-1111-4111-8111-111111111111"
ACCOUNT = "VA000001"
ORDERS = f"/v1/accounts/{ACCOUNT}/orders"
OCC = "SPY261218C00600000"
MONDAY_10_NY = datetime(2026, 12, 14, 15, 0, tzinfo=UTC)
SATURDAY = datetime(2026, 12, 12, 15, 0, tzinfo=UTC)
AUTO_CLOSE = {"tradier_options": {"auto_close_outside_window": True}}  # outside ny-session (the default window)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"monitor_{name}.json").read_text())


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class FakeTradier:
    """One Tradier sandbox account behind respx: order reads, cancels, the close POST, the order list."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router
        self.orders: dict[str, dict[str, Any]] = {}
        self.forms: list[dict[str, str]] = []
        self.failing: set[str] = set()
        #: statuses the next order POSTs answer with instead of accepting
        self.post_failures: list[int] = []
        router.get(path__regex=rf"^{ORDERS}/(?P<oid>\d+)$").mock(side_effect=self._detail)
        router.delete(path__regex=rf"^{ORDERS}/(?P<oid>\d+)$").mock(side_effect=self._cancel)
        router.post(path=ORDERS).mock(side_effect=self._post)
        router.get(path=ORDERS).mock(side_effect=self._list)

    def serve(self, order_id: str, name: str) -> dict[str, Any]:
        body = copy.deepcopy(fixture(name))
        body["order"]["id"] = int(order_id)
        self.orders[order_id] = body
        return body["order"]

    def requests(self) -> list[tuple[str, str]]:
        return [(call.request.method, call.request.url.path) for call in self.router.calls]

    def _detail(self, request: httpx.Request, oid: str) -> httpx.Response:
        if oid in self.failing:
            return httpx.Response(500, text="Internal Server Error")
        if oid not in self.orders:
            return httpx.Response(404, text="Not Found")
        return httpx.Response(200, json=self.orders[oid])

    def _cancel(self, request: httpx.Request, oid: str) -> httpx.Response:
        legs = self.orders[oid]["order"].get("leg") or []
        for leg in legs if isinstance(legs, list) else [legs]:
            if leg["status"] in ("open", "pending", "partially_filled"):
                leg["status"] = "canceled"
        return httpx.Response(200, json={"order": {"id": int(oid), "status": "ok"}})

    def _post(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.forms.append(form)
        order = self.serve("7101", "order_close_open")
        order["tag"] = form["tag"]
        if self.post_failures:
            return httpx.Response(self.post_failures.pop(0), text="Bad Gateway")
        return httpx.Response(200, json=fixture("order_ok"))

    def _list(self, request: httpx.Request) -> httpx.Response:
        found = [body["order"] for body in self.orders.values()]
        return httpx.Response(200, json={"orders": {"order": found} if found else "null"})


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_10_NY)


@pytest.fixture
async def server(data_dir: Path, clock: Clock, request: pytest.FixtureRequest) -> AsyncIterator[Sparky]:
    overrides = getattr(request, "param", {})
    settings = make_settings(data_dir, options_monitor_sec=3600, **overrides)  # runs driven by the test
    async with running(settings, clock=clock) as sparky:
        store = sparky.services.store
        await store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))
        await store.upsert_credentials(CredentialRecord(ALICE, "tradier", api_key="tok-alice", account_id=ACCOUNT,
                                                        extra_metadata={"environment": "sandbox"}))
        yield sparky


@pytest.fixture
def tradier() -> Any:
    with respx.mock(base_url="https://sandbox.tradier.com", assert_all_called=False) as router:
        yield FakeTradier(router)


async def add_row(sparky: Sparky, order_id: str = "7001", **changes: Any) -> OptionTradeRecord:
    values: dict[str, Any] = dict(
        user_id=ALICE, underlying_symbol="SPY", option_symbol=OCC, option_type="call", strike_price=D(600),
        expiration_date=date(2026, 12, 18), quantity_contracts=D(2), entry_order_id=order_id,
        entry_limit_price=D("2.50"), tp_limit_price=D("3.75"), sl_stop_price=D("1.25"), cost_usd=D(500),
        extra_metadata={"environment": "sandbox", "request_id": "req-1"})
    values.update(changes)
    return await sparky.services.store.add_option_trade(OptionTradeRecord(**values))


async def opened_row(sparky: Sparky, **changes: Any) -> OptionTradeRecord:
    return await add_row(sparky, status="open", cost_usd=D(490),
                         extra_metadata={"environment": "sandbox", "entry_fill_price": "2.45"}, **changes)


async def row_of(sparky: Sparky, row: OptionTradeRecord) -> OptionTradeRecord:
    [found] = [r for r in await sparky.services.store.option_trades() if r.id == row.id]
    return found


async def notifications(sparky: Sparky) -> list[tuple[str, str]]:
    await sparky.services.notifier.drain()
    return [(n.metadata["event"], n.title) for n in await sparky.services.store.list_notifications(ALICE)]


async def run(sparky: Sparky) -> int:
    return await sparky.services.options.run_once()


async def test_an_entry_fill_opens_the_row_with_its_fill_and_tells_the_user(server: Sparky, tradier: FakeTradier) -> None:
    row = await add_row(server)
    tradier.serve("7001", "order_otoco_waiting")
    await run(server)
    assert (await row_of(server, row)).status == "pending_entry"

    tradier.serve("7001", "order_otoco_entry_filled")
    await run(server)

    opened = await row_of(server, row)
    assert (opened.status, opened.quantity_contracts, opened.cost_usd) == ("open", D(2), D(490))
    assert opened.extra_metadata["entry_fill_price"] == "2.45"
    assert opened.entry_order["status"] == "filled"
    assert await notifications(server) == [("trade_opened", f"Bought {OCC}")]
    assert tradier.requests() == [("GET", f"{ORDERS}/7001")] * 2


@pytest.mark.parametrize("reply", ["order_otoco_entry_expired", "order_otoco_single_leg_rejected"])
async def test_an_entry_that_ended_unfilled_cancels_the_row(server: Sparky, tradier: FakeTradier, reply: str) -> None:
    row = await add_row(server)
    tradier.serve("7001", reply)

    await run(server)

    assert (await row_of(server, row)).status == "cancelled"
    assert await server.services.store.list_trades() == []
    assert tradier.forms == []


async def test_a_partial_entry_holds_what_was_bought_until_the_rest_fills(server: Sparky, tradier: FakeTradier) -> None:
    row = await add_row(server)
    tradier.serve("7001", "order_otoco_entry_partial")
    await run(server)
    partial = await row_of(server, row)
    assert (partial.status, partial.quantity_contracts, partial.cost_usd) == ("open", D(1), D(240))

    tradier.serve("7001", "order_otoco_entry_filled")
    await run(server)
    assert (await row_of(server, row)).quantity_contracts == D(2)


async def test_the_target_fill_closes_the_row_with_its_trade_and_notification(server: Sparky,
                                                                              tradier: FakeTradier) -> None:
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_target_filled")

    await run(server)

    closed = await row_of(server, row)
    assert (closed.status, closed.pnl_usd, closed.pnl_percent) == ("closed_tp", D(270), D("55.1020"))
    [trade] = await server.services.store.list_trades()
    assert (trade.user_id, trade.exchange, trade.symbol, trade.side, trade.quantity) == (
        ALICE, "tradier_options", OCC, "BUY", D(2))
    assert (trade.entry_price, trade.exit_price, trade.position_size_usd) == (D("2.45"), D("3.8"), D(490))
    assert (trade.pnl_usd, trade.pnl_percent, trade.is_winner, trade.fees_usd) == (D(270), D("55.1020"), True, None)
    assert (trade.exit_reason, trade.order_id, trade.asset_class) == ("TAKE_PROFIT", "7003", "options")
    assert await notifications(server) == [("take_profit_triggered", f"Take profit hit on {OCC}")]

    calls = len(tradier.router.calls)
    assert await run(server) == 0  # closed: no longer followed, nothing asked of Tradier
    assert len(tradier.router.calls) == calls
    assert len(await server.services.store.list_trades()) == 1


async def test_the_stop_fill_closes_the_row_at_a_loss(server: Sparky, tradier: FakeTradier) -> None:
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_stop_filled")

    await run(server)

    closed = await row_of(server, row)
    assert (closed.status, closed.pnl_usd) == ("closed_sl", D(-250))  # (1.20 − 2.45) × 2 × 100
    [trade] = await server.services.store.list_trades()
    assert (trade.exit_reason, trade.exit_price, trade.pnl_usd, trade.order_id) == ("STOP_LOSS", D("1.2"), D(-250),
                                                                                     "7004")
    assert await notifications(server) == [("stop_loss_triggered", f"Stop loss hit on {OCC}")]


@pytest.mark.parametrize("server", [AUTO_CLOSE], indirect=True)
async def test_outside_the_window_one_market_close_is_sent_and_followed_over_three_runs(
        server: Sparky, tradier: FakeTradier, clock: Clock) -> None:
    clock.now = SATURDAY  # outside market-hours
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_entry_filled")  # target and stop working

    await run(server)  # exits cancelled, then one market sell_to_close
    assert tradier.requests() == [("GET", f"{ORDERS}/7001"), ("DELETE", f"{ORDERS}/7001"),
                                  ("GET", f"{ORDERS}/7001"), ("POST", ORDERS)]
    tag = f"sp{row.id.replace('-', '')[:24]}-x1"
    assert tradier.forms == [{"class": "option", "symbol": "SPY", "option_symbol": OCC, "side": "sell_to_close",
                              "quantity": "2", "type": "market", "duration": "day", "tag": tag}]
    assert (await row_of(server, row)).time_exit_order_id == "7101"

    await run(server)  # still working: looked at, never sent again
    assert tradier.requests()[4:] == [("GET", f"{ORDERS}/7101")]

    tradier.serve("7101", "order_close_filled")
    await run(server)

    closed = await row_of(server, row)
    assert (closed.status, closed.pnl_usd, closed.quantity_contracts) == ("closed", D(-70), D(0))
    [trade] = await server.services.store.list_trades()
    assert (trade.exit_reason, trade.exit_price, trade.quantity, trade.order_id) == ("TIME_EXIT", D("2.1"), D(2), "7101")
    assert len(tradier.forms) == 1
    assert await notifications(server) == [("position_closed_loss", f"Closed {OCC} (time exit)")]


@pytest.mark.parametrize("server", [AUTO_CLOSE], indirect=True)
async def test_a_close_whose_reply_was_lost_is_found_by_its_tag_and_not_sent_again(
        server: Sparky, tradier: FakeTradier, clock: Clock) -> None:
    clock.now = SATURDAY
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_exits_canceled")
    tradier.post_failures.append(502)  # Tradier took it, its answer was lost

    await run(server)
    assert (await row_of(server, row)).time_exit_order_id is None
    await run(server)

    assert len(tradier.forms) == 1
    assert (await row_of(server, row)).time_exit_order_id == "7101"


async def test_on_expiry_day_the_row_is_closed_from_the_cut_off(server: Sparky, tradier: FakeTradier,
                                                                clock: Clock) -> None:
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_entry_filled")
    clock.now = datetime(2026, 12, 18, 20, 0, tzinfo=UTC)  # expiration day, 15:00 New York: not yet
    await run(server)
    assert tradier.forms == []

    clock.now = datetime(2026, 12, 18, 20, 30, tzinfo=UTC)  # 15:30 New York, in the session, auto-close off
    await run(server)

    assert [form["side"] for form in tradier.forms] == ["sell_to_close"]
    closing = await row_of(server, row)
    assert (closing.time_exit_order_id, closing.extra_metadata["close_reason"]) == ("7101", "EXPIRY")
    tradier.serve("7101", "order_close_filled")
    await run(server)
    [trade] = await server.services.store.list_trades()
    assert (trade.exit_reason, (await row_of(server, row)).status) == ("EXPIRY", "closed")


@pytest.mark.parametrize("server", [AUTO_CLOSE], indirect=True)
async def test_a_users_own_settings_keep_their_option_open_outside_the_window(
        server: Sparky, tradier: FakeTradier, clock: Clock) -> None:
    await server.services.store.upsert_trade_settings(
        TradeSettings(ALICE, "tradier_options", auto_close_outside_window=False))
    clock.now = SATURDAY
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_entry_filled")

    await run(server)

    assert tradier.forms == [] and (await row_of(server, row)).status == "open"


async def test_nothing_is_asked_of_tradier_while_no_row_is_pending_or_open(server: Sparky,
                                                                          tradier: FakeTradier) -> None:
    assert await run(server) == 0
    await add_row(server, status="closed_tp")
    await add_row(server, "7002", status="cancelled")

    assert await run(server) == 0
    assert tradier.router.calls.call_count == 0


async def test_one_rows_venue_error_never_stops_the_others(server: Sparky, tradier: FakeTradier) -> None:
    broken = await opened_row(server)
    fine = await opened_row(server, entry_order_id="8001")
    tradier.failing.add("7001")
    tradier.serve("8001", "order_otoco_target_filled")

    with capture_logs() as logs:
        await run(server)

    assert (await row_of(server, fine)).status == "closed_tp"
    assert (await row_of(server, broken)).status == "open"
    [failed] = [log for log in logs if log["event"] == "options.row_failed"]
    assert failed["option_trade_id"] == broken.id and "ExchangeUnavailable" in failed["error"]


async def test_contracts_left_without_a_working_exit_raise_the_alarm_once(server: Sparky, tradier: FakeTradier) -> None:
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_exits_canceled")  # target and stop cancelled on Tradier by hand

    await run(server)
    await run(server)

    assert await notifications(server) == [("position_unprotected", f"UNPROTECTED POSITION on {OCC}")]
    assert (await row_of(server, row)).status == "open" and tradier.forms == []


@pytest.mark.parametrize("server", [AUTO_CLOSE], indirect=True)
async def test_an_entry_still_buying_is_cancelled_before_the_close_sells_what_it_bought(
        server: Sparky, tradier: FakeTradier, clock: Clock) -> None:
    row = await add_row(server)
    tradier.serve("7001", "order_otoco_entry_partial")  # 1 of 2 contracts bought, the rest still working
    await run(server)
    clock.now = SATURDAY

    await run(server)

    assert ("DELETE", f"{ORDERS}/7001") in tradier.requests()
    assert tradier.orders["7001"]["order"]["leg"][0]["status"] == "canceled"
    assert [(form["side"], form["quantity"]) for form in tradier.forms] == [("sell_to_close", "1")]
    assert (await row_of(server, row)).time_exit_order_id == "7101"


@pytest.mark.parametrize("server", [AUTO_CLOSE], indirect=True)
async def test_a_users_settings_out_of_range_never_stop_their_trade_being_followed(
        server: Sparky, tradier: FakeTradier, clock: Clock) -> None:
    await server.services.store.upsert_trade_settings(
        TradeSettings(ALICE, "tradier_options", strike_tolerance_percent=D(99)))  # beyond the 50 % allowed
    clock.now = SATURDAY
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_exits_canceled")

    with capture_logs() as logs:
        await run(server)

    assert [form["side"] for form in tradier.forms] == ["sell_to_close"]  # the server's auto-close applies
    assert (await row_of(server, row)).time_exit_order_id == "7101"
    assert [log["user_id"] for log in logs if log["event"] == "options.settings_invalid"] == [ALICE]


async def test_a_users_custom_trading_window_decides_when_their_option_is_closed(
        server: Sparky, tradier: FakeTradier, clock: Clock) -> None:
    await server.services.store.upsert_trade_settings(TradeSettings(
        ALICE, "tradier_options", trading_hours_preset="custom", trading_window=["14:30", "17:59"],
        auto_close_outside_window=True))
    row = await opened_row(server)
    tradier.serve("7001", "order_otoco_entry_filled")
    clock.now = datetime(2026, 12, 14, 17, 30, tzinfo=UTC)  # inside 14:30-17:59 UTC
    await run(server)
    assert tradier.forms == []

    clock.now = datetime(2026, 12, 14, 18, 0, tzinfo=UTC)  # past its end minute; 13:00 in New York (ny-session)
    await run(server)

    assert [form["side"] for form in tradier.forms] == ["sell_to_close"]
    assert (await row_of(server, row)).extra_metadata["close_reason"] == "TIME_EXIT"
