"""What an open and a close cost on Aster, request by request, through the real app.

At 25 ms a request the venue's round trips are most of a webhook's time, so each one on the
critical path shows. The scripted venue (`FakeAster`) records every request; `Together` makes the
requests that must be in flight at the same time wait (boundedly) for each other, so a pair sent
one after the other fails the test instead of only costing time.
"""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from typing import Any
from urllib.parse import parse_qsl

import httpx
import respx

from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from tests.conftest import SECRET as WEBHOOK_SECRET
from tests.unit.exchanges.aster.test_aster import BASE, ERRORS, KEY, SECRET, FakeAster

READS = ["GET /fapi/v1/openOrders", "GET /fapi/v2/positionRisk"]
LOADED_ONCE = ("GET /fapi/v1/exchangeInfo", "GET /fapi/v1/time")  # rules and clock (warm-up: see below)
ALICE = "11111111-1111-4111-8111-111111111111"
ALICE_SECRET = "alice-secret-8c1f2e"


class Together:
    """The venue, answering each request of a group only once every request of the group has
    arrived (waiting at most `patience` seconds): a group sent in sequence is caught in `apart`."""

    def __init__(self, venue: FakeAster, patience: float = 5.0) -> None:
        self.venue = venue
        self.patience = patience
        self.groups: list[tuple[set[str], set[str], asyncio.Event]] = []
        self.apart: list[str] = []

    def expect(self, *names: str) -> None:
        self.groups.append((set(names), set(), asyncio.Event()))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        name = f"{request.method} {request.url.path}"
        for names, arrived, all_in in self.groups:
            if name in names and name not in arrived:
                arrived.add(name)
                if arrived == names:
                    all_in.set()
                try:
                    await asyncio.wait_for(all_in.wait(), self.patience)
                except TimeoutError:
                    self.apart.append(name)
                break
        return self.venue.handle(request)


def query(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.url.query.decode()))


def form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode()))


def aster_config(tmp_path: Any) -> Any:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    return config


async def post(sparky: Any, action: str, price: str, secret: str = WEBHOOK_SECRET) -> httpx.Response:
    return await sparky.client.post("/webhook", json={
        "secret": secret, "exchange": "aster", "symbol": "BTCUSDT", "action": action, "price": price,
        "position_size_usd": 270, "stop_loss_percent": 2, "take_profit_percent": 4})


async def test_an_open_and_a_close_each_cost_three_round_trips(start, tmp_path) -> None:
    venue = FakeAster()
    venue.commission_rate = D("0.0005")  # 0.05 % a fill, in USDT
    venue_side = Together(venue)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue_side.handle)
        async with start(config_path=aster_config(tmp_path)) as sparky:
            venue_side.expect(*READS)
            venue_side.expect("POST /fapi/v1/batchOrders", "GET /fapi/v1/userTrades")
            venue.price = venue.fill_price = D("27000")
            opened = await post(sparky, "buy", "27000")
            assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
            # the position and resting orders; the entry; its SL+TP in one batch beside its fee
            calls = [c for c in venue.calls() if c not in LOADED_ONCE and c != "GET /fapi/v1/ping"]
            assert sorted(calls[:2]) == READS and calls[2] == "POST /fapi/v1/order"
            assert sorted(calls[3:]) == ["GET /fapi/v1/userTrades", "POST /fapi/v1/batchOrders"]
            assert venue_side.apart == []
            position = opened.json()["position"]
            exits = [int(position["stopLossOrderId"]), int(position["takeProfitOrderId"])]

            venue.received.clear()
            venue_side.groups.clear()
            venue_side.expect(*READS)
            venue_side.expect("DELETE /fapi/v1/batchOrders", "GET /fapi/v1/userTrades")
            venue.price = venue.fill_price = D("28000")
            closed = await post(sparky, "close", "28000")
            assert closed.status_code == 200, closed.text
            # 1. the position and resting orders  2. the reduce-only close  3. one batch cancel of both
            # exits beside the close's fee: no position read after a close that filled in full
            calls = venue.calls()
            assert sorted(calls[:2]) == READS and calls[2] == "POST /fapi/v1/order"
            assert sorted(calls[3:]) == ["DELETE /fapi/v1/batchOrders", "GET /fapi/v1/userTrades"]
            assert venue_side.apart == []
            [close] = venue.requests_to("POST", "/fapi/v1/order")
            sent = form(close)
            assert (sent["side"], sent["type"], sent["quantity"], sent["reduceOnly"]) == (
                "SELL", "MARKET", "0.010", "true")
            assert sent["newClientOrderId"] == f"sp{closed.json()['request_id'].replace('-', '')[:24]}-x"
            [cancel] = venue.requests_to("DELETE", "/fapi/v1/batchOrders")
            assert query(cancel)["symbol"] == "BTCUSDT" and json.loads(query(cancel)["orderIdList"]) == exits
            close_order = next(o for o in venue.orders if o["clientOrderId"] == sent["newClientOrderId"])
            [fee_read] = venue.requests_to("GET", "/fapi/v1/userTrades")
            assert query(fee_read)["orderId"] == str(close_order["orderId"])

            # the trade: exit at the close's fill, net of both fees (0.135 in, 0.14 out)
            body = closed.json()
            assert body["action"] == "closed" and "warning" not in body
            assert body["pnl"] == {"usd": 9.73, "percent": 3.6019}
            [trade] = await sparky.services.store.list_trades()
            assert (trade.exit_price, trade.quantity, trade.fees_usd, trade.pnl_usd) == (
                D("28000"), D("0.010"), D("0.275"), D("9.72500000"))
            assert trade.order_id == str(close_order["orderId"])
            assert [o["status"] for o in venue.orders if o["orderId"] in exits] == ["CANCELED", "CANCELED"]
            assert (await sparky.admin_get("/positions")).json()["totalPositions"] == 0


