"""Aster v1 (HMAC): the shared adapter contract, then the exact requests Aster receives.

`FakeAster` scripts the venue with respx. Its replies are the JSON fixtures in
tests/fixtures/aster/ — each names, in its `_source` field, the page of the Aster V1 futures docs
(asterdex/api-docs, V1(Legacy)/EN/aster-finance-futures-api.md) its shape comes from — with the
per-request fields filled in. Like the real venue it checks every signature (HMAC over the exact
bytes received, signature last) and the timestamp window, and it records what it received so the
tests assert the wire format, not the adapter's own objects.
"""

from __future__ import annotations

import asyncio
import copy
import hmac
import json
from collections import deque
from collections.abc import Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from sparky.config import LegacyConfig, Settings
from sparky.exchanges.aster.adapter import AsterExchange, create
from sparky.exchanges.aster.api import ServerClock, sign
from sparky.exchanges.aster.wire import VendorError
from sparky.exchanges.base import Order, OrderKind, OrderRequest, OrderStatus, Position, Side, SymbolRules
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    UnknownSymbol,
)
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.registry import ExchangeRegistry
from sparky.execution.closing import PositionCloser
from sparky.execution.executor import Job, TradeExecutor
from sparky.execution.orders import send_order
from sparky.execution.protection import Protector
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.models import Signal
from sparky.store.base import PositionRecord, utcnow
from sparky.store.sqlite.store import SqliteStore
from tests.exchange_contract import ExchangeContract, SentOrder
from tests.support import execute, local_accounts

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "aster"
BASE = "https://fapi.asterdex.com"
KEY, SECRET = "test-api-key", "test-api-secret"
NOW = 1_700_000_000.0  # our clock, seconds
SERVER_MS = 1_700_000_000_250  # the venue's clock runs 250 ms ahead of ours
RULES = SymbolRules("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D("5"))
UNSIGNED = {"/fapi/v1/time", "/fapi/v1/exchangeInfo", "/fapi/v1/ticker/price", "/fapi/v1/ticker/bookTicker",
            "/fapi/v1/ping"}
ORDER_PATHS = {"/fapi/v1/order", "/fapi/v1/batchOrders"}
KINDS = {"MARKET": OrderKind.MARKET, "LIMIT": OrderKind.LIMIT, "STOP_MARKET": OrderKind.STOP,
         "TAKE_PROFIT_MARKET": OrderKind.TAKE_PROFIT}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))["reply"]


ERRORS = fixture("errors")
REJECTIONS = {
    InsufficientFunds: (400, ERRORS["margin_insufficient"]),
    InvalidOrder: (400, ERRORS["bad_precision"]),
    AuthenticationError: (401, ERRORS["rejected_key"]),
    RateLimited: (429, ERRORS["too_many_requests"]),
}


def signed(payload: str) -> str:
    return f"{payload}&signature={sign(SECRET, payload)}"


