"""The generic CCXT adapter, tested through REAL ccxt exchange classes.

ccxt talks HTTP through aiohttp, which respx does not see, so each test venue replaces the ccxt
instance's `fetch(url, method, headers, body)` coroutine: it records the exact request (method,
path, query, body, headers) and answers with recorded replies shaped as the venue documents them
(`tests/fixtures/ccxt/*.json`, each naming its doc page), then runs ccxt's own error handling on
the reply. So ccxt's real request building, signing, routing and parsing all run:
`binanceusdm` covers the separate-protection path (stops on Binance's algo endpoint) and `bybit`
the attached-bracket path. Both run the shared adapter contract.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
from dataclasses import dataclass, field
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import ccxt.async_support as ccxt_async
import pytest
from ccxt.base.decimal_to_precision import DECIMAL_PLACES, SIGNIFICANT_DIGITS, TICK_SIZE

from sparky.config import LegacyConfig
from sparky.exchanges.base import Bracket, OrderKind, OrderRequest, OrderStatus, Position, Side, SymbolRules
from sparky.exchanges.ccxt import adapter as ccxt_venue
from sparky.exchanges.ccxt.adapter import CcxtExchange
from sparky.exchanges.ccxt.api import override_urls, quirks_for, wire_client_id
from sparky.exchanges.ccxt.lookup import Recent
from sparky.exchanges.ccxt.markets import split_symbol, venue_market
from sparky.exchanges.ccxt.wire import translate
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
from sparky.exchanges.registry import ExchangeRegistry
from sparky.execution.executor import Job, TradeExecutor
from sparky.execution.orders import send_order
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.models import Signal
from sparky.store.sqlite.store import SqliteStore
from tests.conftest import make_settings
from tests.exchange_contract import ExchangeContract, SentOrder
from tests.support import execute, local_accounts

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "ccxt"
KEY, SECRET = "test-key", "test-secret"


def fixture(name: str) -> Any:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    data.pop("_source", None)
    return data


@dataclass
class Request:
    method: str
    host: str
    path: str
    query: dict[str, str]
    body: Any  # parsed JSON body, form fields, or None
    headers: dict[str, str]
    raw_query: str
    raw_body: str | None = None

    @property
    def params(self) -> dict[str, Any]:
        return {**self.query, **(self.body if isinstance(self.body, dict) else {})}


@dataclass
class Record:
    """An order as the scripted venue holds it, in neutral terms; each venue renders its own shape."""

    id: str
    cid: str
    side: Side
    kind: OrderKind
    qty: D
    price: D | None = None
    trigger: D | None = None
    reduce_only: bool = False
    status: str = "open"  # open | filled | canceled | expired
    filled: D = D(0)
    avg: D | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_trigger(self) -> bool:
        return self.kind in (OrderKind.STOP, OrderKind.TAKE_PROFIT)


class FakeVenue:
    """State and bookkeeping shared by the two scripted venues (the `VenueHarness`)."""

    exchange_id: str
    symbol = "ETHUSDT"
    rules: SymbolRules
    price = D("2000.00")
    quantity: D

    def __init__(self, **credentials: Any) -> None:
        self.requests: list[Request] = []
        self.unexpected: list[Request] = []
        self.configs: list[dict[str, Any]] = []
        self.clients: list[Any] = []
        self.last = self.price
        self.fill: D | None = None
        self.held: tuple[Side, D, D] | None = None
        self.orders: dict[str, Record] = {}  # by venue id
        self.next_error: str | None = None
        self.timeout_next = False
        self.fail_all: tuple[int, Any] | None = None
        self.ids = itertools.count(1001)
        credentials = {"api_key": KEY, "api_secret": SECRET, **credentials}
        name = credentials.pop("exchange", self.exchange_id)
        self.exchange = CcxtExchange(VenueCredentials(name, **credentials), None,
                                     client_factory=self._factory, fill_check_delay=0)

    @property
    def client(self) -> Any:
        return self.clients[-1]

    def _factory(self, exchange_id: str, config: dict[str, Any]) -> Any:
        self.configs.append(copy.deepcopy(config))
        # real ccxt class; its rate limiter off so the tests never sleep
        client = getattr(ccxt_async, exchange_id)({**config, "enableRateLimit": False})
        client.fetch = self._fetch
        self.clients.append(client)
        return client

    async def _fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        parts = urlsplit(url)
        parsed: Any = None
        if body:
            parsed = json.loads(body) if body.lstrip().startswith("{") else dict(parse_qsl(body))
        request = Request(method, parts.netloc, parts.path, dict(parse_qsl(parts.query, keep_blank_values=True)),
                          parsed, dict(headers or {}), parts.query, body)
        self.requests.append(request)
        status, payload = self.fail_all or self.answer(request)
        text = json.dumps(payload)
        # what ccxt's own fetch does with a reply: the venue's error codes, then the HTTP status
        self.client.handle_errors(status, "", url, method, {}, text, payload, headers, body)
        self.client.handle_http_status_code(status, "", url, method, text)
        return payload

    # ------------------------------------------------------------ VenueHarness
    def market(self, price: D) -> None:
        self.last = price

    def holding(self, side: Side | None, quantity: D = D(0), entry: D = D(0)) -> None:
        self.held = None if side is None else (side, quantity, entry)

    def fills_at(self, price: D) -> None:
        self.fill = price

    def rejects_next_order(self, error: type[Exception]) -> None:
        self.next_error = error.__name__

    def next_order_outcome_unknown(self, fill_price: D) -> None:
        self.fill, self.timeout_next = fill_price, True

    def sent(self) -> list[SentOrder]:
        return [self.as_sent(r) for r in self.order_posts()]

    def order_requests(self) -> int:
        return len(self.order_posts())

    def round_trips(self) -> int:
        return len(self.requests)

    # ------------------------------------------------------------ shared venue behaviour
    def order_posts(self) -> list[Request]:
        raise NotImplementedError

    def as_sent(self, request: Request) -> SentOrder:
        raise NotImplementedError

    def answer(self, request: Request) -> tuple[int, Any]:
        raise NotImplementedError

    def error(self, name: str) -> tuple[int, Any]:
        reply = fixture(f"{self.exchange_id}_errors")[name]
        return reply["status"], reply["body"]

    def accept(self, record: Record) -> tuple[int, Any] | None:
        """Apply the scripted outcome to a new order; a reply when the venue refuses it."""
        if self.next_error:
            name, self.next_error = self.next_error, None
            return self.error(name)
        if record.kind is OrderKind.MARKET and self.fill is not None:
            record.status, record.filled, record.avg = "filled", record.qty, self.fill
            self._net(record)
        self.orders[record.id] = record
        if self.timeout_next:  # the venue took it, the answer never came back
            self.timeout_next = False
            raise ccxt_async.RequestTimeout(f"{self.exchange_id} POST timed out")
        return None

    def _net(self, record: Record) -> None:
        signed = {Side.BUY: 1, Side.SELL: -1}
        held = signed[self.held[0]] * self.held[1] if self.held else D(0)
        after = held + signed[record.side] * record.qty
        entry = self.held[2] if self.held and (held > 0) == (after > 0) else record.avg
        self.held = None if after == 0 else (Side.BUY if after > 0 else Side.SELL, abs(after), entry or D(0))

    def find(self, *, order_id: str | None = None, cid: str | None = None) -> Record | None:
        for record in self.orders.values():
            if (order_id is not None and record.id == order_id) or (cid is not None and record.cid == cid):
                return record
        return None


# =========================================================================== binanceusdm
class BinanceVenue(FakeVenue):
    """USDⓈ-M futures: RESULT replies (fills in the reply), conditional orders on /fapi/v1/algoOrder."""

    exchange_id = "binanceusdm"
    rules = SymbolRules("ETHUSDT", D("0.01"), D("0.001"), D("0.001"), D("20"))
    quantity = D("0.050")
    ORDER_POSTS = ("/fapi/v1/order", "/fapi/v1/algoOrder")
    KINDS = {"MARKET": OrderKind.MARKET, "LIMIT": OrderKind.LIMIT, "STOP_MARKET": OrderKind.STOP,
             "TAKE_PROFIT_MARKET": OrderKind.TAKE_PROFIT}

    def order_posts(self) -> list[Request]:
        return [r for r in self.requests if r.method == "POST" and r.path in self.ORDER_POSTS]

    def as_sent(self, request: Request) -> SentOrder:
        p = request.params
        number = lambda key: D(p[key]) if key in p else None  # noqa: E731
        return SentOrder(Side(p["side"].lower()), self.KINDS[p["type"]], number("quantity"),
                         p.get("newClientOrderId") or p.get("clientAlgoId"), number("price"),
                         number("triggerPrice") or number("stopPrice"), p.get("reduceOnly") == "true")

    def render(self, r: Record) -> dict[str, Any]:
        status = {"open": "NEW", "filled": "FILLED", "canceled": "CANCELED", "expired": "EXPIRED"}[r.status]
        if r.kind in (OrderKind.STOP, OrderKind.TAKE_PROFIT):
            algo = fixture("binanceusdm_algo_order")
            algo.update(algoId=int(r.id), clientAlgoId=r.cid, side=r.side.value.upper(), quantity=str(r.qty),
                        orderType="STOP_MARKET" if r.kind is OrderKind.STOP else "TAKE_PROFIT_MARKET",
                        triggerPrice=str(r.trigger), reduceOnly=r.reduce_only, algoStatus=status)
            return algo
        order = fixture("binanceusdm_order")
        order.update(orderId=int(r.id), clientOrderId=r.cid, side=r.side.value.upper(), type=r.kind.name,
                     origType=r.kind.name, origQty=str(r.qty), executedQty=str(r.filled), cumQty=str(r.filled),
                     avgPrice=str(r.avg or "0.00"), price=str(r.price or "0"), status=status,
                     reduceOnly=r.reduce_only, cumQuote=str((r.avg or 0) * r.filled))
        return order

    def answer(self, request: Request) -> tuple[int, Any]:
        p, route = request.params, (request.method, request.path)
        if route == ("GET", "/fapi/v1/exchangeInfo"):
            return 200, fixture("binanceusdm_exchange_info")
        if route == ("GET", "/fapi/v1/ticker/24hr"):
            ticker = {**fixture("binanceusdm_ticker_24hr"), "lastPrice": str(self.last)}
            return 200, ticker if "symbol" in p else [ticker]  # without a symbol: every symbol's, a list
        if route == ("GET", "/fapi/v1/time"):
            return 200, {"serverTime": 1765000000000}
        if route == ("GET", "/fapi/v1/leverageBracket"):
            return 200, fixture("binanceusdm_leverage_bracket")["list"]
        if route == ("GET", "/fapi/v3/account"):
            return 200, fixture("binanceusdm_account")
        if route == ("GET", "/fapi/v3/positionRisk"):
            if self.held is None:
                return 200, []
            side, qty, entry = self.held
            amount = qty if side is Side.BUY else -qty
            return 200, [{**fixture("binanceusdm_position_risk")["entry"], "positionAmt": str(amount),
                          "entryPrice": str(entry), "notional": str(amount * self.last)}]
        if request.method == "POST" and request.path in self.ORDER_POSTS:
            kind = self.KINDS[p["type"]]
            cid = p.get("newClientOrderId") or p["clientAlgoId"]
            record = Record(str(next(self.ids)), cid, Side(p["side"].lower()),
                            kind, D(p["quantity"]), D(p["price"]) if "price" in p else None,
                            D(p["triggerPrice"]) if "triggerPrice" in p else None, p.get("reduceOnly") == "true")
            refused = self.accept(record)
            return refused or (200, self.render(record))
        algo = request.path == "/fapi/v1/algoOrder"
        if route in (("GET", "/fapi/v1/order"), ("GET", "/fapi/v1/algoOrder")):
            record = self.find(order_id=p.get("orderId") or p.get("algoId"),
                               cid=p.get("origClientOrderId") or p.get("clientAlgoId"))
            if record is None or record.is_trigger != algo:
                return self.error("OrderNotFound")
            return 200, self.render(record)
        if route in (("DELETE", "/fapi/v1/order"), ("DELETE", "/fapi/v1/algoOrder")):
            record = self.find(order_id=p.get("orderId") or p.get("algoId"))
            if record is None or record.status != "open" or record.is_trigger != algo:
                return self.error("UnknownOrderCancel")
            record.status = "canceled"
            return 200, self.render(record)
        if route in (("GET", "/fapi/v1/openOrders"), ("GET", "/fapi/v1/openAlgoOrders")):
            return 200, [self.render(r) for r in self.orders.values() if r.status == "open"
                         and r.is_trigger == request.path.endswith("AlgoOrders")]
        self.unexpected.append(request)
        return 404, {"code": -5000, "msg": f"no such path in the test venue: {request.path}"}


# =========================================================================== bybit
class BybitVenue(FakeVenue):
    """Bybit v5 (unified account): ids-only create replies, TP/SL attachable to an order."""

    exchange_id = "bybit"
    rules = SymbolRules("ETHUSDT", D("0.01"), D("0.01"), D("0.01"), D("5"))
    quantity = D("0.05")

    def order_posts(self) -> list[Request]:
        return [r for r in self.requests if (r.method, r.path) == ("POST", "/v5/order/create")]

    @staticmethod
    def kind_of(p: dict[str, Any]) -> OrderKind:
        if "triggerPrice" not in p:
            return OrderKind.LIMIT if p["orderType"] == "Limit" else OrderKind.MARKET
        # the venue's meaning: a sell that triggers on a fall (2) protects a long → stop-loss
        falls = p["triggerDirection"] == 2
        return OrderKind.STOP if falls == (p["side"] == "Sell") else OrderKind.TAKE_PROFIT

    def as_sent(self, request: Request) -> SentOrder:
        p = request.body
        number = lambda key: D(str(p[key])) if key in p else None  # noqa: E731
        return SentOrder(Side(p["side"].lower()), self.kind_of(p), number("qty"), p.get("orderLinkId"),
                         number("price"), number("triggerPrice"), p.get("reduceOnly") is True)

    def render(self, r: Record) -> dict[str, Any]:
        order = fixture("bybit_order")["entry"]
        trigger = r.kind in (OrderKind.STOP, OrderKind.TAKE_PROFIT)
        status = {"open": "Untriggered" if trigger else "New", "filled": "Filled", "canceled": "Cancelled",
                  "expired": "Cancelled"}[r.status]
        rising = (r.kind is OrderKind.STOP) == (r.side is Side.BUY)
        order.update(orderId=r.id, orderLinkId=r.cid, side=r.side.value.capitalize(), qty=str(r.qty),
                     orderType="Limit" if r.kind is OrderKind.LIMIT else "Market", orderStatus=status,
                     price=str(r.price or "0"), avgPrice=str(r.avg or ""), cumExecQty=str(r.filled),
                     cumExecValue=str((r.avg or 0) * r.filled), leavesQty=str(r.qty - r.filled),
                     triggerPrice=str(r.trigger or ""), triggerDirection=(1 if rising else 2) if trigger else 0,
                     reduceOnly=r.reduce_only, **r.extra)
        return order

    def answer(self, request: Request) -> tuple[int, Any]:
        p, route = request.params, (request.method, request.path)
        ok = lambda result: (200, {"retCode": 0, "retMsg": "OK", "result": result, "retExtInfo": {},  # noqa: E731
                                   "time": 1765000000000})
        if route == ("GET", "/v5/market/instruments-info"):
            name = {"linear": "linear", "spot": "spot"}.get(p["category"], "empty")
            return 200, fixture(f"bybit_instruments_{'empty' if p.get('status') == 'PreLaunch' else name}")
        simple = {"/v5/asset/coin/query-info": "bybit_coin_info", "/v5/user/query-api": "bybit_query_api",
                  "/v5/account/info": "bybit_account_info", "/v5/account/wallet-balance": "bybit_wallet_balance"}
        if request.method == "GET" and request.path in simple:
            return 200, fixture(simple[request.path])
        if route == ("GET", "/v5/market/tickers"):
            reply = fixture("bybit_tickers")
            reply["result"]["list"][0]["lastPrice"] = str(self.last)
            return 200, reply
        if route == ("GET", "/v5/position/list"):
            entry = fixture("bybit_position")["entry"]
            if self.held is not None:
                side, qty, price = self.held
                entry.update(side="Buy" if side is Side.BUY else "Sell", size=str(qty), avgPrice=str(price))
            return ok({"category": "linear", "list": [entry], "nextPageCursor": ""})
        if route == ("POST", "/v5/order/create"):
            record = Record(str(next(self.ids)), p.get("orderLinkId", ""), Side(p["side"].lower()), self.kind_of(p),
                            D(p["qty"]), D(p["price"]) if "price" in p else None,
                            D(p["triggerPrice"]) if "triggerPrice" in p else None, p.get("reduceOnly") is True)
            try:
                refused = self.accept(record)
            finally:  # the venue attaches the exits on fill, whether or not its reply gets back
                if record.status == "filled" and ("stopLoss" in p or "takeProfit" in p):
                    self._attach(record, p)
            if refused:
                return refused
            return ok({"orderId": record.id, "orderLinkId": record.cid})
        if route == ("GET", "/v5/order/realtime"):
            if "orderId" in p or "orderLinkId" in p:
                found = self.find(order_id=p.get("orderId"), cid=p.get("orderLinkId"))
                listed = [found] if found else []
            else:
                listed = [r for r in self.orders.values() if r.status == "open"]
            return ok({"category": "linear", "list": [self.render(r) for r in listed], "nextPageCursor": ""})
        if route == ("GET", "/v5/order/history"):
            listed = [r for r in self.orders.values() if r.status != "open"]
            return ok({"category": "linear", "list": [self.render(r) for r in listed], "nextPageCursor": ""})
        if route == ("POST", "/v5/order/cancel"):
            record = self.find(order_id=p.get("orderId"))
            if record is None or record.status != "open":
                return self.error("OrderNotFound")
            record.status = "canceled"
            return ok({"orderId": record.id, "orderLinkId": record.cid})
        self.unexpected.append(request)
        return 404, {"retCode": 404, "retMsg": f"no such path in the test venue: {request.path}"}

    def _attach(self, entry: Record, p: dict[str, Any]) -> None:
        """What Bybit does on fill: position TP/SL as conditional orders (stopOrderType StopLoss /
        TakeProfit, Untriggered) on the exit side."""
        exit_side = entry.side.opposite
        for key, kind, stop_type in (("stopLoss", OrderKind.STOP, "StopLoss"),
                                     ("takeProfit", OrderKind.TAKE_PROFIT, "TakeProfit")):
            if key in p:
                record = Record(str(next(self.ids)), "", exit_side, kind, entry.qty, trigger=D(str(p[key])),
                                reduce_only=True, extra={"stopOrderType": stop_type, "createType": "CreateByUser"})
                self.orders[record.id] = record
        entry.extra = {"stopLoss": str(p.get("stopLoss", "")), "takeProfit": str(p.get("takeProfit", ""))}


# =========================================================================== hyperliquid
class HyperliquidVenue(FakeVenue):
    """Hyperliquid perpetuals, enough to place orders: markets and prices from `metaAndAssetCtxs`
    (POST /info), orders as signed actions (POST /exchange). A market order is an IOC limit at
    ccxt's slippage around the price it is given: it fills only if that limit reaches the market."""

    exchange_id = "hyperliquid"
    symbol = "ETHUSDC"
    quantity = D("0.05")
    WALLET = "0x" + "ab" * 20
    KEY = "0x" + "11" * 32  # any secp256k1 key: ccxt signs every action with it

    def __init__(self) -> None:
        super().__init__(extra={"wallet_address": self.WALLET, "private_key": self.KEY})

    def order_posts(self) -> list[Request]:
        return [r for r in self.requests if r.path == "/exchange" and r.body["action"]["type"] == "order"]

    def sent_orders(self) -> list[dict[str, Any]]:
        return [order for r in self.order_posts() for order in r.body["action"]["orders"]]

    def answer(self, request: Request) -> tuple[int, Any]:
        body = request.body or {}
        if request.path == "/info" and body.get("type") == "metaAndAssetCtxs":
            meta, contexts = fixture("hyperliquid_meta_and_asset_ctxs")["reply"]
            contexts[1].update(markPx=str(self.last), midPx=str(self.last), oraclePx=str(self.last))
            return 200, [meta, contexts]
        if request.path == "/exchange" and body["action"]["type"] == "order":
            [order] = body["action"]["orders"]
            limit, market = D(order["p"]), self.last
            if "trigger" in order["t"]:
                return 200, {"status": "ok", "response": {"type": "order", "data": {"statuses": ["waitingForTrigger"]}}}
            if (limit < market) if order["b"] else (limit > market):
                return 200, fixture("hyperliquid_order")["unmatched"]
            reply = fixture("hyperliquid_order")["filled"]
            reply["response"]["data"]["statuses"][0]["filled"].update(totalSz=order["s"], avgPx=str(market),
                                                                      oid=next(self.ids))
            return 200, reply
        if request.path == "/info" and body.get("type") == "spotMeta":  # ccxt reads currencies from it
            return 200, {"universe": [], "tokens": []}
        if request.path == "/info" and body.get("type") == "userAbstraction":
            return 200, "default"
        if request.path == "/exchange" and body["action"]["type"] in ("approveBuilderFee", "setReferrer"):
            return 200, {"status": "ok", "response": {"type": "default"}}  # ccxt's own set-up actions
        self.unexpected.append(request)
        return 200, {"status": "err", "response": f"no such request in the test venue: {body}"}