async def test_a_close_filled_in_part_is_still_confirmed_and_reports_what_is_left(start, tmp_path) -> None:
    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=aster_config(tmp_path)) as sparky:
            venue.price = venue.fill_price = D("27000")
            assert (await post(sparky, "buy", "27000")).json()["action"] == "opened"

            venue.received.clear()
            venue.market_status, venue.partial_fill = "PARTIALLY_FILLED", D("0.004")
            venue.price = venue.fill_price = D("27500")
            closed = await post(sparky, "close", "27500")
            assert closed.status_code == 200, closed.text
            body = closed.json()
            # the fill is not the whole position: the venue is asked, and still holds the rest
            assert body["success"] is False and body["action"] == "close_failed"
            assert body["error"] == "BTCUSDT still open after the close order"
            after_close = venue.calls()[venue.calls().index("POST /fapi/v1/order") + 1:]
            assert "GET /fapi/v2/positionRisk" in after_close
            assert "DELETE /fapi/v1/batchOrders" not in after_close  # the rest keeps its exits
            [trade] = await sparky.services.store.list_trades()
            assert (trade.exit_price, trade.quantity) == (D("27500"), D("0.004"))
            [position] = (await sparky.admin_get("/positions")).json()["positions"]
            assert D(str(position["quantity"])) == D("0.006")
            assert venue.positions["BTCUSDT"][0] == D("0.006")


async def test_an_exit_the_batch_cancel_refuses_is_reported_and_swept_by_the_next_signal(start, tmp_path) -> None:
    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=aster_config(tmp_path)) as sparky:
            venue.price = venue.fill_price = D("27000")
            position = (await post(sparky, "buy", "27000")).json()["position"]
            stop, target = position["stopLossOrderId"], position["takeProfitOrderId"]

            venue.cancel_errors[target] = ERRORS["too_many_requests"]  # the batch cancels the stop only
            venue.price = venue.fill_price = D("27270")
            closed = await post(sparky, "close", "27270")
            body = closed.json()
            # the close is done: the survivor is a warning, never a failure
            assert closed.status_code == 200 and body["success"] is True and body["action"] == "closed"
            assert body["pnl"]["usd"] == 2.7
            assert body["warning"] == (f"Exit orders {target} on BTCUSDT could not be cancelled; Sparky cancels "
                                       "them on the next signal for this symbol, before any new entry")
            assert {str(o["orderId"]): o["status"] for o in venue.orders if o["type"] != "MARKET"} == {
                stop: "CANCELED", target: "NEW"}
            assert (await sparky.admin_get("/positions")).json()["totalPositions"] == 0

            venue.cancel_errors.clear()
            venue.received.clear()
            venue.price = venue.fill_price = D("27100")
            reopened = await post(sparky, "buy", "27100")
            assert reopened.json()["action"] == "opened" and "warning" not in reopened.json()
            calls = venue.calls()
            assert sorted(calls[:2]) == READS
            assert calls[2:4] == ["DELETE /fapi/v1/batchOrders", "POST /fapi/v1/order"]  # the sweep, then the entry
            [sweep, *_] = venue.requests_to("DELETE", "/fapi/v1/batchOrders")
            assert json.loads(query(sweep)["orderIdList"]) == [int(target)]
            assert next(o for o in venue.orders if str(o["orderId"]) == target)["status"] == "CANCELED"


async def test_the_first_webhook_after_start_waits_for_no_rules_or_clock(start, tmp_path) -> None:
    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=aster_config(tmp_path)) as sparky:
            await sparky.services.accounts.warmed()
            # loaded at start-up, in the background
            assert sorted(venue.calls()) == ["GET /fapi/v1/exchangeInfo", "GET /fapi/v1/time"]
            venue.received.clear()
            venue.price = venue.fill_price = D("27000")
            opened = await post(sparky, "buy", "27000")
            assert opened.json()["action"] == "opened", opened.text
            assert "GET /fapi/v1/exchangeInfo" not in venue.calls() and "GET /fapi/v1/time" not in venue.calls()
            assert len(venue.calls()) == 5