class FakeAster:
    """The venue, scripted: accepts, fills, rejects or times out as told; records what it got."""

    #: the accounts it knows, API key → secret: a signed request is good when signed with its own key's secret
    secrets = {KEY: SECRET}

    def __init__(self) -> None:
        self.received: list[httpx.Request] = []
        self.server_ms = SERVER_MS
        self.price = D("27000.0")
        self.fill_price = D("27000.0")
        self.positions: dict[str, tuple[D, D]] = {}  # symbol -> (signed amount, entry price)
        self.hedge_mode = False
        self.orders: list[dict[str, Any]] = []
        self.next_id = 5000
        #: replies for the next order requests, before anything is accepted: (status, body)
        self.scripted: deque[tuple[int, Any]] = deque()
        #: the next order request is accepted, then answered with this status or raises this
        self.accept_then: int | type[Exception] | None = None
        self.market_status = "FILLED"  # status a market order reports when accepted
        self.partial_fill: D | None = None  # what a PARTIALLY_FILLED market order has filled
        self.fill_after_lookups: int | None = None  # a NEW market order fills on the n-th look-up
        self.lookups = 0
        self.batch_errors: dict[int, dict[str, Any]] = {}  # item index -> error object
        #: batch cancels answer these ids with this error object instead of cancelling them
        self.cancel_errors: dict[str, dict[str, Any]] = {}
        self.bad_signatures = 0
        #: every fill, as the account's trade list shows it; each fill is charged this rate, in this asset
        self.trades: list[dict[str, Any]] = []
        self.commission_rate = D(0)
        self.commission_asset = "USDT"
        self.routes = {
            ("GET", "/fapi/v1/time"): lambda p: {"serverTime": self.server_ms},
            ("GET", "/fapi/v1/ping"): lambda p: {},
            ("GET", "/fapi/v1/exchangeInfo"): lambda p: fixture("exchange_info"),
            ("GET", "/fapi/v1/ticker/price"): self._ticker,
            ("POST", "/fapi/v1/order"): self._new_order,
            ("POST", "/fapi/v1/batchOrders"): self._batch,
            ("GET", "/fapi/v1/order"): self._query,
            ("DELETE", "/fapi/v1/order"): self._cancel,
            ("DELETE", "/fapi/v1/batchOrders"): self._batch_cancel,
            ("GET", "/fapi/v1/openOrders"): self._open_orders,
            ("GET", "/fapi/v2/positionRisk"): self._position_risk,
            ("GET", "/fapi/v2/balance"): lambda p: fixture("balance"),
            ("GET", "/fapi/v1/userTrades"): self._user_trades,
            # Change Initial Leverage (TRADE): reply shape per the v1 docs
            ("POST", "/fapi/v1/leverage"): lambda p: {"leverage": int(p["leverage"]), "maxNotionalValue": "1000000",
                                                      "symbol": p["symbol"]},
        }

    # ----------------------------------------------------------------- plumbing
    def handle(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        route = self.routes.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, text="<html>not found</html>")
        if request.url.path in UNSIGNED:
            params = dict(parse_qsl(request.url.query.decode()))
        else:
            checked = self._verify(request)
            if isinstance(checked, httpx.Response):
                return checked
            params = checked
        reply = route(params)
        if isinstance(reply, httpx.Response):
            return reply
        if request.url.path in ORDER_PATHS and self.accept_then is not None:
            outcome, self.accept_then = self.accept_then, None
            if isinstance(outcome, int):  # a gateway's page, not the venue's JSON
                return httpx.Response(outcome, text=f"<html>{httpx.codes.get_reason_phrase(outcome)}</html>")
            raise outcome("scripted: the order reached the venue, the answer did not come back", request=request)
        return httpx.Response(200, json=reply)

    def _verify(self, request: httpx.Request) -> dict[str, str] | httpx.Response:
        """As the venue: HMAC over exactly the bytes received, signature last; then the time window."""
        raw = (request.content if request.method == "POST" else request.url.query).decode()
        payload, sep, signature = raw.rpartition("&signature=")
        secret = self.secrets.get(request.headers.get("X-MBX-APIKEY", ""))
        good = bool(sep) and secret is not None and hmac.compare_digest(sign(secret, payload), signature)
        if request.method == "POST":
            good = good and request.headers.get("Content-Type") == "application/x-www-form-urlencoded"
        if not good:
            self.bad_signatures += 1
            return httpx.Response(400, json=ERRORS["invalid_signature"])
        params = dict(parse_qsl(payload, keep_blank_values=True))
        stamp, window = int(params["timestamp"]), int(params.get("recvWindow", 5000))
        if not (stamp < self.server_ms + 1000 and self.server_ms - stamp <= window):  # the docs' rule
            return httpx.Response(400, json=ERRORS["invalid_timestamp"])
        return params

    def error(self, name: str, status: int = 400) -> httpx.Response:
        return httpx.Response(status, json=ERRORS[name])

    # ----------------------------------------------------------------- state
    def hold(self, symbol: str, side: Side | None, quantity: D = D(0), entry: D = D(0)) -> None:
        if side is None:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = (quantity if side is Side.BUY else -quantity, entry)

    def _fill(self, order: dict[str, Any], quantity: D) -> None:
        symbol, side = order["symbol"], order["side"]
        self.trades.append(self.trade(order, quantity, self.fill_price))
        amount, entry = self.positions.get(symbol, (D(0), D(0)))
        new = amount + (quantity if side == "BUY" else -quantity)
        if new == 0:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = (new, entry if amount and (amount > 0) == (new > 0) else self.fill_price)

    def _accept(self, params: dict[str, str]) -> dict[str, Any]:
        self.next_id += 1
        kind = params["type"]
        order = copy.deepcopy(fixture("order"))
        order.update(
            orderId=self.next_id, clientOrderId=params.get("newClientOrderId", f"auto{self.next_id}"),
            symbol=params["symbol"], side=params["side"], type=kind, origType=kind,
            origQty=params["quantity"], price=params.get("price", "0"), stopPrice=params.get("stopPrice", "0"),
            reduceOnly=params.get("reduceOnly") == "true", timeInForce=params.get("timeInForce", "GTC"),
            workingType=params.get("workingType", "CONTRACT_PRICE"),
            priceProtect=params.get("priceProtect") == "TRUE",
            updateTime=self.server_ms,
        )
        if kind == "MARKET":
            order["status"] = self.market_status
            if self.market_status == "FILLED":
                self._complete(order)
            elif self.market_status == "PARTIALLY_FILLED" and self.partial_fill is not None:
                filled = self.partial_fill
                order.update(executedQty=str(filled), cumQty=str(filled), avgPrice=str(self.fill_price),
                             cumQuote=str(filled * self.fill_price))
                self._fill(order, filled)
        self.orders.append(order)
        return order

    def _complete(self, order: dict[str, Any]) -> None:
        quantity = D(order["origQty"])
        order.update(status="FILLED", executedQty=order["origQty"], cumQty=order["origQty"],
                     avgPrice=str(self.fill_price), cumQuote=str(quantity * self.fill_price))
        self._fill(order, quantity)

    def trade(self, order: dict[str, Any], quantity: D, price: D, asset: str | None = None) -> dict[str, Any]:
        """One fill of `order` as the trade list shows it."""
        quote = quantity * price
        return {**fixture("user_trades")[0], "id": 700_000 + len(self.trades), "orderId": order["orderId"],
                "symbol": order["symbol"], "side": order["side"], "buyer": order["side"] == "BUY",
                "price": str(price), "qty": str(quantity), "quoteQty": str(quote),
                "commission": str((quote * self.commission_rate).quantize(D("0.00000001"))),
                "commissionAsset": asset or self.commission_asset, "time": self.server_ms}

    def _find(self, params: dict[str, str]) -> dict[str, Any] | None:
        for order in self.orders:
            if order["symbol"] == params["symbol"] and (
                    str(order["orderId"]) == params.get("orderId")
                    or order["clientOrderId"] == params.get("origClientOrderId")):
                return order
        return None

    # ----------------------------------------------------------------- endpoints
    def _ticker(self, params: dict[str, str]) -> Any:
        if params.get("symbol") not in ("BTCUSDT", "ETHUSDT", "DOGEUSDT"):
            return self.error("bad_symbol")
        return {**fixture("ticker_price"), "symbol": params["symbol"], "price": str(self.price)}

    def _new_order(self, params: dict[str, str]) -> Any:
        if self.scripted:
            status, body = self.scripted.popleft()
            return httpx.Response(status, json=body) if body is not None else httpx.Response(status, text="")
        return self._accept(params)

    def _batch(self, params: dict[str, str]) -> Any:
        if self.scripted:
            status, body = self.scripted.popleft()
            return httpx.Response(status, json=body)
        items = json.loads(params["batchOrders"])
        return [self.batch_errors[i] if i in self.batch_errors else self._accept(item)
                for i, item in enumerate(items)]

    def _query(self, params: dict[str, str]) -> Any:
        order = self._find(params)
        if order is None:
            return self.error("no_such_order")
        self.lookups += 1
        if order["status"] == "NEW" and order["type"] == "MARKET" and self.lookups == self.fill_after_lookups:
            self._complete(order)
        return order

    def _cancel(self, params: dict[str, str]) -> Any:
        order = self._find(params)
        if order is None or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
            return self.error("cancel_rejected")
        order["status"] = "CANCELED"
        # the documented cancel reply has no avgPrice: what filled shows in executedQty and cumQuote
        return {key: value for key, value in order.items() if key != "avgPrice"}

    def _batch_cancel(self, params: dict[str, str]) -> Any:
        """'Cancel Multiple Orders': one item per id, in the order sent (fixture `batch_cancel_mixed`)."""
        if ("orderIdList" in params) == ("origClientOrderIdList" in params):
            return self.error("invalid_message")
        key, listed = (("orderId", params["orderIdList"]) if "orderIdList" in params
                       else ("origClientOrderId", params["origClientOrderIdList"]))
        if " " in listed:  # the docs: no space after the comma
            return self.error("invalid_message")
        ids = [str(i) for i in json.loads(listed)]
        if len(ids) > 10:
            return self.error("invalid_message")
        items = []
        for oid in ids:
            if oid in self.cancel_errors:
                items.append(self.cancel_errors[oid])
                continue
            reply = self._cancel({"symbol": params["symbol"], key: oid})
            items.append(json.loads(reply.content) if isinstance(reply, httpx.Response) else reply)
        return items

    def _user_trades(self, params: dict[str, str]) -> Any:
        return [t for t in self.trades if t["symbol"] == params["symbol"]
                and params.get("orderId") in (None, str(t["orderId"]))]

    def _open_orders(self, params: dict[str, str]) -> Any:
        return [o for o in self.orders if o["status"] == "NEW" and params.get("symbol") in (None, o["symbol"])]

    def _position_risk(self, params: dict[str, str]) -> Any:
        if self.hedge_mode:
            return fixture("position_risk_hedge")
        symbols = [params["symbol"]] if "symbol" in params else sorted({"BTCUSDT", *self.positions})
        template = fixture("position_risk")[0]
        return [{**template, "symbol": s, "positionAmt": str(self.positions.get(s, (D("0.000"),))[0]),
                 "entryPrice": str(self.positions.get(s, (0, D("0.00000")))[1])} for s in symbols]

    # ----------------------------------------------------------------- what it received
    def requests_to(self, method: str, path: str) -> list[httpx.Request]:
        return [r for r in self.received if (r.method, r.url.path) == (method, path)]

    def calls(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.received]

    def sent_orders(self) -> list[SentOrder]:
        sent: list[SentOrder] = []
        for request in self.received:
            if request.method != "POST" or request.url.path not in ORDER_PATHS:
                continue
            params = dict(parse_qsl(request.content.decode()))
            items = json.loads(params["batchOrders"]) if "batchOrders" in params else [params]
            for item in items:
                sent.append(SentOrder(
                    Side(item["side"].lower()), KINDS[item["type"]], D(item["quantity"]),
                    item.get("newClientOrderId"),
                    D(item["price"]) if "price" in item else None,
                    D(item["stopPrice"]) if "stopPrice" in item else None,
                    item.get("reduceOnly") == "true"))
        return sent