# =========================================================================== fixtures
@pytest.fixture
async def binance() -> Any:
    venue = BinanceVenue()
    yield venue
    await venue.exchange.aclose()
    assert not venue.unexpected, venue.unexpected


@pytest.fixture
async def bybit() -> Any:
    venue = BybitVenue()
    yield venue
    await venue.exchange.aclose()
    assert not venue.unexpected, venue.unexpected


class TestBinanceUsdmContract(ExchangeContract):
    @pytest.fixture
    def venue(self, binance: BinanceVenue) -> BinanceVenue:
        return binance


class TestBybitContract(ExchangeContract):
    @pytest.fixture
    def venue(self, bybit: BybitVenue) -> BybitVenue:
        return bybit


# =========================================================================== helpers
def signed_ok(request: Request) -> bool:
    """Binance: hex HMAC-SHA256 of the parameters (query for GET/DELETE, form body for POST)
    before `&signature=`."""
    payload, _, signature = (request.raw_body or request.raw_query).rpartition("&signature=")
    expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return request.headers.get("X-MBX-APIKEY") == KEY and hmac.compare_digest(signature, expected)


def bybit_signed_ok(request: Request, body: str) -> bool:
    """Bybit v5: HMAC-SHA256 of timestamp + key + recvWindow + body, in headers."""
    h = request.headers
    payload = h["X-BAPI-TIMESTAMP"] + KEY + h["X-BAPI-RECV-WINDOW"] + body
    expected = hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()
    return h["X-BAPI-API-KEY"] == KEY and hmac.compare_digest(h["X-BAPI-SIGN"], expected)