async def test_a_venue_down_at_start_up_delays_nothing_and_the_first_webhook_loads_what_it_needs(
        start, tmp_path) -> None:
    venue = FakeAster()
    released = asyncio.Event()
    asked: list[str] = []

    async def down_at_first(request: httpx.Request) -> httpx.Response:
        if not released.is_set() and request.url.path in ("/fapi/v1/exchangeInfo", "/fapi/v1/time"):
            # start-up's warm-up: held until start-up is over, then refused
            asked.append(f"{request.method} {request.url.path}")
            await released.wait()
            return httpx.Response(503, text="<html>Service Unavailable</html>")
        return venue.handle(request)

    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=down_at_first)
        async with start(config_path=aster_config(tmp_path)) as sparky:
            # the server is up while the warm-up still waits for the venue
            assert (await sparky.client.get("/health")).status_code == 200
            assert sorted(asked) == ["GET /fapi/v1/exchangeInfo", "GET /fapi/v1/time"]
            released.set()
            await sparky.services.accounts.warmed()

            venue.received.clear()
            venue.price = venue.fill_price = D("27000")
            opened = await post(sparky, "buy", "27000")
            assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
            assert venue.calls()[:2] == ["GET /fapi/v1/exchangeInfo", "GET /fapi/v1/time"]  # as without warm-up
            assert [(o.side.value, o.kind.value, o.reduce_only) for o in venue.sent_orders()] == [
                ("buy", "market", False), ("sell", "stop", True), ("sell", "take_profit", True)]


async def test_a_users_first_webhook_loads_rules_and_clock_at_once(start, tmp_path) -> None:
    """A user's adapter is built when their keys are first read, by their first webhook: its rules
    and clock are then loaded together (warm-up beside the webhook), not one after the other."""
    venue = FakeAster()
    venue_side = Together(venue)
    venue_side.expect("GET /fapi/v1/exchangeInfo", "GET /fapi/v1/time")
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue_side.handle)
        async with start() as sparky:
            store = sparky.services.store
            await store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))
            await store.upsert_credentials(CredentialRecord(ALICE, "webhook",
                                                            webhook_secret=secret_digest(ALICE_SECRET)))
            await store.upsert_credentials(CredentialRecord(ALICE, "aster", api_key=KEY, api_secret=SECRET,
                                                            extra_metadata={"apiUrl": BASE}))
            await sparky.services.secrets.refresh()

            venue.price = venue.fill_price = D("27000")
            opened = await post(sparky, "buy", "27000", secret=ALICE_SECRET)
            assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
            assert venue_side.apart == []
            assert venue.calls().count("GET /fapi/v1/exchangeInfo") == 1 and venue.calls().count("GET /fapi/v1/time") == 1


async def test_the_configured_leverage_is_set_beside_the_first_reads_not_before_the_entry(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET, "leverage": 5}}))
    venue = FakeAster()
    venue_side = Together(venue)
    venue_side.expect(*READS, "POST /fapi/v1/leverage")
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue_side.handle)
        async with start(config_path=config) as sparky:
            venue.price = venue.fill_price = D("27000")
            opened = await post(sparky, "buy", "27000")
            assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
            # the leverage went out with the position and order reads, and was answered before the entry
            assert venue_side.apart == []
            calls = [c for c in venue.calls() if c not in LOADED_ONCE and c != "GET /fapi/v1/ping"]
            assert sorted(calls[:3]) == sorted([*READS, "POST /fapi/v1/leverage"])
            assert calls[3] == "POST /fapi/v1/order"
            [leverage] = venue.requests_to("POST", "/fapi/v1/leverage")
            assert (form(leverage)["symbol"], form(leverage)["leverage"]) == ("BTCUSDT", "5")

            venue.received.clear()
            venue.price = venue.fill_price = D("27100")
            assert (await post(sparky, "close", "27100")).json()["action"] == "closed"
            venue.price = venue.fill_price = D("27200")
            assert (await post(sparky, "buy", "27200")).json()["action"] == "opened"
            assert "POST /fapi/v1/leverage" not in venue.calls()  # once per symbol


async def test_a_leverage_the_venue_refused_early_is_set_again_before_the_entry(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET, "leverage": 5}}))
    venue = FakeAster()
    answer = venue.routes[("POST", "/fapi/v1/leverage")]
    refusals = [venue.error("too_many_requests", 429)]
    venue.routes[("POST", "/fapi/v1/leverage")] = lambda params: refusals.pop() if refusals else answer(params)
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config) as sparky:
            venue.price = venue.fill_price = D("27000")
            opened = await post(sparky, "buy", "27000")
            assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
            calls = [c for c in venue.calls() if c not in LOADED_ONCE and c != "GET /fapi/v1/ping"]
            # the early attempt was refused; the entry set it itself first, as it always did
            assert calls.count("POST /fapi/v1/leverage") == 2
            assert calls.index("POST /fapi/v1/order") > max(i for i, c in enumerate(calls)
                                                            if c == "POST /fapi/v1/leverage")