def body_of(request: httpx.Request) -> str:
    return request.content.decode()


def query_of(request: httpx.Request) -> str:
    return request.url.query.decode()


@pytest.fixture
def fake() -> Iterator[FakeAster]:
    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        yield venue


@pytest.fixture
async def http() -> Any:
    pool = HttpClientPool()
    yield pool
    await pool.aclose()


def aster(http: HttpClientPool, **extra: Any) -> AsterExchange:
    credentials = VenueCredentials("aster", api_key=KEY, api_secret=SECRET, extra=extra)
    return AsterExchange(credentials, http, clock=lambda: NOW, fill_poll_seconds=0)


class AsterHarness:
    symbol = "BTCUSDT"
    rules = RULES
    price = D("27000.0")
    quantity = D("0.010")

    def __init__(self, fake: FakeAster, exchange: AsterExchange) -> None:
        self.fake = fake
        self.exchange = exchange

    def market(self, price: D) -> None:
        self.fake.price = price

    def holding(self, side: Side | None, quantity: D = D(0), entry: D = D(0)) -> None:
        self.fake.hold(self.symbol, side, quantity, entry)

    def fills_at(self, price: D) -> None:
        self.fake.fill_price = price

    def rejects_next_order(self, error: type[ExchangeError]) -> None:
        self.fake.scripted.append(REJECTIONS[error])

    def next_order_outcome_unknown(self, fill_price: D) -> None:
        self.fake.fill_price = fill_price
        self.fake.accept_then = httpx.ReadTimeout

    def sent(self) -> list[SentOrder]:
        return self.fake.sent_orders()

    def order_requests(self) -> int:
        return sum(1 for r in self.fake.received if r.method == "POST" and r.url.path in ORDER_PATHS)

    def round_trips(self) -> int:
        return len(self.fake.received)


class TestAsterContract(ExchangeContract):
    @pytest.fixture
    def venue(self, fake: FakeAster, http: HttpClientPool) -> AsterHarness:
        return AsterHarness(fake, aster(http))


# =========================================================================== signing
def test_signature_reproduces_the_published_binance_vector() -> None:
    secret = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
    total = ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
             "&recvWindow=5000&timestamp=1591702613943")
    assert sign(secret, total) == "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"


async def test_signed_get_carries_key_window_server_timestamp_and_signature_last(fake, http) -> None:
    exchange = aster(http)
    assert await exchange.position("BTCUSDT") is None
    assert fake.calls() == ["GET /fapi/v1/time", "GET /fapi/v2/positionRisk"]
    request = fake.requests_to("GET", "/fapi/v2/positionRisk")[0]
    assert request.headers["X-MBX-APIKEY"] == KEY
    # timestamp = our clock + the offset measured from /fapi/v1/time (250 ms)
    assert query_of(request) == signed("symbol=BTCUSDT&recvWindow=5000&timestamp=1700000000250")


async def test_server_time_is_fetched_once_lazily_and_public_calls_need_none(fake, http) -> None:
    exchange = aster(http)
    await exchange.last_price("BTCUSDT")
    assert fake.calls() == ["GET /fapi/v1/ticker/price"]
    assert "X-MBX-APIKEY" not in fake.received[0].headers
    await exchange.position("BTCUSDT")
    await exchange.balance()
    assert fake.calls().count("GET /fapi/v1/time") == 1


async def test_recv_window_comes_from_the_credentials(fake, http) -> None:
    await aster(http, recv_window=10000).balance()
    assert query_of(fake.requests_to("GET", "/fapi/v2/balance")[0]) == signed(
        "recvWindow=10000&timestamp=1700000000250")


async def test_a_wrong_secret_is_refused_by_the_fake_venue_as_by_the_real_one(fake, http) -> None:
    credentials = VenueCredentials("aster", api_key=KEY, api_secret="not-the-secret")
    exchange = AsterExchange(credentials, http, clock=lambda: NOW)
    with pytest.raises(AuthenticationError):
        await exchange.balance()
    assert fake.bad_signatures == 1


async def test_missing_keys_fail_before_any_request(fake, http) -> None:
    exchange = AsterExchange(VenueCredentials("aster"), http, clock=lambda: NOW)
    with pytest.raises(AuthenticationError):
        await exchange.position("BTCUSDT")
    assert fake.received == []


async def test_invalid_timestamp_resyncs_the_clock_and_resends_that_request_once(fake, http) -> None:
    exchange = aster(http)
    await exchange.symbol_rules("BTCUSDT")
    await exchange.position("BTCUSDT")
    fake.server_ms += 30_000  # the venue's clock moved on: our stamps now fall outside recvWindow
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp1-e"))
    assert order.status is OrderStatus.FILLED
    posts = fake.requests_to("POST", "/fapi/v1/order")
    assert len(posts) == 2 and fake.calls().count("GET /fapi/v1/time") == 2
    assert body_of(posts[1]) == signed("symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.010&newClientOrderId=sp1-e"
                                       "&newOrderRespType=RESULT&recvWindow=5000&timestamp=1700000030250")
    assert len(fake.orders) == 1


async def test_concurrent_invalid_timestamps_remeasure_the_clock_once() -> None:
    clock, measured = ServerClock(lambda: NOW), []

    async def server_time() -> int:
        measured.append(1)
        await asyncio.sleep(0)  # let the other refused requests queue up behind the lock
        return SERVER_MS + 30_000 * len(measured)

    await clock.sync(server_time)
    stamped_with = clock.generation  # three requests signed with this offset are all refused (-1021)
    await asyncio.gather(*(clock.sync(server_time, stale=stamped_with) for _ in range(3)))
    assert len(measured) == 2 and clock.now_ms() == SERVER_MS + 60_000


async def test_a_second_invalid_timestamp_is_not_retried_again(fake, http) -> None:
    exchange = aster(http)
    await exchange.symbol_rules("BTCUSDT")
    fake.scripted += [(400, ERRORS["invalid_timestamp"])] * 2
    with pytest.raises(ExchangeUnavailable):
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp1-e"))
    assert len(fake.requests_to("POST", "/fapi/v1/order")) == 2


# =========================================================================== rules
async def test_exchange_info_is_fetched_once_for_every_symbol(fake, http) -> None:
    exchange = aster(http)
    assert await exchange.symbol_rules("BTCUSDT") == RULES
    assert await exchange.symbol_rules("DOGEUSDT") == SymbolRules("DOGEUSDT", D("0.00001"), D("1"), D("1"), D("5"))
    assert await exchange.symbol_rules("ETHUSDT") == SymbolRules("ETHUSDT", D("0.01"), D("0.001"), D("0.001"),
                                                                 D("5"))
    assert fake.calls() == ["GET /fapi/v1/exchangeInfo"]


async def test_an_unlisted_symbol_is_unknown(fake, http) -> None:
    exchange = aster(http)
    await exchange.symbol_rules("BTCUSDT")
    with pytest.raises(UnknownSymbol):
        await exchange.symbol_rules("NOPEUSDT")
    with pytest.raises(UnknownSymbol):
        await exchange.place_order(OrderRequest("NOPEUSDT", Side.BUY, OrderKind.MARKET, D("1"), "sp1-e"))
    # the cache was loaded moments ago: a missing symbol does not reload it every time
    assert fake.calls() == ["GET /fapi/v1/exchangeInfo"]
    with pytest.raises(UnknownSymbol):
        await exchange.last_price("NOPEUSDT")