def entry(venue: FakeVenue, side: Side, cid: str = "sp0000-e", **kwargs: Any) -> OrderRequest:
    return OrderRequest(venue.symbol, side, OrderKind.MARKET, kwargs.pop("quantity", venue.quantity), cid, **kwargs)


def protect(venue: FakeVenue, side: Side, kind: OrderKind, trigger: D, cid: str) -> OrderRequest:
    return OrderRequest(venue.symbol, side.opposite, kind, venue.quantity, cid, trigger_price=trigger, reduce_only=True)


async def warm(venue: FakeVenue) -> None:
    """Markets loaded and one-off account probes done, so counts show the steady state."""
    await venue.exchange.symbol_rules(venue.symbol)
    await venue.exchange.position(venue.symbol)
    if venue.exchange_id == "bybit":
        await venue.client.is_unified_enabled()
    venue.requests.clear()


def since(venue: FakeVenue, start: int) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in venue.requests[start:]]


# =========================================================================== binanceusdm: exact requests
SIGNING = {"timestamp", "recvWindow", "signature"}


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_binance_market_entry_exact_request(binance: BinanceVenue, side: Side) -> None:
    await warm(binance)
    binance.fills_at(D("2000.50"))
    order = await binance.exchange.place_order(entry(binance, side))
    [sent] = binance.requests
    assert (sent.method, sent.host, sent.path, sent.query) == ("POST", "fapi.binance.com", "/fapi/v1/order", {})
    assert {k: v for k, v in sent.body.items() if k not in SIGNING} == {
        "symbol": "ETHUSDT", "side": side.value.upper(), "type": "MARKET", "quantity": "0.05",
        "newClientOrderId": "sp0000-e", "newOrderRespType": "RESULT"}
    assert set(sent.body) - SIGNING == {"symbol", "side", "type", "quantity", "newClientOrderId", "newOrderRespType"}
    assert signed_ok(sent)
    assert (order.status, order.average_price, order.filled_quantity, order.symbol) == (
        OrderStatus.FILLED, D("2000.50"), D("0.05"), "ETHUSDT")