@pytest.mark.parametrize(("symbol", "quantity", "trigger", "wire_quantity", "wire_trigger"), [
    ("DOGEUSDT", D("150"), D("0.065432"), "150", "0.06543"),  # step 1: an integer, never "1.5E+2"
    ("DOGEUSDT", D("1E+2"), D("0.07"), "100", "0.07000"),
    ("BTCUSDT", D("0.0109"), D("26460.04"), "0.010", "26460.0"),  # floored to the step, tick 0.10
    ("ETHUSDT", D("2"), D("1800"), "2.000", "1800.00"),
])
async def test_prices_and_quantities_are_sent_on_the_venues_grid(fake, http, symbol, quantity, trigger,
                                                               wire_quantity, wire_trigger) -> None:
    exchange = aster(http)
    await exchange.place_order(OrderRequest(symbol, Side.SELL, OrderKind.STOP, quantity, "sp1-sl",
                                            trigger_price=trigger, reduce_only=True))
    params = dict(parse_qsl(body_of(fake.requests_to("POST", "/fapi/v1/order")[0])))
    assert (params["quantity"], params["stopPrice"]) == (wire_quantity, wire_trigger)


@pytest.mark.parametrize("request_", [
    OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.0009"), "sp1-e"),  # below minQty 0.001
    OrderRequest("BTCUSDT", Side.BUY, OrderKind.LIMIT, D("0.001"), "sp1-e", price=D("4000")),  # 4 USDT < 5
    OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("11"), "sp1-e"),  # above MARKET_LOT_SIZE maxQty 10
    OrderRequest("BTCUSDT", Side.SELL, OrderKind.STOP, D("0.01"), "sp1-sl", trigger_price=D("0.5")),  # < minPrice
    OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.01"), "bad id with spaces"),
    OrderRequest("OLDUSDT", Side.BUY, OrderKind.MARKET, D("100"), "sp1-e"),  # not TRADING
])
async def test_orders_the_venue_would_refuse_are_refused_before_sending(fake, http, request_) -> None:
    exchange = aster(http)
    with pytest.raises(InvalidOrder) as caught:
        await exchange.place_order(request_)
    assert "aster:" in caught.value.message
    assert fake.requests_to("POST", "/fapi/v1/order") == []


async def test_market_min_notional_uses_the_last_ticker_price(fake, http) -> None:
    exchange = aster(http)
    fake.price = D("2000.0")
    await exchange.last_price("BTCUSDT")
    with pytest.raises(InvalidOrder, match="notional 4"):
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.002"), "sp1-e"))
    # a reduce-only close is exempt (the venue's own rule: "unless you choose reduce only")
    fake.hold("BTCUSDT", Side.SELL, D("0.002"), D("2000"))
    closed = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.002"), "sp1-x",
                                                     reduce_only=True))
    assert closed.status is OrderStatus.FILLED


# =========================================================================== orders on the wire
@pytest.mark.parametrize("side", ["BUY", "SELL"])
async def test_market_entry_exact_request(fake, http, side) -> None:
    exchange = aster(http)
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side(side.lower()), OrderKind.MARKET, D("0.010"),
                                                    "sp0000-e"))
    post = fake.requests_to("POST", "/fapi/v1/order")[0]
    assert post.url.query == b"" and post.headers["X-MBX-APIKEY"] == KEY
    assert body_of(post) == signed(f"symbol=BTCUSDT&side={side}&type=MARKET&quantity=0.010"
                                   "&newClientOrderId=sp0000-e&newOrderRespType=RESULT"
                                   "&recvWindow=5000&timestamp=1700000000250")
    assert (order.id, order.client_order_id, order.kind) == ("5001", "sp0000-e", OrderKind.MARKET)
    assert (order.status, order.filled_quantity, order.average_price) == (OrderStatus.FILLED, D("0.010"),
                                                                          D("27000.0"))


async def test_limit_entry_is_gtc_with_price(fake, http) -> None:
    exchange = aster(http)
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.LIMIT, D("0.010"), "sp2-e",
                                                    price=D("26000")))
    assert body_of(fake.requests_to("POST", "/fapi/v1/order")[0]) == signed(
        "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.010&price=26000.0"
        "&newClientOrderId=sp2-e&newOrderRespType=RESULT&recvWindow=5000&timestamp=1700000000250")
    assert order.status is OrderStatus.OPEN and order.price == D("26000.0")


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_close_is_a_reduce_only_market_order(fake, http, side) -> None:
    exchange = aster(http)
    fake.hold("BTCUSDT", side, D("0.010"), D("27000"))
    order = await exchange.place_order(OrderRequest("BTCUSDT", side.opposite, OrderKind.MARKET, D("0.010"),
                                                    "sp3-x", reduce_only=True))
    assert body_of(fake.requests_to("POST", "/fapi/v1/order")[0]) == signed(
        f"symbol=BTCUSDT&side={side.opposite.value.upper()}&type=MARKET&quantity=0.010&reduceOnly=true"
        "&newClientOrderId=sp3-x&newOrderRespType=RESULT&recvWindow=5000&timestamp=1700000000250")
    assert order.status is OrderStatus.FILLED and await exchange.position("BTCUSDT") is None


async def test_single_stop_order_triggers_on_mark_price_with_price_protection(fake, http) -> None:
    exchange = aster(http)
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.STOP, D("0.010"), "sp4-sl",
                                                    trigger_price=D("26460.0"), reduce_only=True))
    assert body_of(fake.requests_to("POST", "/fapi/v1/order")[0]) == signed(
        "symbol=BTCUSDT&side=SELL&type=STOP_MARKET&quantity=0.010&stopPrice=26460.0&workingType=MARK_PRICE"
        "&priceProtect=TRUE&reduceOnly=true&newClientOrderId=sp4-sl&newOrderRespType=RESULT"
        "&recvWindow=5000&timestamp=1700000000250")
    assert (order.kind, order.status, order.trigger_price, order.reduce_only) == (
        OrderKind.STOP, OrderStatus.OPEN, D("26460.0"), True)


def exit_pair(side: Side, stop: D, target: D) -> tuple[OrderRequest, OrderRequest]:
    exit_side = side.opposite
    return (OrderRequest("BTCUSDT", exit_side, OrderKind.STOP, D("0.010"), "sp5-sl", trigger_price=stop,
                         reduce_only=True),
            OrderRequest("BTCUSDT", exit_side, OrderKind.TAKE_PROFIT, D("0.010"), "sp5-tp", trigger_price=target,
                         reduce_only=True))


@pytest.mark.parametrize(("side", "stop", "target", "wire_stop", "wire_target"), [
    (Side.BUY, D("26460.04"), D("28080.06"), "26460.0", "28080.1"),
    (Side.SELL, D("27540"), D("25920"), "27540.0", "25920.0"),
])
async def test_exit_pair_is_one_signed_batch_on_the_protective_side(fake, http, side, stop, target, wire_stop,
                                                                   wire_target) -> None:
    exchange = aster(http, working_type="contract_price")
    sl, tp = await exchange.place_exit_pair(*exit_pair(side, stop, target))
    post = fake.requests_to("POST", "/fapi/v1/batchOrders")
    assert len(post) == 1 and fake.requests_to("POST", "/fapi/v1/order") == []
    raw = body_of(post[0])
    assert raw.startswith("batchOrders=%5B%7B%22symbol%22%3A%22BTCUSDT%22")  # JSON, form-encoded, then signed
    params = dict(parse_qsl(raw))
    exit_side = side.opposite.value.upper()
    common = {"symbol": "BTCUSDT", "side": exit_side, "quantity": "0.010", "workingType": "CONTRACT_PRICE",
              "priceProtect": "TRUE", "reduceOnly": "true"}
    assert json.loads(params["batchOrders"]) == [
        {**common, "type": "STOP_MARKET", "stopPrice": wire_stop, "newClientOrderId": "sp5-sl"},
        {**common, "type": "TAKE_PROFIT_MARKET", "stopPrice": wire_target, "newClientOrderId": "sp5-tp"},
    ]
    assert raw == signed(raw.rpartition("&signature=")[0])
    assert (sl.kind, sl.side, sl.client_order_id, sl.trigger_price) == (OrderKind.STOP, side.opposite, "sp5-sl",
                                                                        D(wire_stop))
    assert tp is not None and (tp.kind, tp.client_order_id, tp.trigger_price) == (
        OrderKind.TAKE_PROFIT, "sp5-tp", D(wire_target))


async def test_exit_pair_with_a_failed_take_profit_keeps_the_stop(fake, http) -> None:
    exchange = aster(http)
    fake.batch_errors[1] = ERRORS["reduce_only_rejected"]
    sl, tp = await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460"), D("28080")))
    assert tp is None and sl.client_order_id == "sp5-sl" and sl.status is OrderStatus.OPEN
    assert fake.requests_to("DELETE", "/fapi/v1/order") == []


async def test_the_documented_mixed_batch_reply_reads_as_stop_without_target(fake, http) -> None:
    exchange = aster(http)
    fake.scripted.append((200, fixture("batch_orders_mixed")))  # [order, {"code": -2022, ...}]
    sl, tp = await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460"), D("28080")))
    assert tp is None
    assert (sl.id, sl.kind, sl.side, sl.trigger_price, sl.reduce_only) == ("22542179", OrderKind.STOP, Side.SELL,
                                                                           D("9300"), True)


async def test_exit_pair_with_a_failed_stop_cancels_the_take_profit_and_raises(fake, http) -> None:
    exchange = aster(http)
    fake.batch_errors[0] = ERRORS["would_trigger"]
    with pytest.raises(InvalidOrder) as caught:
        await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460"), D("28080")))
    assert isinstance(caught.value.__cause__, VendorError)
    cancel = fake.requests_to("DELETE", "/fapi/v1/order")
    assert len(cancel) == 1 and query_of(cancel[0]) == signed(
        "symbol=BTCUSDT&orderId=5001&recvWindow=5000&timestamp=1700000000250")
    assert [o["status"] for o in fake.orders] == ["CANCELED"]


async def test_exit_pair_with_both_legs_failed_raises_the_stops_error(fake, http) -> None:
    exchange = aster(http)
    fake.batch_errors.update({0: ERRORS["margin_insufficient"], 1: ERRORS["reduce_only_rejected"]})
    with pytest.raises(InsufficientFunds):
        await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460"), D("28080")))
    assert fake.requests_to("DELETE", "/fapi/v1/order") == []


async def test_exit_pair_rejected_as_a_whole_is_translated(fake, http) -> None:
    exchange = aster(http)
    fake.scripted.append((400, ERRORS["bad_precision"]))
    with pytest.raises(InvalidOrder):
        await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460"), D("28080")))


async def test_exit_pair_with_unknown_outcome_is_looked_up_by_client_id_never_resent(fake, http) -> None:
    exchange = aster(http)
    fake.accept_then = 503
    sl, tp = await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460"), D("28080")))
    assert (sl.client_order_id, tp.client_order_id if tp else None) == ("sp5-sl", "sp5-tp")
    assert len(fake.requests_to("POST", "/fapi/v1/batchOrders")) == 1
    lookups = sorted(query_of(r) for r in fake.requests_to("GET", "/fapi/v1/order"))  # concurrent
    assert lookups == [signed(f"symbol=BTCUSDT&origClientOrderId=sp5-{leg}&recvWindow=5000"
                              "&timestamp=1700000000250") for leg in ("sl", "tp")]


async def test_exit_pair_lost_entirely_stays_unknown(fake, http) -> None:
    exchange = aster(http)
    fake.scripted.append((503, {"code": -1007, "msg": "Timeout waiting for response from backend server."}))
    with pytest.raises(OutcomeUnknown):
        await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460"), D("28080")))
    assert len(fake.requests_to("POST", "/fapi/v1/batchOrders")) == 1


async def test_exit_pair_lookup_failing_after_an_unknown_outcome_stays_unknown(fake, http) -> None:
    exchange = aster(http)
    fake.accept_then = 503
    fake.routes[("GET", "/fapi/v1/order")] = lambda p: httpx.Response(502, text="bad gateway")
    with pytest.raises(OutcomeUnknown) as caught:  # not retryable: a retry could duplicate the pair
        await exchange.place_exit_pair(*exit_pair(Side.BUY, D("26460"), D("28080")))
    assert not caught.value.retryable and len(fake.requests_to("POST", "/fapi/v1/batchOrders")) == 1


async def test_exit_pair_must_be_a_stop_and_a_target_on_one_side(fake, http) -> None:
    sl, tp = exit_pair(Side.BUY, D("26460"), D("28080"))
    with pytest.raises(InvalidOrder):
        await aster(http).place_exit_pair(tp, sl)
    assert fake.received == []