@pytest.mark.parametrize(("side", "kind", "trigger", "sent_type", "sent_side"), [
    (Side.BUY, OrderKind.STOP, D("1950.005"), "STOP_MARKET", "SELL"),
    (Side.BUY, OrderKind.TAKE_PROFIT, D("2100.004"), "TAKE_PROFIT_MARKET", "SELL"),
    (Side.SELL, OrderKind.STOP, D("2049.995"), "STOP_MARKET", "BUY"),
    (Side.SELL, OrderKind.TAKE_PROFIT, D("1899.999"), "TAKE_PROFIT_MARKET", "BUY"),
])
async def test_binance_protection_goes_to_the_algo_endpoint(
    binance: BinanceVenue, side: Side, kind: OrderKind, trigger: D, sent_type: str, sent_side: str
) -> None:
    """ccxt 4.5.90 sends Binance USDⓈ-M stops/TPs to POST /fapi/v1/algoOrder (algoType CONDITIONAL,
    clientAlgoId, triggerPrice): the plain order endpoint refuses them since 2025-12-09."""
    await warm(binance)
    order = await binance.exchange.place_order(protect(binance, side, kind, trigger, "sp0000-sl"))
    [sent] = binance.requests
    assert (sent.method, sent.path, sent.query) == ("POST", "/fapi/v1/algoOrder", {})
    rounded = format(trigger.quantize(D("0.01"), rounding="ROUND_HALF_UP").normalize(), "f")  # ccxt drops zeros
    assert {k: v for k, v in sent.body.items() if k not in SIGNING} == {
        "symbol": "ETHUSDT", "side": sent_side, "type": sent_type, "algoType": "CONDITIONAL",
        "quantity": "0.05", "triggerPrice": rounded, "reduceOnly": "true", "clientAlgoId": "sp0000-sl",
        "newOrderRespType": "RESULT"}
    assert signed_ok(sent)
    assert (order.kind, order.status, order.trigger_price) == (kind, OrderStatus.OPEN, D(rounded))
    assert order.reduce_only
    assert order.side is side.opposite


async def test_binance_stop_is_looked_up_and_cancelled_on_the_algo_endpoint(binance: BinanceVenue) -> None:
    await warm(binance)
    stop = await binance.exchange.place_order(protect(binance, Side.BUY, OrderKind.STOP, D("1950"), "sp0000-sl"))
    start = len(binance.requests)
    found = await binance.exchange.get_order(binance.symbol, client_order_id="sp0000-sl")
    assert found is not None and (found.id, found.kind, found.client_order_id) == (stop.id, OrderKind.STOP, "sp0000-sl")
    lookup = binance.requests[start]
    assert (lookup.method, lookup.path, lookup.query["clientAlgoId"]) == ("GET", "/fapi/v1/algoOrder", "sp0000-sl")
    cancelled = await binance.exchange.cancel_order(binance.symbol, stop.id)
    assert cancelled.status is OrderStatus.CANCELED
    delete = binance.requests[-1]
    assert (delete.method, delete.path, delete.query["algoId"]) == ("DELETE", "/fapi/v1/algoOrder", stop.id)
    with pytest.raises(OrderNotFound):
        await binance.exchange.cancel_order(binance.symbol, stop.id)


async def test_binance_lookup_after_a_restart_tries_plain_then_algo_orders(binance: BinanceVenue) -> None:
    """A fresh adapter does not know the stop was an algo order: plain lookup, then algo."""
    await warm(binance)
    await binance.exchange.place_order(protect(binance, Side.BUY, OrderKind.STOP, D("1950"), "sp0000-sl"))
    fresh = CcxtExchange(VenueCredentials("binanceusdm", api_key=KEY, api_secret=SECRET), None,
                         client_factory=binance._factory)
    start = len(binance.requests)
    found = await fresh.get_order(binance.symbol, client_order_id="sp0000-sl")
    assert found is not None and found.kind is OrderKind.STOP
    assert since(binance, start)[-2:] == [("GET", "/fapi/v1/order"), ("GET", "/fapi/v1/algoOrder")]
    assert await fresh.get_order(binance.symbol, client_order_id="sp9999-sl") is None
    await fresh.aclose()


async def test_binance_close_is_a_reduce_only_market_order(binance: BinanceVenue) -> None:
    await warm(binance)
    binance.holding(Side.BUY, binance.quantity, binance.price)
    binance.fills_at(binance.price)
    close = OrderRequest(binance.symbol, Side.SELL, OrderKind.MARKET, binance.quantity, "sp0000-x", reduce_only=True)
    await binance.exchange.place_order(close)
    [sent] = binance.requests
    assert (sent.path, sent.body["side"], sent.body["type"], sent.body["reduceOnly"]) == (
        "/fapi/v1/order", "SELL", "MARKET", "true")
    assert await binance.exchange.position(binance.symbol) is None


async def test_binance_open_with_stop_and_target_takes_three_round_trips(binance: BinanceVenue) -> None:
    await warm(binance)
    binance.fills_at(binance.price)
    await binance.exchange.place_order(entry(binance, Side.BUY))
    await binance.exchange.place_order(protect(binance, Side.BUY, OrderKind.STOP, D("1950"), "sp0000-sl"))
    await binance.exchange.place_order(protect(binance, Side.BUY, OrderKind.TAKE_PROFIT, D("2100"), "sp0000-tp"))
    assert since(binance, 0) == [("POST", "/fapi/v1/order"), ("POST", "/fapi/v1/algoOrder"),
                                 ("POST", "/fapi/v1/algoOrder")]
    assert binance.round_trips() == 3


async def reverse(venue: FakeVenue) -> None:
    """What the executor does to reverse a long: read, close, confirm flat, enter, protect."""
    ex = venue.exchange
    live = await ex.position(venue.symbol)
    assert live is not None and live.side is Side.BUY
    await ex.place_order(OrderRequest(venue.symbol, Side.SELL, OrderKind.MARKET, live.quantity, "sp0000-rx",
                                      reduce_only=True))
    assert await ex.position(venue.symbol) is None
    await ex.place_order(entry(venue, Side.SELL))
    await ex.place_order(protect(venue, Side.SELL, OrderKind.STOP, D("2050"), "sp0000-sl"))
    await ex.place_order(protect(venue, Side.SELL, OrderKind.TAKE_PROFIT, D("1900"), "sp0000-tp"))


async def test_binance_reversal_round_trips(binance: BinanceVenue) -> None:
    await warm(binance)
    binance.holding(Side.BUY, binance.quantity, binance.price)
    binance.fills_at(binance.price)
    await reverse(binance)
    assert since(binance, 0) == [
        ("GET", "/fapi/v3/positionRisk"), ("POST", "/fapi/v1/order"), ("GET", "/fapi/v3/positionRisk"),
        ("POST", "/fapi/v1/order"), ("POST", "/fapi/v1/algoOrder"), ("POST", "/fapi/v1/algoOrder")]
    assert binance.round_trips() == 6
    assert [s.side for s in binance.sent()] == [Side.SELL, Side.SELL, Side.BUY, Side.BUY]
    assert binance.held == (Side.SELL, binance.quantity, binance.price)


# =========================================================================== precision and minimums
async def test_quantities_are_floored_to_the_step_and_prices_rounded_to_the_tick(binance: BinanceVenue) -> None:
    await warm(binance)
    binance.fills_at(binance.price)
    await binance.exchange.place_order(entry(binance, Side.BUY, quantity=D("0.0509")))
    limit = OrderRequest(binance.symbol, Side.BUY, OrderKind.LIMIT, D("0.0501"), "sp0000-l", price=D("1999.995"))
    await binance.exchange.place_order(limit)
    market, resting = binance.requests
    assert market.body["quantity"] == "0.05"  # floored, never more than asked
    assert (resting.body["quantity"], resting.body["price"], resting.body["type"]) == ("0.05", "2000", "LIMIT")
    assert "e" not in market.body["quantity"].lower()


@pytest.fixture(params=[BinanceVenue, BybitVenue], ids=["binanceusdm", "bybit"])
async def any_venue(request: pytest.FixtureRequest) -> Any:
    venue = request.param()
    yield venue
    await venue.exchange.aclose()