# =========================================================================== unknown outcomes, fills
@pytest.mark.parametrize("outcome", [httpx.ReadTimeout, 503])
async def test_unknown_order_outcome_is_resolved_by_client_id(fake, http, outcome) -> None:
    exchange = aster(http)
    fake.accept_then = outcome
    order = await send_order(exchange, OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp6-e"))
    assert order.status is OrderStatus.FILLED and order.client_order_id == "sp6-e"
    assert len(fake.requests_to("POST", "/fapi/v1/order")) == 1
    assert query_of(fake.requests_to("GET", "/fapi/v1/order")[0]) == signed(
        "symbol=BTCUSDT&origClientOrderId=sp6-e&recvWindow=5000&timestamp=1700000000250")


async def test_market_reply_not_filled_yet_is_looked_up_until_it_is(fake, http) -> None:
    exchange = aster(http)
    fake.market_status, fake.fill_after_lookups = "NEW", 2
    order = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp7-e"))
    assert order.status is OrderStatus.FILLED and order.average_price == D("27000.0")
    assert len(fake.requests_to("GET", "/fapi/v1/order")) == 2
    assert fake.requests_to("DELETE", "/fapi/v1/order") == []


async def test_market_order_that_never_fills_is_cancelled_and_refused(fake, http) -> None:
    exchange = aster(http)
    fake.market_status = "NEW"
    with pytest.raises(InvalidOrder, match="unfilled"):
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp8-e"))
    assert len(fake.requests_to("GET", "/fapi/v1/order")) == 5  # bounded
    assert query_of(fake.requests_to("DELETE", "/fapi/v1/order")[0]) == signed(
        "symbol=BTCUSDT&origClientOrderId=sp8-e&recvWindow=5000&timestamp=1700000000250")


async def test_market_fill_that_cannot_be_confirmed_is_an_unknown_outcome_not_a_refusal(fake, http) -> None:
    exchange = aster(http)
    fake.market_status = "NEW"
    fake.routes[("GET", "/fapi/v1/order")] = lambda p: httpx.Response(500, text="oops")
    with pytest.raises(OutcomeUnknown):  # the order exists: it must be looked up, never reported refused
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp8-e"))
    assert len(fake.requests_to("POST", "/fapi/v1/order")) == 1


async def test_market_order_partly_filled_then_cancelled_reports_what_filled(fake, http) -> None:
    exchange = aster(http)
    fake.market_status, fake.partial_fill, fake.fill_price = "PARTIALLY_FILLED", D("0.004"), D("27001.0")
    placed = await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp9-e"))
    # the cancel reply has no avgPrice: the price is the quote filled over the quantity filled
    assert (placed.status, placed.filled_quantity, placed.average_price) == (OrderStatus.FILLED, D("0.004"),
                                                                             D("27001.0"))
    assert len(fake.requests_to("DELETE", "/fapi/v1/order")) == 1


# =========================================================================== errors
@pytest.mark.parametrize(("status", "body", "error"), [
    (400, ERRORS["margin_insufficient"], InsufficientFunds),
    (400, ERRORS["balance_insufficient"], InsufficientFunds),
    (400, ERRORS["bad_symbol"], UnknownSymbol),
    (400, ERRORS["bad_precision"], InvalidOrder),
    (400, ERRORS["invalid_message"], InvalidOrder),
    (400, ERRORS["min_notional"], InvalidOrder),
    (400, ERRORS["would_trigger"], InvalidOrder),
    (400, ERRORS["position_side_mismatch"], InvalidOrder),
    (401, ERRORS["bad_api_key_format"], AuthenticationError),
    (401, ERRORS["rejected_key"], AuthenticationError),
    (400, ERRORS["invalid_signature"], AuthenticationError),
    (400, ERRORS["cancel_rejected"], OrderNotFound),
    (429, ERRORS["too_many_requests"], RateLimited),
    (418, ERRORS["too_many_requests"], RateLimited),
    (403, None, RateLimited),
    (503, None, OutcomeUnknown),
    (503, ERRORS["bad_precision"], OutcomeUnknown),  # 503 = unknown, whatever the body says
    (500, ERRORS["timeout"], OutcomeUnknown),  # -1007: "execution status unknown"
    # every 5XX is on the venue's side: the order may have been taken, whatever the body says
    (500, None, OutcomeUnknown),
    (502, None, OutcomeUnknown),
    (504, None, OutcomeUnknown),
    (500, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."},
     OutcomeUnknown),
])
async def test_order_errors_are_translated_by_status_and_code(fake, http, status, body, error) -> None:
    exchange = aster(http)
    await exchange.symbol_rules("BTCUSDT")
    fake.scripted.append((status, body))
    with pytest.raises(error) as caught:
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp1-e"))
    assert type(caught.value) is error and isinstance(caught.value.__cause__, VendorError)
    assert len(fake.requests_to("POST", "/fapi/v1/order")) == 1  # never resent


@pytest.mark.parametrize(("status", "error"), [(503, ExchangeUnavailable), (500, ExchangeUnavailable),
                                               (429, RateLimited)])
async def test_read_errors_are_retryable_not_unknown(fake, http, status, error) -> None:
    exchange = aster(http)
    fake.routes[("GET", "/fapi/v2/positionRisk")] = lambda p: httpx.Response(status, text="busy")
    with pytest.raises(error) as caught:
        await exchange.position("BTCUSDT")
    assert caught.value.retryable


async def test_unreadable_success_reply_to_an_order_is_an_unknown_outcome(fake, http) -> None:
    exchange = aster(http)
    fake.scripted.append((200, None))
    with pytest.raises(OutcomeUnknown):
        await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp1-e"))


async def test_connection_refused_before_sending_is_unavailable(http) -> None:
    with respx.mock(base_url=BASE) as router:
        router.route().mock(side_effect=httpx.ConnectError("refused"))
        with pytest.raises(ExchangeUnavailable):
            await aster(http).last_price("BTCUSDT")


# =========================================================================== reads
async def test_lookup_by_client_id_and_order_id_and_missing_order(fake, http) -> None:
    exchange = aster(http)
    placed = await exchange.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.STOP, D("0.010"), "sp10-sl",
                                                     trigger_price=D("26000"), reduce_only=True))
    assert (await exchange.get_order("BTCUSDT", client_order_id="sp10-sl")).id == placed.id
    assert (await exchange.get_order("BTCUSDT", order_id=placed.id)).client_order_id == "sp10-sl"
    assert await exchange.get_order("BTCUSDT", client_order_id="nope") is None  # -2013
    queries = [query_of(r) for r in fake.requests_to("GET", "/fapi/v1/order")]
    assert queries[1] == signed(f"symbol=BTCUSDT&orderId={placed.id}&recvWindow=5000&timestamp=1700000000250")


async def test_client_ids_with_reserved_characters_are_encoded_and_signed_as_sent(fake, http) -> None:
    exchange = aster(http)
    cid = "sp:a/b.c_d-e"  # every character class the venue allows
    placed = await exchange.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.STOP, D("0.010"), cid,
                                                     trigger_price=D("26000"), reduce_only=True))
    assert (await exchange.get_order("BTCUSDT", client_order_id=cid)).id == placed.id
    assert "origClientOrderId=sp%3Aa%2Fb.c_d-e&" in query_of(fake.requests_to("GET", "/fapi/v1/order")[0])
    assert fake.bad_signatures == 0


async def test_cancel_by_order_id_and_cancel_of_a_gone_order(fake, http) -> None:
    exchange = aster(http)
    placed = await exchange.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.TAKE_PROFIT, D("0.010"),
                                                     "sp11-tp", trigger_price=D("28000"), reduce_only=True))
    assert [o.id for o in await exchange.open_orders("BTCUSDT")] == [placed.id]
    cancelled = await exchange.cancel_order("BTCUSDT", placed.id)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.kind is OrderKind.TAKE_PROFIT
    assert query_of(fake.requests_to("DELETE", "/fapi/v1/order")[0]) == signed(
        f"symbol=BTCUSDT&orderId={placed.id}&recvWindow=5000&timestamp=1700000000250")
    with pytest.raises(OrderNotFound):  # -2011
        await exchange.cancel_order("BTCUSDT", placed.id)
    assert await exchange.open_orders() == []
    assert query_of(fake.requests_to("GET", "/fapi/v1/openOrders")[1]) == signed(
        "recvWindow=5000&timestamp=1700000000250")


async def test_positions_are_signed_amounts_in_one_way_mode(fake, http) -> None:
    exchange = aster(http)
    fake.hold("BTCUSDT", Side.BUY, D("0.010"), D("27000.5"))
    fake.hold("ETHUSDT", Side.SELL, D("1.500"), D("1800.25"))
    assert await exchange.positions() == [Position("BTCUSDT", Side.BUY, D("0.010"), D("27000.5")),
                                          Position("ETHUSDT", Side.SELL, D("1.500"), D("1800.25"))]
    assert await exchange.position("ETHUSDT") == Position("ETHUSDT", Side.SELL, D("1.500"), D("1800.25"))


async def test_a_hedge_mode_account_is_refused_clearly(fake, http) -> None:
    fake.hedge_mode = True
    with pytest.raises(NotSupported, match="one-way"):
        await aster(http).position("BTCUSDT")


async def test_balance_is_the_usdt_row(fake, http) -> None:
    balance = await aster(http).balance()
    assert (balance.currency, balance.total, balance.available) == ("USDT", D("122607.35137903"),
                                                                   D("23.72469206"))


async def test_ping_and_base_url_override(fake, http) -> None:
    assert await aster(http).ping() is True
    other = "https://aster.example.test"
    with respx.mock(base_url=other) as router:
        route = router.get("/fapi/v1/ping").respond(200, json={})
        exchange = create(VenueCredentials("aster", environment="testnet", base_url=other), http)
        assert exchange.name == "aster" and await exchange.ping() is True and route.called


def test_capabilities_are_honest(http) -> None:
    caps = aster(http).capabilities
    assert (caps.batch_orders, caps.reduce_only, caps.limit_orders) == (True, True, True)
    assert (caps.oco, caps.attached_brackets, caps.hedge_mode, caps.trailing_stop) == (False, False, False, False)


def test_working_type_is_validated(http) -> None:
    with pytest.raises(ValueError, match="working_type"):
        aster(http, working_type="LAST_PRICE")


# =========================================================================== round trips
class MemoryStore:
    """The two store calls PositionCloser makes."""

    def __init__(self, stored: PositionRecord | None = None) -> None:
        self.stored = stored
        self.closed: list[Any] = []

    async def get_position(self, user_id: str, exchange: str, symbol: str) -> PositionRecord | None:
        return self.stored

    async def record_close(self, trade: Any) -> None:
        self.closed.append(trade)


async def open_protected(exchange: AsterExchange, side: Side, cid: str) -> tuple[Order, Any]:
    """The executor's open path over the shared building blocks: entry, then SL+TP as one batch."""
    entry = await send_order(exchange, OrderRequest("BTCUSDT", side, OrderKind.MARKET, D("0.010"), f"{cid}-e"))
    stop, target = (D("26460.0"), D("28080.0")) if side is Side.BUY else (D("27540.0"), D("25920.0"))
    protection = await Protector(3, backoff_seconds=0).protect(
        exchange, symbol="BTCUSDT", position_side=side, quantity=entry.filled_quantity, stop_loss=stop,
        take_profit=target, client_ids=(f"{cid}-sl", f"{cid}-tp"))
    return entry, protection


async def test_round_trips_of_an_open_with_stop_loss_and_take_profit(fake, http) -> None:
    exchange = aster(http)
    assert await exchange.position("BTCUSDT") is None  # the executor's "already in a position?" check
    await exchange.symbol_rules("BTCUSDT")
    entry, protection = await open_protected(exchange, Side.BUY, "sp20")
    assert protection.stop_loss is not None and protection.take_profit is not None
    # cold adapter: server time and exchangeInfo once, then position, entry, one batch for SL+TP
    assert fake.calls() == ["GET /fapi/v1/time", "GET /fapi/v2/positionRisk", "GET /fapi/v1/exchangeInfo",
                            "POST /fapi/v1/order", "POST /fapi/v1/batchOrders"]
    fake.received.clear()
    fake.hold("BTCUSDT", None)
    assert await exchange.position("BTCUSDT") is None
    await open_protected(exchange, Side.SELL, "sp21")
    # warm: 3 round trips, 2 of them on the critical path after the decision (entry, batch)
    assert fake.calls() == ["GET /fapi/v2/positionRisk", "POST /fapi/v1/order", "POST /fapi/v1/batchOrders"]


async def test_round_trips_of_a_reversal(fake, http) -> None:
    exchange = aster(http)
    await exchange.symbol_rules("BTCUSDT")
    await exchange.position("BTCUSDT")
    _, old = await open_protected(exchange, Side.BUY, "sp30")
    stored = PositionRecord(user_id="u1", exchange="aster", symbol="BTCUSDT", side="BUY", entry_price=D("27000.0"),
                            quantity=D("0.010"), entry_time=utcnow(), position_size_usd=D("270"),
                            stop_loss_order_id=old.stop_loss.order_id, take_profit_order_id=old.take_profit.order_id)
    fake.received.clear()
    fake.fill_price = D("27100.0")

    live = await exchange.position("BTCUSDT")  # the executor sees the opposite position
    assert live == Position("BTCUSDT", Side.BUY, D("0.010"), D("27000.0"))
    result = await PositionCloser(MemoryStore(stored), confirm_attempts=3).close(
        exchange, user_id="u1", live=live, exit_reason="REVERSAL", client_order_id="sp31-rx")
    await open_protected(exchange, Side.SELL, "sp31")

    assert result.trade.exit_price == D("27100.0") and result.trade.pnl_usd == D("1.00000000")
    calls = fake.calls()
    assert calls[:2] == ["GET /fapi/v2/positionRisk", "POST /fapi/v1/order"]
    # filled in full and reduce-only: flat by the venue's word, no second read of the position; the old
    # SL and TP go in one batch cancel while the close's fee is read from the trade list
    assert sorted(calls[2:4]) == ["DELETE /fapi/v1/batchOrders", "GET /fapi/v1/userTrades"]
    assert calls[4:] == ["POST /fapi/v1/order", "POST /fapi/v1/batchOrders"]
    cancel = dict(parse_qsl(query_of(fake.requests_to("DELETE", "/fapi/v1/batchOrders")[0])))
    assert (cancel["symbol"], cancel["orderIdList"]) == (
        "BTCUSDT", f"[{old.stop_loss.order_id},{old.take_profit.order_id}]")
    sent = fake.sent_orders()[-4:]
    assert [(o.side, o.kind, o.reduce_only) for o in sent] == [
        (Side.SELL, OrderKind.MARKET, True), (Side.SELL, OrderKind.MARKET, False),
        (Side.BUY, OrderKind.STOP, True), (Side.BUY, OrderKind.TAKE_PROFIT, True)]
    assert await exchange.position("BTCUSDT") == Position("BTCUSDT", Side.SELL, D("0.010"), D("27100.0"))


async def test_the_executor_trades_aster_open_reverse_close(fake, http, tmp_path) -> None:
    """The real executor over the scripted venue: what a webhook costs in round trips on Aster."""
    settings = Settings(_env_file=None, sparky_env="test", sparky_data_dir=tmp_path,
                        default_take_profit_percent=D(4))
    store = SqliteStore(tmp_path / "sparky.db", synchronous="NORMAL")
    await store.open()
    registry = ExchangeRegistry()
    registry.add(aster(http))
    executor = TradeExecutor(store, local_accounts(registry, tmp_path), settings, LegacyConfig())

    async def alert(n: int, action: str, price: str | None) -> dict[str, Any]:
        fake.received.clear()
        if price is not None:
            fake.price = fake.fill_price = D(price)
        signal = Signal(action=action, symbol="BTCUSDT", exchange="aster", price=price, stop_loss_percent="2",
                        position_size_usd="300")
        outcome = await execute(executor, Job(f"{n:08d}-0000-4000-8000-000000000000", LOCAL_USER_ID, signal))
        return outcome.body

    try:
        assert (await alert(1, "buy", "27000"))["action"] == "opened"
        # cold: server time and exchangeInfo once; the position (reconcile) and the resting orders
        # (stale exits) read once, concurrently; then the entry and one batch for SL+TP
        calls = fake.calls()
        assert calls[0] == "GET /fapi/v1/time"
        assert sorted(calls[1:3]) == ["GET /fapi/v1/openOrders", "GET /fapi/v2/positionRisk"]
        assert calls[3:5] == ["GET /fapi/v1/exchangeInfo", "POST /fapi/v1/order"]
        # the entry's fee is read from the trade list while its exits are placed
        assert sorted(calls[5:]) == ["GET /fapi/v1/userTrades", "POST /fapi/v1/batchOrders"]
        assert [(o.side, o.kind, o.trigger_price) for o in fake.sent_orders()] == [
            (Side.BUY, OrderKind.MARKET, None), (Side.SELL, OrderKind.STOP, D("26460.0")),
            (Side.SELL, OrderKind.TAKE_PROFIT, D("28080.0"))]

        assert (await alert(2, "sell", "27100"))["action"] == "reversed"
        # 2 concurrent reads, close, one batch cancel (+ the close's fee), entry, batch (+ its fee):
        # the close filled in full, so no second position read
        assert len(fake.calls()) == 8
        assert sorted(fake.calls()[3:5]) == ["DELETE /fapi/v1/batchOrders", "GET /fapi/v1/userTrades"]
        assert fake.calls()[-3] == "POST /fapi/v1/order"
        assert sorted(fake.calls()[-2:]) == ["GET /fapi/v1/userTrades", "POST /fapi/v1/batchOrders"]
        assert [o["status"] for o in fake.orders[1:3]] == ["CANCELED", "CANCELED"]  # the long's SL and TP

        assert (await alert(3, "close", None))["action"] == "closed"
        assert fake.positions == {} and [o for o in fake.orders if o["status"] == "NEW"] == []
    finally:
        await store.aclose()