async def test_our_decimal_rounding_agrees_with_ccxt(any_venue: FakeVenue) -> None:
    venue = any_venue
    await venue.exchange.symbol_rules(venue.symbol)
    market = venue.exchange._markets[venue.symbol]
    client = venue.client
    for text in ("1999.995", "1999.994999", "0.005", "2000", "123.455", "0.01499", "2000.0050001", "99999.999"):
        value = D(text)
        assert D(client.price_to_precision(market.ccxt_symbol, text)) == market.round_price(value), text
        if market.to_amount(value) == 0:  # ccxt refuses what rounds to nothing; we refuse it first
            with pytest.raises(ccxt_async.InvalidOrder):
                client.amount_to_precision(market.ccxt_symbol, text)
            continue
        assert D(client.amount_to_precision(market.ccxt_symbol, text)) == market.to_amount(value), text


async def test_orders_below_the_minimums_are_refused_before_sending(binance: BinanceVenue) -> None:
    await warm(binance)
    with pytest.raises(InvalidOrder, match="rounds to 0"):
        await binance.exchange.place_order(entry(binance, Side.BUY, quantity=D("0.0009")))
    await binance.exchange.last_price(binance.symbol)  # the venue quotes 2000: 0.005 is worth 10 < 20
    with pytest.raises(InvalidOrder, match="below the minimum 20"):
        await binance.exchange.place_order(entry(binance, Side.BUY, quantity=D("0.005")))
    assert binance.order_requests() == 0
    # closing a remainder below the minimums must stay possible
    binance.fills_at(binance.price)
    await binance.exchange.place_order(OrderRequest(binance.symbol, Side.SELL, OrderKind.MARKET, D("0.005"),
                                                    "sp0000-x", reduce_only=True))
    assert binance.sent()[-1].quantity == D("0.005")


# =========================================================================== errors
@pytest.mark.parametrize(("reply", "error"), [
    ("UnknownSymbol", UnknownSymbol),
    ("ServiceUnavailable", OutcomeUnknown),  # 503 after sending: it may have been executed
    ("ExecutionUnknown", OutcomeUnknown),  # -1007: "execution status unknown"
])
async def test_binance_order_error_replies(binance: BinanceVenue, reply: str, error: type[Exception]) -> None:
    await warm(binance)
    binance.next_error = reply
    with pytest.raises(error):
        await binance.exchange.place_order(entry(binance, Side.BUY))


async def test_errors_outside_orders_are_retryable_unavailability(binance: BinanceVenue) -> None:
    await warm(binance)
    binance.fail_all = binance.error("ServiceUnavailable")
    with pytest.raises(ExchangeUnavailable) as caught:
        await binance.exchange.last_price(binance.symbol)
    assert caught.value.retryable and not isinstance(caught.value, OutcomeUnknown)


async def test_a_connection_refused_before_sending_is_not_an_unknown_outcome(binance: BinanceVenue) -> None:
    await warm(binance)

    async def refused(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        cause = aiohttp.ClientConnectorError(None, OSError(111, "Connection refused"))  # type: ignore[arg-type]
        raise ccxt_async.ExchangeNotAvailable(f"binanceusdm {method} {url}") from cause

    binance.client.fetch = refused
    with pytest.raises(ExchangeUnavailable) as caught:
        await binance.exchange.place_order(entry(binance, Side.BUY))
    assert not isinstance(caught.value, OutcomeUnknown)

    async def dropped(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        raise ccxt_async.ExchangeNotAvailable("binanceusdm") from aiohttp.ServerDisconnectedError()

    binance.client.fetch = dropped
    with pytest.raises(OutcomeUnknown):
        await binance.exchange.place_order(entry(binance, Side.BUY))


async def test_unknown_symbols_are_refused_without_an_order(binance: BinanceVenue) -> None:
    with pytest.raises(UnknownSymbol):
        await binance.exchange.symbol_rules("DOGEUSDT")
    with pytest.raises(UnknownSymbol):
        await binance.exchange.place_order(OrderRequest("NOPE", Side.BUY, OrderKind.MARKET, D(1), "sp0000-e"))
    assert binance.order_requests() == 0


async def test_binance_timeout_is_resolved_by_client_id_lookup(binance: BinanceVenue) -> None:
    await warm(binance)
    binance.next_order_outcome_unknown(D("2001"))
    order = await send_order(binance.exchange, entry(binance, Side.BUY, "sp0001-e"))
    assert (order.status, order.average_price, order.client_order_id) == (OrderStatus.FILLED, D("2001"), "sp0001-e")
    post, lookup = binance.requests
    assert (lookup.method, lookup.path) == ("GET", "/fapi/v1/order")
    assert {k: v for k, v in lookup.query.items() if k not in SIGNING} == {
        "symbol": "ETHUSDT", "origClientOrderId": "sp0001-e"}
    assert signed_ok(lookup) and binance.order_requests() == 1


async def test_a_market_order_that_expired_part_filled_reads_filled(binance: BinanceVenue) -> None:
    await warm(binance)
    original = binance.render

    def partial(record: Record) -> dict[str, Any]:
        if record.kind is OrderKind.MARKET:
            record.status, record.filled, record.avg = "expired", D("0.02"), D("2000")
        return original(record)

    binance.render = partial  # type: ignore[method-assign]
    order = await binance.exchange.place_order(entry(binance, Side.BUY))
    assert (order.status, order.filled_quantity, order.quantity) == (OrderStatus.FILLED, D("0.02"), D("0.05"))


# =========================================================================== markets, symbols, capabilities
async def test_markets_load_once_and_map_alert_symbols(binance: BinanceVenue) -> None:
    rules = await binance.exchange.symbol_rules("ETHUSDT")
    loaded = since(binance, 0)
    assert loaded == [("GET", "/fapi/v1/exchangeInfo")]  # no spot-wallet (sapi) calls
    assert rules == SymbolRules("ETHUSDT", D("0.01"), D("0.001"), D("0.001"), D("20"))
    assert (await binance.exchange.symbol_rules("BTCUSDT")).tick_size == D("0.1")
    assert (await binance.exchange.symbol_rules("ETH/USDT")).tick_size == D("0.01")  # not the quarterly (0.10)
    assert binance.exchange._markets["ETHUSDT"].ccxt_symbol == "ETH/USDT:USDT"
    assert binance.round_trips() == 1
    binance.fills_at(binance.price)
    slash = OrderRequest("ETH/USDT", Side.BUY, OrderKind.MARKET, D("0.05"), "sp0000-e")
    order = await binance.exchange.place_order(slash)
    # orders come back under the market's one spelling, whatever the caller wrote
    assert order.symbol == "ETHUSDT" and binance.requests[-1].body["symbol"] == "ETHUSDT"


async def test_warm_up_loads_the_markets_the_first_signal_needs(binance: BinanceVenue) -> None:
    await binance.exchange.warm_up()
    assert since(binance, 0) == [("GET", "/fapi/v1/exchangeInfo")]
    assert await binance.exchange.canonical_symbol("ETH/USDT") == "ETHUSDT"
    await binance.exchange.warm_up()  # loaded already: nothing more to ask
    assert binance.round_trips() == 1


async def test_capabilities_come_from_ccxt_has() -> None:
    binance, bybit = BinanceVenue(), BybitVenue(exchange="Bybit")
    assert (binance.exchange.capabilities.attached_brackets, binance.exchange.capabilities.reduce_only) == (False, True)
    assert (bybit.exchange.capabilities.attached_brackets, bybit.exchange.capabilities.reduce_only) == (True, True)
    for venue in (binance, bybit):
        caps = venue.exchange.capabilities
        assert not (caps.oco or caps.batch_orders or caps.hedge_mode or caps.simulated)
        assert venue.exchange.name == venue.exchange_id
    spot = BybitVenue(extra={"market_type": "spot"})
    assert not (spot.exchange.capabilities.attached_brackets or spot.exchange.capabilities.reduce_only)
    for venue in (binance, bybit, spot):
        await venue.exchange.aclose()


async def test_binance_refuses_an_attached_bracket_it_cannot_send(binance: BinanceVenue) -> None:
    await warm(binance)
    with pytest.raises(NotSupported):
        await binance.exchange.place_order(entry(binance, Side.BUY, bracket=Bracket(D("1900"), D("2100"))))
    assert binance.round_trips() == 0


async def test_open_orders_include_algo_orders(binance: BinanceVenue) -> None:
    await warm(binance)
    await binance.exchange.place_order(protect(binance, Side.BUY, OrderKind.STOP, D("1950"), "sp0000-sl"))
    await binance.exchange.place_order(protect(binance, Side.BUY, OrderKind.TAKE_PROFIT, D("2100"), "sp0000-tp"))
    orders = await binance.exchange.open_orders(binance.symbol)
    assert {(o.kind, o.trigger_price, o.client_order_id) for o in orders} == {
        (OrderKind.STOP, D("1950"), "sp0000-sl"), (OrderKind.TAKE_PROFIT, D("2100"), "sp0000-tp")}


async def test_balance_and_positions(binance: BinanceVenue) -> None:
    balance = await binance.exchange.balance()
    assert (balance.currency, balance.total, balance.available) == ("USDT", D(1000), D(950))
    binance.holding(Side.BUY, D("0.05"), D("1990.5"))
    assert await binance.exchange.positions() == [Position("ETHUSDT", Side.BUY, D("0.05"), D("1990.5"))]


def test_contract_sizes_convert_between_base_units_and_contracts() -> None:
    """OKX-style swap: 1 contract = 0.1 ETH, step 1 contract, min 1 contract."""
    raw = {"symbol": "ETH/USDT:USDT", "contract": True, "contractSize": 0.1,
           "precision": {"price": 0.01, "amount": 1.0}, "limits": {"amount": {"min": 1.0}, "cost": {"min": None}}}
    market = venue_market(raw, "ETHUSDT", TICK_SIZE)
    assert market.rules == SymbolRules("ETHUSDT", D("0.01"), D("0.1"), D("0.1"), D(0))
    assert market.to_amount(D("0.55")) == D(5)  # 5.5 contracts floored to 5
    assert market.to_quantity(D(5)) == D("0.5")


# =========================================================================== client construction
async def test_client_config_and_environments() -> None:
    venue = BinanceVenue(passphrase="pp", extra={"market_type": "swap"})
    [config] = venue.configs
    assert config["apiKey"] == KEY and config["secret"] == SECRET and config["password"] == "pp"
    assert config["enableRateLimit"] is True and config["options"]["defaultType"] == "swap"
    assert "test-secret" not in repr(VenueCredentials("binanceusdm", api_secret="test-secret"))
    hosts = {}
    for environment in ("testnet", "demo", "production"):
        other = BinanceVenue(environment=environment)
        await other.exchange.symbol_rules("ETHUSDT")
        hosts[environment] = other.requests[0].host
        await other.exchange.aclose()
    assert hosts == {"testnet": "testnet.binancefuture.com", "demo": "demo-fapi.binance.com",
                     "production": "fapi.binance.com"}
    with pytest.raises(ValueError, match="environment"):
        BinanceVenue(environment="moon")
    await venue.exchange.aclose()


async def test_base_url_overrides_every_api_url() -> None:
    venue = BinanceVenue(base_url="http://127.0.0.1:8555/")
    await venue.exchange.symbol_rules("ETHUSDT")
    request = venue.requests[0]
    assert (request.host, request.path) == ("127.0.0.1:8555", "/fapi/v1/exchangeInfo")
    assert all(url.startswith("http://127.0.0.1:8555/") for url in venue.client.urls["api"].values())
    assert override_urls({"a": "https://api.{hostname}", "b": {"c": "https://x.y/v5"}}, "http://h") == {
        "a": "http://h", "b": {"c": "http://h/v5"}}
    await venue.exchange.aclose()


async def test_aclose_closes_the_ccxt_session() -> None:
    venue = BybitVenue()
    closed = []
    original = venue.client.close

    async def close() -> None:
        closed.append(True)
        await original()

    venue.client.close = close
    await venue.exchange.aclose()
    assert closed == [True]


async def test_wallet_venues_get_wallet_credentials_and_their_client_id_spelling() -> None:
    exchange = CcxtExchange(VenueCredentials("hyperliquid", extra={"wallet_address": "0xabc", "private_key": "0xkey"}))
    assert (exchange._client.walletAddress, exchange._client.privateKey) == ("0xabc", "0xkey")
    wire = wire_client_id("sp0123456789abcdef01234567-sl", quirks_for("hyperliquid"))
    assert wire.startswith("0x") and len(wire) == 34 and int(wire, 16) >= 0
    assert wire_client_id("sp0123456789abcdef01234567-sl", quirks_for("okx")) == "sp0123456789abcdef01234567sl"
    assert wire_client_id("sp0123456789abcdef01234567-sl", quirks_for("bybit")) == "sp0123456789abcdef01234567-sl"
    await exchange.aclose()
    with pytest.raises(ValueError, match="not a ccxt exchange id"):
        CcxtExchange(VenueCredentials("nosuchvenue"))


# =========================================================================== bybit: exact requests
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
async def test_bybit_market_entry_exact_request_and_fill_check(bybit: BybitVenue, side: Side) -> None:
    await warm(bybit)
    bybit.fills_at(D("2000.5"))
    order = await bybit.exchange.place_order(entry(bybit, side))
    create, check = bybit.requests
    assert (create.method, create.host, create.path) == ("POST", "api.bybit.com", "/v5/order/create")
    assert create.body == {"category": "linear", "symbol": "ETHUSDT", "side": side.value.capitalize(),
                           "orderType": "Market", "qty": "0.05", "orderLinkId": "sp0000-e"}
    assert create.raw_body is not None and bybit_signed_ok(create, create.raw_body)
    # the create reply carries ids only: the fill is read back once
    assert (check.method, check.path, check.query["orderId"]) == ("GET", "/v5/order/realtime", order.id)
    assert (order.status, order.average_price, order.filled_quantity) == (OrderStatus.FILLED, D("2000.5"), D("0.05"))


@pytest.mark.parametrize(("side", "kind", "direction"), [
    (Side.BUY, OrderKind.STOP, 2), (Side.BUY, OrderKind.TAKE_PROFIT, 1),
    (Side.SELL, OrderKind.STOP, 1), (Side.SELL, OrderKind.TAKE_PROFIT, 2),
])
async def test_bybit_protection_is_a_reduce_only_conditional_order(
    bybit: BybitVenue, side: Side, kind: OrderKind, direction: int
) -> None:
    await warm(bybit)
    order = await bybit.exchange.place_order(protect(bybit, side, kind, D("1950.005"), "sp0000-p"))
    [create] = bybit.requests
    assert create.body == {"category": "linear", "symbol": "ETHUSDT", "side": side.opposite.value.capitalize(),
                           "orderType": "Market", "qty": "0.05", "orderLinkId": "sp0000-p",
                           "triggerPrice": "1950.01", "triggerDirection": direction, "reduceOnly": True}
    assert (order.kind, order.trigger_price, order.status) == (kind, D("1950.01"), OrderStatus.OPEN)


async def test_bybit_attached_bracket_in_one_order(bybit: BybitVenue) -> None:
    await warm(bybit)
    bybit.fills_at(bybit.price)
    order = await bybit.exchange.place_order(entry(bybit, Side.BUY, bracket=Bracket(D("1900.004"), D("2100"))))
    create = bybit.requests[0]
    assert create.body == {"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market",
                           "qty": "0.05", "orderLinkId": "sp0000-e", "stopLoss": "1900", "takeProfit": "2100"}
    assert bybit.order_requests() == 1
    assert order.status is OrderStatus.FILLED and order.kind is OrderKind.MARKET
    stop, target = (bybit.find(order_id=i) for i in (order.stop_loss_order_id, order.take_profit_order_id))
    assert stop and target and (stop.kind, stop.trigger) == (OrderKind.STOP, D("1900"))
    assert (target.kind, target.trigger, target.side) == (OrderKind.TAKE_PROFIT, D("2100"), Side.SELL)
    # create, read the fill back, find the attached orders' ids
    assert since(bybit, 0) == [("POST", "/v5/order/create"), ("GET", "/v5/order/realtime"),
                               ("GET", "/v5/order/realtime")]
    found = await bybit.exchange.get_order(bybit.symbol, order_id=order.stop_loss_order_id)
    assert found is not None and (found.kind, found.trigger_price) == (OrderKind.STOP, D("1900"))


async def test_bybit_open_with_separate_protection_round_trips(bybit: BybitVenue) -> None:
    await warm(bybit)
    bybit.fills_at(bybit.price)
    await bybit.exchange.place_order(entry(bybit, Side.BUY))
    await bybit.exchange.place_order(protect(bybit, Side.BUY, OrderKind.STOP, D("1950"), "sp0000-sl"))
    await bybit.exchange.place_order(protect(bybit, Side.BUY, OrderKind.TAKE_PROFIT, D("2100"), "sp0000-tp"))
    assert bybit.round_trips() == 4 and bybit.order_requests() == 3


async def test_bybit_reversal_round_trips(bybit: BybitVenue) -> None:
    await warm(bybit)
    bybit.holding(Side.BUY, bybit.quantity, bybit.price)
    bybit.fills_at(bybit.price)
    await reverse(bybit)
    assert since(bybit, 0) == [
        ("GET", "/v5/position/list"), ("POST", "/v5/order/create"), ("GET", "/v5/order/realtime"),
        ("GET", "/v5/position/list"), ("POST", "/v5/order/create"), ("GET", "/v5/order/realtime"),
        ("POST", "/v5/order/create"), ("POST", "/v5/order/create")]
    assert bybit.round_trips() == 8
    assert [s.reduce_only for s in bybit.sent()] == [True, False, True, True]


async def test_bybit_timeout_is_resolved_by_listing_orders(bybit: BybitVenue) -> None:
    await warm(bybit)
    bybit.next_order_outcome_unknown(D("1999"))
    order = await send_order(bybit.exchange, entry(bybit, Side.SELL, "sp0002-e"))
    assert (order.status, order.average_price, order.side) == (OrderStatus.FILLED, D("1999"), Side.SELL)
    assert since(bybit, 0) == [("POST", "/v5/order/create"), ("GET", "/v5/order/realtime"),
                               ("GET", "/v5/order/history")]
    assert bybit.requests[1].query == {"category": "linear", "symbol": "ETHUSDT"}
    assert bybit.order_requests() == 1


async def test_bybit_entry_whose_reply_was_lost_keeps_the_exits_attached_to_it(bybit: BybitVenue, tmp_path) -> None:
    """The entry (with SL/TP attached) reached Bybit, its reply did not: the executor finds the
    filled entry by client id, and with it the stop and target Bybit attached, so it places no
    second stop or target beside them."""
    store = SqliteStore(tmp_path / "sparky.sqlite", synchronous="NORMAL")
    await store.open()
    registry = ExchangeRegistry()
    registry.add(bybit.exchange)
    executor = TradeExecutor(store, local_accounts(registry, tmp_path), make_settings(tmp_path), LegacyConfig())
    await warm(bybit)
    bybit.next_order_outcome_unknown(D("2000"))
    signal = Signal(action="buy", symbol="ETHUSDT", exchange="bybit", price=D("2000"), quantity=D("0.05"),
                    stop_loss_percent=D(2), take_profit_percent=D(4))
    job = Job("77777777-7777-4777-8777-777777777777", LOCAL_USER_ID, signal)
    outcome = await execute(executor, job)
    await store.aclose()

    assert outcome.body["action"] == "opened", outcome.body
    assert [s.kind for s in bybit.sent()] == [OrderKind.MARKET]  # the entry only: no second stop or target
    [entry_sent] = bybit.order_posts()
    assert entry_sent.body == {"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market",
                               "qty": "0.05", "orderLinkId": job.cid("e"), "stopLoss": "1960",
                               "takeProfit": "2080"}
    attached = {r.kind: r for r in bybit.orders.values() if r.extra.get("stopOrderType")}
    assert {k: (r.trigger, r.status) for k, r in attached.items()} == {
        OrderKind.STOP: (D("1960"), "open"), OrderKind.TAKE_PROFIT: (D("2080"), "open")}
    position = outcome.body["position"]
    assert (position["stopLossOrderId"], position["takeProfitOrderId"]) == (
        attached[OrderKind.STOP].id, attached[OrderKind.TAKE_PROFIT].id)


async def test_bybit_attached_bracket_is_priced_from_the_market_not_a_stale_alert_price(
        bybit: BybitVenue, tmp_path) -> None:
    """The alert says 2000 but ETH trades at 2100: priced from the alert, the take-profit (2080)
    would be under the fill, which Bybit refuses for a long, and the stop 6.7 % away instead of 2 %.
    The bracket is priced from a ticker read just before the entry."""
    store = SqliteStore(tmp_path / "sparky.sqlite", synchronous="NORMAL")
    await store.open()
    registry = ExchangeRegistry()
    registry.add(bybit.exchange)
    executor = TradeExecutor(store, local_accounts(registry, tmp_path), make_settings(tmp_path), LegacyConfig())
    await warm(bybit)
    bybit.market(D("2100"))
    bybit.fills_at(D("2100"))
    signal = Signal(action="buy", symbol="ETHUSDT", exchange="bybit", price=D("2000"), quantity=D("0.05"),
                    stop_loss_percent=D(2), take_profit_percent=D(4))
    job = Job("88888888-8888-4888-8888-888888888888", LOCAL_USER_ID, signal)
    outcome = await execute(executor, job)
    await store.aclose()

    assert outcome.body["action"] == "opened", outcome.body
    [entry_sent] = bybit.order_posts()
    assert entry_sent.body == {"category": "linear", "symbol": "ETHUSDT", "side": "Buy", "orderType": "Market",
                               "qty": "0.05", "orderLinkId": job.cid("e"), "stopLoss": "2058",
                               "takeProfit": "2184"}
    # the position and the resting orders (read together), then the quote just before the entry
    assert sorted(since(bybit, 0)[:2]) == [("GET", "/v5/order/realtime"), ("GET", "/v5/position/list")]
    assert since(bybit, 0)[2:4] == [("GET", "/v5/market/tickers"), ("POST", "/v5/order/create")]
    position = outcome.body["position"]
    assert (position["entryPrice"], position["stopLossPrice"], position["takeProfitPrice"]) == (2100, 2058, 2184)


async def test_bybit_loads_markets_once(bybit: BybitVenue) -> None:
    await bybit.exchange.symbol_rules("ETHUSDT")
    first = len(bybit.requests)
    # only linear listings (and PreLaunch ones) are loaded: not spot, inverse or option chains
    assert [(r.path, r.query.get("category"), r.query.get("status")) for r in bybit.requests] == [
        ("/v5/asset/coin/query-info", None, None), ("/v5/market/instruments-info", "linear", None),
        ("/v5/market/instruments-info", "linear", "PreLaunch")]
    btc = SymbolRules("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D("5"))
    assert await bybit.exchange.symbol_rules("BTCUSDT") == btc
    assert len(bybit.requests) == first
    # a USDC alert maps to the USDC perpetual (ETHPERP); a missing one falls back to the USDT listing
    assert bybit.exchange._markets.get("ETHUSDC") is None
    await bybit.exchange.symbol_rules("ETHUSDC")
    assert bybit.exchange._markets["ETHUSDC"].ccxt_symbol == "ETH/USDC:USDC"
    await bybit.exchange.symbol_rules("BTCUSDC")
    assert bybit.exchange._markets["BTCUSDC"].ccxt_symbol == "BTC/USDT:USDT"


async def test_bybit_spot_maps_to_the_spot_market() -> None:
    venue = BybitVenue(extra={"market_type": "spot"})
    rules = await venue.exchange.symbol_rules("ETHUSDT")
    assert venue.exchange._markets["ETHUSDT"].ccxt_symbol == "ETH/USDT"
    assert rules.tick_size == D("0.01") and rules.step_size == D("0.00001")
    await venue.exchange.aclose()



async def test_ping_reports_reachability(binance: BinanceVenue) -> None:
    assert await binance.exchange.ping() is True
    assert since(binance, 0) == [("GET", "/fapi/v1/time")]
    binance.fail_all = binance.error("ServiceUnavailable")
    assert await binance.exchange.ping() is False


async def test_open_orders_of_every_symbol(binance: BinanceVenue) -> None:
    await warm(binance)
    await binance.exchange.place_order(protect(binance, Side.BUY, OrderKind.STOP, D("1950"), "sp0000-sl"))
    [order] = await binance.exchange.open_orders()
    assert (order.symbol, order.kind, order.client_order_id) == ("ETHUSDT", OrderKind.STOP, "sp0000-sl")
    assert [r.query.get("symbol") for r in binance.requests[-2:]] == [None, None]


@pytest.mark.parametrize(("vendor", "on_order", "elsewhere"), [
    (ccxt_async.AuthenticationError, AuthenticationError, AuthenticationError),
    (ccxt_async.PermissionDenied, AuthenticationError, AuthenticationError),
    (ccxt_async.AccountSuspended, AuthenticationError, AuthenticationError),
    (ccxt_async.InsufficientFunds, InsufficientFunds, InsufficientFunds),
    (ccxt_async.BadSymbol, UnknownSymbol, UnknownSymbol),
    (ccxt_async.OrderNotFound, OrderNotFound, OrderNotFound),
    (ccxt_async.InvalidOrder, InvalidOrder, InvalidOrder),
    (ccxt_async.BadRequest, InvalidOrder, InvalidOrder),
    (ccxt_async.ArgumentsRequired, InvalidOrder, InvalidOrder),
    (ccxt_async.NotSupported, NotSupported, NotSupported),
    (ccxt_async.DDoSProtection, RateLimited, RateLimited),
    (ccxt_async.RateLimitExceeded, RateLimited, RateLimited),
    (ccxt_async.OnMaintenance, ExchangeUnavailable, ExchangeUnavailable),
    (ccxt_async.RequestTimeout, OutcomeUnknown, ExchangeUnavailable),
    (ccxt_async.ExchangeNotAvailable, OutcomeUnknown, ExchangeUnavailable),
    (ccxt_async.BadResponse, OutcomeUnknown, ExchangeUnavailable),
    (ValueError, OutcomeUnknown, ExchangeError),  # a parsing bug after sending: the order may exist
])
def test_every_ccxt_error_class_has_a_translation(vendor: type[Exception], on_order: type, elsewhere: type) -> None:
    on_order_error = translate(vendor("boom"), exchange="x", places_order=True)
    other_error = translate(vendor("boom"), exchange="x")
    assert type(on_order_error) is on_order and type(other_error) is elsewhere
    assert isinstance(other_error, ExchangeError) and other_error.exchange == "x"


async def test_secrets_never_reach_the_logs(binance: BinanceVenue, monkeypatch: pytest.MonkeyPatch) -> None:
    logs: list[tuple[str, dict[str, Any]]] = []

    class Recorder:  # structlog loggers may be cached by an earlier configure(): record directly
        def __getattr__(self, level: str) -> Any:
            return lambda event, **fields: logs.append((event, fields))

    monkeypatch.setattr(ccxt_venue, "log", Recorder())
    binance.fills_at(binance.price)
    await binance.exchange.place_order(entry(binance, Side.BUY))
    assert [event for event, _ in logs] == ["ccxt.order.sent", "ccxt.order.placed"]
    assert SECRET not in repr(logs) and KEY not in repr(logs)


async def test_spot_positions_come_from_the_base_balance() -> None:
    venue = BybitVenue(extra={"market_type": "spot"})
    assert await venue.exchange.position("ETHUSDT") is None  # the wallet holds USDT only
    assert await venue.exchange.positions() == []
    await venue.exchange.aclose()


@pytest.mark.parametrize(("symbol", "parts"), [
    ("ETHUSDT", ("ETH", "USDT")), ("ETHUSDC", ("ETH", "USDC")), ("BTCFDUSD", ("BTC", "FDUSD")),
    ("ETHBUSD", ("ETH", "BUSD")), ("BTCUSD", ("BTC", "USD")), ("ETH/USDT", ("ETH", "USDT")),
    ("ETH/USDT:USDT", ("ETH", "USDT")), ("USDT", None), ("ETHEUR", None),
])
def test_alert_symbols_split_into_base_and_quote(symbol: str, parts: tuple[str, str] | None) -> None:
    assert split_symbol(symbol) == parts


def test_precision_modes() -> None:
    raw = {"symbol": "X/USDT:USDT", "contract": True, "contractSize": 1.0,
           "precision": {"price": 2, "amount": 3}, "limits": {"amount": {"min": None}, "cost": {"min": 5.0}}}
    market = venue_market(raw, "XUSDT", DECIMAL_PLACES)  # precision stated in decimals: tick = 10^-p
    assert market.rules == SymbolRules("XUSDT", D("0.01"), D("0.001"), D("0.001"), D(5))
    with pytest.raises(NotSupported):
        venue_market(raw, "XUSDT", SIGNIFICANT_DIGITS)


async def test_a_market_order_never_seen_filled_is_an_unknown_outcome(bybit: BybitVenue) -> None:
    await warm(bybit)  # no fills_at: the order rests
    with pytest.raises(OutcomeUnknown):
        await bybit.exchange.place_order(entry(bybit, Side.BUY))
    assert since(bybit, 0) == [("POST", "/v5/order/create")] + [("GET", "/v5/order/realtime")] * 3
    assert bybit.order_requests() == 1


def test_per_order_memos_are_bounded() -> None:
    memo = Recent(limit=3)
    for key in "abcd":
        memo.remember(key)
    memo.remember("b")  # refreshed: now the newest
    memo.remember("e")
    assert list(memo) == ["d", "b", "e"]


async def test_ccxt_formatting_leaves_our_decimal_context_alone(bybit) -> None:
    """ccxt's *_to_precision rewrites the current Decimal context; ours must not change."""
    import decimal

    before = decimal.getcontext().copy()
    try:
        await bybit.exchange.symbol_rules(bybit.symbol)
        bybit.market(bybit.price)
        bybit.fills_at(bybit.price)
        await bybit.exchange.place_order(OrderRequest(bybit.symbol, Side.BUY, OrderKind.MARKET, bybit.quantity, "sp0000-e"))
    finally:
        after = decimal.getcontext()
        assert (after.rounding, after.prec, after.traps) == (before.rounding, before.prec, before.traps)


# =========================================================================== hyperliquid: the price of a market order
@pytest.fixture
async def hyperliquid() -> Any:
    venue = HyperliquidVenue()
    yield venue
    await venue.exchange.aclose()
    assert not venue.unexpected, venue.unexpected


async def test_hyperliquid_market_order_is_priced_from_the_market_now(hyperliquid: HyperliquidVenue) -> None:
    """A market order is a limit at ccxt's 5 % slippage around a price: around the alert's price,
    minutes old, it could not reach a market that moved (or would buy far above it)."""
    venue = hyperliquid
    await venue.exchange.symbol_rules(venue.symbol)
    await venue.exchange.note_price(venue.symbol, D("1800"))  # the alert's price
    venue.market(D("2100"))  # where ETH trades when the order goes out

    order = await venue.exchange.place_order(entry(venue, Side.BUY, "sp0000-e"))

    assert venue.sent_orders() == [{"a": 1, "b": True, "p": "2205", "s": "0.05", "r": False,
                                    "t": {"limit": {"tif": "Ioc"}},
                                    "c": wire_client_id("sp0000-e", quirks_for("hyperliquid"))}]
    assert (order.status, order.average_price, order.filled_quantity) == (OrderStatus.FILLED, D("2100"), D("0.05"))


async def test_hyperliquid_stop_is_priced_around_its_trigger(hyperliquid: HyperliquidVenue) -> None:
    venue = hyperliquid
    await venue.exchange.symbol_rules(venue.symbol)
    venue.market(D("2100"))
    await venue.exchange.last_price(venue.symbol)

    await venue.exchange.place_order(protect(venue, Side.BUY, OrderKind.STOP, D("1950"), "sp0000-sl"))

    # a sell at 5 % under the trigger still fills when the stop fires at 1950 (5 % under 2100 would not)
    assert venue.sent_orders() == [{"a": 1, "b": False, "p": "1852.5", "s": "0.05", "r": True,
                                    "t": {"trigger": {"isMarket": True, "triggerPx": "1950", "tpsl": "sl"}},
                                    "c": wire_client_id("sp0000-sl", quirks_for("hyperliquid"))}]


# =========================================================================== prices (background refresh)
async def test_prices_come_from_a_public_ticker_that_carries_no_key(any_venue: FakeVenue) -> None:
    venue = any_venue
    venue.market(D("2012.5"))
    quotes = await venue.exchange.prices(["ETHUSDT"])  # fetch_tickers: one request for any number
    assert set(quotes) == {"ETHUSDT"} and quotes["ETHUSDT"].last == D("2012.5")
    [ticker] = [r for r in venue.requests if "ticker" in r.path]
    assert "symbol" not in ticker.query  # every symbol's ticker in one reply
    assert "signature" not in ticker.query and KEY not in json.dumps(ticker.headers)  # signed by nobody


async def test_adapters_of_the_same_venue_share_a_price_scope_whatever_their_keys() -> None:
    alice, bob = BinanceVenue(), BinanceVenue(api_key="bob-key", api_secret="bob-secret")
    spot = BinanceVenue(extra={"market_type": "spot"})
    try:
        assert alice.exchange.price_scope == bob.exchange.price_scope
        assert alice.exchange.price_scope != spot.exchange.price_scope
    finally:
        for venue in (alice, bob, spot):
            await venue.exchange.aclose()