async def test_configured_leverage_is_set_once_per_symbol_before_its_first_entry(fake, http) -> None:
    exchange = aster(http, leverage=5)
    await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp40-e"))
    await exchange.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.010"), "sp40-x",
                                            reduce_only=True))
    await exchange.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderKind.MARKET, D("0.010"), "sp41-e"))
    posts = [c for c in fake.calls() if c.startswith("POST")]
    assert posts == ["POST /fapi/v1/leverage", "POST /fapi/v1/order", "POST /fapi/v1/order", "POST /fapi/v1/order"]
    params = dict(parse_qsl(body_of(fake.requests_to("POST", "/fapi/v1/leverage")[0])))
    assert (params["symbol"], params["leverage"]) == ("BTCUSDT", "5") and "signature" in params


def test_leverage_outside_the_venues_range_is_refused(http) -> None:
    with pytest.raises(ValueError, match="between 1 and 125"):
        aster(http, leverage=200)


# =========================================================================== unknown outcomes through the executor
@pytest.fixture
async def trader(fake, http, tmp_path) -> Any:
    """`await trader(n, action, price)`: one signal through the real executor (SQLite store) to the
    scripted venue; the store is `trader.store`."""
    settings = Settings(_env_file=None, sparky_env="test", sparky_data_dir=tmp_path,
                        default_take_profit_percent=D(4))
    store = SqliteStore(tmp_path / "sparky.db", synchronous="NORMAL")
    await store.open()
    registry = ExchangeRegistry()
    registry.add(aster(http))
    executor = TradeExecutor(store, local_accounts(registry, tmp_path), settings, LegacyConfig())

    async def alert(n: int, action: str, price: str | None = None) -> dict[str, Any]:
        fake.received.clear()
        if price is not None:
            fake.price = fake.fill_price = D(price)
        signal = Signal(action=action, symbol="BTCUSDT", exchange="aster", price=price, stop_loss_percent="2",
                        position_size_usd="300")
        return (await execute(executor, Job(f"{n:08d}-0000-4000-8000-000000000000", LOCAL_USER_ID, signal))).body

    alert.store = store  # type: ignore[attr-defined]
    yield alert
    await store.aclose()


def cid(n: int, role: str) -> str:
    return f"sp{n:08d}0000400080000000-{role}"


def orders_sent(fake: FakeAster) -> list[tuple[Side, OrderKind, D, str | None, D | None, bool]]:
    return [(o.side, o.kind, o.quantity, o.client_order_id, o.trigger_price, o.reduce_only) for o in fake.sent_orders()]


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_an_entry_filled_behind_a_server_error_is_found_and_protected(fake, trader, status) -> None:
    fake.accept_then = status  # the venue takes the entry; a gateway error page comes back
    body = await trader(1, "buy", "27000")
    assert body["action"] == "opened", body
    assert orders_sent(fake) == [
        (Side.BUY, OrderKind.MARKET, D("0.011"), cid(1, "e"), None, False),  # sent once, never again
        (Side.SELL, OrderKind.STOP, D("0.011"), cid(1, "sl"), D("26460.0"), True),
        (Side.SELL, OrderKind.TAKE_PROFIT, D("0.011"), cid(1, "tp"), D("28080.0"), True)]
    lookup = fake.requests_to("GET", "/fapi/v1/order")
    assert [dict(parse_qsl(query_of(r)))["origClientOrderId"] for r in lookup] == [cid(1, "e")]
    stored = await trader.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT")
    assert (stored.side, stored.quantity, stored.entry_price) == ("BUY", D("0.011"), D("27000.0"))
    assert (stored.stop_loss_order_id, stored.take_profit_order_id) == ("5002", "5003")


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_close_filled_behind_a_server_error_is_recorded_as_closed(fake, trader, status) -> None:
    assert (await trader(1, "buy", "27000"))["action"] == "opened"
    fake.accept_then = status
    fake.fill_price = D("27270.0")
    body = await trader(2, "close")
    assert body["action"] == "closed", body
    assert orders_sent(fake) == [(Side.SELL, OrderKind.MARKET, D("0.011"), cid(2, "x"), None, True)]
    assert fake.positions == {} and [o["status"] for o in fake.orders[1:3]] == ["CANCELED", "CANCELED"]
    [trade] = await trader.store.list_trades()
    assert (trade.exit_reason, trade.exit_price, trade.pnl_usd) == ("MANUAL", D("27270.0"), D("2.97000000"))
    assert await trader.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT") is None


@pytest.mark.parametrize("status", [500, 502, 504])
async def test_a_reversal_whose_close_hit_a_server_error_still_opens_the_new_side(fake, trader, status) -> None:
    assert (await trader(1, "buy", "27000"))["action"] == "opened"
    fake.accept_then = status  # the reversal's close goes through; its answer is lost
    body = await trader(2, "sell", "27100")
    assert body["action"] == "reversed", body
    assert orders_sent(fake) == [
        (Side.SELL, OrderKind.MARKET, D("0.011"), cid(2, "rx"), None, True),
        (Side.SELL, OrderKind.MARKET, D("0.011"), cid(2, "e"), None, False),
        (Side.BUY, OrderKind.STOP, D("0.011"), cid(2, "sl"), D("27642.0"), True),
        (Side.BUY, OrderKind.TAKE_PROFIT, D("0.011"), cid(2, "tp"), D("26016.0"), True)]
    assert fake.positions == {"BTCUSDT": (D("-0.011"), D("27100"))}
    [trade] = await trader.store.list_trades()
    assert (trade.exit_reason, trade.side, trade.exit_price) == ("REVERSAL", "BUY", D("27100"))
    stored = await trader.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT")
    assert (stored.side, stored.quantity) == ("SELL", D("0.011"))


async def test_a_partly_filled_entry_is_protected_for_what_filled_at_its_price(fake, trader) -> None:
    """The market entry is still partly filled after the look-ups: the rest is cancelled, and the
    cancel reply (no avgPrice) still gives the fill's price from cumQuote / executedQty."""
    fake.market_status, fake.partial_fill = "PARTIALLY_FILLED", D("0.004")
    fake.price, fake.fill_price = D("27000.0"), D("27010.0")
    body = await trader(1, "buy")
    assert body["action"] == "opened", body
    assert [r.method for r in fake.received if r.url.path == "/fapi/v1/order"][-2:] == ["GET", "DELETE"]
    assert orders_sent(fake)[1:] == [
        (Side.SELL, OrderKind.STOP, D("0.004"), cid(1, "sl"), D("26469.8"), True),
        (Side.SELL, OrderKind.TAKE_PROFIT, D("0.004"), cid(1, "tp"), D("28090.4"), True)]
    stored = await trader.store.get_position(LOCAL_USER_ID, "aster", "BTCUSDT")
    assert (stored.quantity, stored.entry_price, stored.stop_loss_price) == (D("0.004"), D("27010"), D("26469.8"))
    assert fake.positions == {"BTCUSDT": (D("0.004"), D("27010.0"))}
