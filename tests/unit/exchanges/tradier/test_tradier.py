"""Tradier equities: the shared adapter suite plus the exact requests Tradier receives.

The venue is a scripted Tradier account behind respx (`FakeTradier`). Its replies are built from
recorded shapes in tests/fixtures/tradier/, taken from the brokerage API documentation:
  quotes.json, quotes_unmatched.json      markets/get-quotes (a single quote is an object;
                                          unknown symbols under `unmatched_symbols`)
  positions_*.json                        accounts/get-account-positions ("null" when flat,
                                          an object for one position, negative quantity = short)
  balances_margin.json, balances_cash.json  accounts/get-account-balances (margin / cash accounts)
  order_ok.json                           trading/place-equity-order, place-oco, place-otoco reply
  order_equity.json, order_rejected.json  accounts/get-account-order (status, avg_fill_price,
                                          exec_quantity, reason_description, tag with includeTags)
  order_oco.json, order_otoco.json        accounts/get-account-order for multi-leg orders (`leg`)
  orders_null.json, orders_single.json    accounts/get-account-orders ("null" / one object)
  errors_*.json                           HTTP 200 (or 400) rejections `{"errors": {"error": …}}`;
                                          the codes are the back office's validators, the buying
                                          power reply is the raw one quoted in Lean's Tradier tests
  fault_invalid_token.json                401 reply of the API gateway
What the adapter SENT is read back from the captured HTTP requests (form bodies), never from the
adapter's own objects.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections import deque
from collections.abc import Callable, Iterator
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
import respx

from sparky.config import LegacyConfig
from sparky.exchanges.base import (
    Bracket,
    OrderKind,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    SymbolRules,
)
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    UnknownSymbol,
)
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.registry import ExchangeRegistry
from sparky.exchanges.tradier.adapter import LIVE_URL, SANDBOX_URL, TradierExchange, base_url_for, create
from sparky.execution.executor import Job, TradeExecutor
from sparky.execution.orders import cancel_quietly, send_order
from sparky.execution.protection import Protector
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.models import Signal
from sparky.store.sqlite.store import SqliteStore
from tests.conftest import make_settings
from tests.exchange_contract import ExchangeContract, SentOrder
from tests.support import execute, local_accounts

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "tradier"
ACCOUNT = "VA000001"
TOKEN = "tok-123"
ORDERS = f"/v1/accounts/{ACCOUNT}/orders"
CLOSING = {"sell", "buy_to_cover"}
LIVE = {"open", "pending", "partially_filled"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def num(value: D) -> float:
    """Tradier sends JSON numbers; short decimals survive float's shortest repr exactly."""
    return float(value)


class FakeTradier:
    """A Tradier account behind respx: quotes, positions, orders (with OCO/OTOCO legs), and what it got."""

    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router
        self.quotes: dict[str, dict[str, Any]] = {}
        self.held: dict[str, tuple[D, D]] = {}  # symbol → (signed quantity, signed cost basis)
        self.orders: dict[int, dict[str, Any]] = {}
        self.forms: list[dict[str, str]] = []
        self.fill_price: D | None = None
        #: a resting exit holds its shares: a close needing them is refused (LongPositionCrossZero)
        self.holds_shares_for_exits = False
        self.scripted: deque[Callable[[dict[str, str]], httpx.Response]] = deque()
        self.balances = fixture("balances_margin.json")
        #: recorded replies served as they are, instead of the account's state
        self.positions_body: Any = None
        self.orders_body: Any = None
        #: statuses the next quote reads answer with (5xx, 429…)
        self.read_failures: deque[int] = deque()
        #: a resting market order fills on this many-th read of it (None: at once, or never)
        self.fill_on_read: int | None = None
        #: statuses the next order reads answer with
        self.detail_failures: deque[int] = deque()
        #: order reads and cancels let other tasks run before they answer, as a network does
        self.network_turns = False
        self._reads: dict[int, int] = {}
        self._ids = itertools.count(257459)
        path = f"/v1/accounts/{ACCOUNT}"
        router.get(path="/v1/markets/quotes").mock(side_effect=self._quotes)
        router.get(path="/v1/markets/clock").mock(return_value=httpx.Response(200, json={"clock": {"state": "open"}}))
        router.get(path=f"{path}/positions").mock(side_effect=self._positions)
        router.get(path=f"{path}/balances").mock(side_effect=lambda request: httpx.Response(200, json=self.balances))
        router.post(path=ORDERS).mock(side_effect=self._post)
        router.get(path=ORDERS).mock(side_effect=self._list)
        router.get(path__regex=rf"^{ORDERS}/(?P<oid>\d+)$").mock(side_effect=self._over_network(self._detail))
        router.delete(path__regex=rf"^{ORDERS}/(?P<oid>\d+)$").mock(side_effect=self._over_network(self._cancel))

    # ------------------------------------------------------------ scripting
    def quote(self, symbol: str, last: D | None, bid: D | None = None, ask: D | None = None) -> None:
        quote = fixture("quotes.json")["quotes"]["quote"]
        quote.update(symbol=symbol, last=None if last is None else num(last),
                     bid=num(bid) if bid is not None else (num(last) if last else None),
                     ask=num(ask) if ask is not None else (num(last) if last else None))
        self.quotes[symbol] = quote

    def hold(self, symbol: str, quantity: D, entry: D) -> None:
        if quantity:
            self.held[symbol] = (quantity, quantity * entry)
        else:
            self.held.pop(symbol, None)

    def reply_next(self, status: int, body: Any = None, *, text: str | None = None) -> None:
        def reply(form: dict[str, str]) -> httpx.Response:
            if text is not None:
                return httpx.Response(status, text=text)
            return httpx.Response(status, json=body)
        self.scripted.append(reply)

    def requests(self) -> list[tuple[str, str]]:
        return [(call.request.method, call.request.url.path) for call in self.router.calls]

    # ------------------------------------------------------------ routes
    def _over_network(self, handler: Callable[..., httpx.Response]) -> Callable[..., Any]:
        async def answer(request: httpx.Request, oid: str) -> httpx.Response:
            if self.network_turns:
                await asyncio.sleep(0)  # one turn of the event loop: concurrent requests overlap
            return handler(request, oid)
        return answer

    def _quotes(self, request: httpx.Request) -> httpx.Response:
        if self.read_failures:
            return httpx.Response(self.read_failures.popleft(), text="Service Unavailable")
        symbols = request.url.params["symbols"].split(",")
        found = [self.quotes[s] for s in symbols if s in self.quotes]
        unmatched = [s for s in symbols if s not in self.quotes]
        body: dict[str, Any] = {}
        if found:
            body["quote"] = found[0] if len(found) == 1 else found
        if unmatched:
            body["unmatched_symbols"] = {"symbol": unmatched[0] if len(unmatched) == 1 else unmatched}
        return httpx.Response(200, json={"quotes": body})

    def _positions(self, request: httpx.Request) -> httpx.Response:
        if self.positions_body is not None:
            return httpx.Response(200, json=self.positions_body)
        if not self.held:
            return httpx.Response(200, json=fixture("positions_null.json"))
        template = fixture("positions_single.json")["positions"]["position"]
        rows = [{**template, "symbol": s, "quantity": num(q), "cost_basis": num(c), "id": 130089 + i}
                for i, (s, (q, c)) in enumerate(sorted(self.held.items()))]
        return httpx.Response(200, json={"positions": {"position": rows[0] if len(rows) == 1 else rows}})

    def _post(self, request: httpx.Request) -> httpx.Response:
        form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
        self.forms.append(form)
        if self.scripted:
            return self.scripted.popleft()(form)
        return self.accept(form)

    def accept(self, form: dict[str, str]) -> httpx.Response:
        order_id = next(self._ids)
        if form["class"] == "equity":
            refusal = self._refusal(form)
            if refusal is not None:
                return refusal
            raw = self._equity(order_id, form, "")
            if form["type"] == "market" and self.fill_price is not None and self.fill_on_read is None:
                self._fill(raw, self.fill_price)
        else:
            template = fixture(f"order_{'oco' if form['class'] == 'oco' else 'otoco'}.json")["order"]
            legs = sorted({int(k[k.index("[") + 1:-1]) for k in form if k.startswith("side[")})
            leg_rows = [self._equity(next(self._ids), form, f"[{i}]") for i in legs]
            raw = {**template, "id": order_id, "class": form["class"], "num_legs": len(legs), "leg": leg_rows,
                   "symbol": form["symbol[0]"], "side": form["side[0]"], "tag": form.get("tag")}
        self.orders[order_id] = raw
        return httpx.Response(200, json={"order": {**fixture("order_ok.json")["order"], "id": order_id}})

    def _refusal(self, form: dict[str, str]) -> httpx.Response | None:
        symbol, side = form["symbol"], form["side"]
        held = self.held.get(symbol, (D(0), D(0)))[0]
        if self.holds_shares_for_exits and side in CLOSING and any(
                leg["symbol"] == symbol and leg["side"] == side and leg["status"] in LIVE
                for raw in self.orders.values() for leg in raw.get("leg", [])):
            return httpx.Response(200, json=fixture("errors_crosses_zero.json"))
        if (side == "sell" and held <= 0) or (side == "buy_to_cover" and held >= 0):
            return httpx.Response(200, json={"errors": {"error": ["Backoffice rejected override of the order.",
                                                                  "UnexpectedSellOrder"]}})
        return None

    def _equity(self, order_id: int, form: dict[str, str], leg: str) -> dict[str, Any]:
        raw = copy.deepcopy(fixture("order_equity.json")["order"])
        raw.update(id=order_id, symbol=form[f"symbol{leg}"], side=form[f"side{leg}"],
                   quantity=num(D(form[f"quantity{leg}"])), type=form[f"type{leg}"], status="open",
                   duration=form.get(f"duration{leg}", form.get("duration")), avg_fill_price=0.0,
                   exec_quantity=0.0, last_fill_price=0.0, last_fill_quantity=0.0,
                   remaining_quantity=num(D(form[f"quantity{leg}"])), tag=form.get("tag") if not leg else None)
        if f"price{leg}" in form:
            raw["price"] = num(D(form[f"price{leg}"]))
        if f"stop{leg}" in form:
            raw["stop_price"] = num(D(form[f"stop{leg}"]))
        if leg:
            raw.pop("tag")
        return raw

    def _fill(self, raw: dict[str, Any], price: D, quantity: D | None = None) -> None:
        quantity = D(str(raw["quantity"])) if quantity is None else quantity
        raw.update(status="filled", avg_fill_price=num(price), exec_quantity=num(quantity),
                   last_fill_price=num(price), last_fill_quantity=num(quantity), remaining_quantity=0.0)
        delta = quantity if raw["side"] in ("buy", "buy_to_cover") else -quantity
        held = self.held.get(raw["symbol"], (D(0), D(0)))[0] + delta
        self.hold(raw["symbol"], held, price)

    def fill_leg(self, parent: int, leg_type: str, price: D) -> None:
        """The venue fills one exit leg of an OCO; it cancels the other."""
        for leg in self.orders[parent]["leg"]:
            if leg["type"] == leg_type:
                self._fill(leg, price)
            elif leg["status"] in LIVE:
                leg["status"] = "canceled"

    def _list(self, request: httpx.Request) -> httpx.Response:
        if self.orders_body is not None:
            return httpx.Response(200, json=self.orders_body)
        rows = copy.deepcopy(list(self.orders.values()))
        if request.url.params.get("includeTags") != "true":
            for row in rows:
                row.pop("tag", None)  # Tradier only includes tags when asked
        if not rows:
            return httpx.Response(200, json=fixture("orders_null.json"))
        return httpx.Response(200, json={"orders": {"order": rows[0] if len(rows) == 1 else rows}})

    def _detail(self, request: httpx.Request, oid: str) -> httpx.Response:
        if self.detail_failures:
            return httpx.Response(self.detail_failures.popleft(), text="Bad Gateway")
        raw = self.orders.get(int(oid))
        if raw is None:
            return httpx.Response(404, text="Not Found")
        reads = self._reads[int(oid)] = self._reads.get(int(oid), 0) + 1
        if reads == self.fill_on_read and raw.get("type") == "market" and raw["status"] in LIVE:
            self._fill(raw, self.fill_price or D(1))
        row = copy.deepcopy(raw)
        if request.url.params.get("includeTags") != "true":
            row.pop("tag", None)
        return httpx.Response(200, json={"order": row})

    def _cancel(self, request: httpx.Request, oid: str) -> httpx.Response:
        raw = self.orders.get(int(oid))
        if raw is None:
            return httpx.Response(404, text="Not Found")
        if raw["status"] not in LIVE and all(leg["status"] not in LIVE for leg in raw.get("leg", [])):
            return httpx.Response(400, json=fixture("errors_finalized.json"))
        for row in [raw, *raw.get("leg", [])]:
            if row["status"] in LIVE:
                row["status"] = "canceled"
        return httpx.Response(200, json={"order": {"id": int(oid), "status": "ok"}})


def sent_orders(form: dict[str, str]) -> list[SentOrder]:
    """One posted form as the orders it holds, in our vocabulary."""
    def leg(suffix: str, client_id: str | None) -> SentOrder:
        word, kind = form[f"side{suffix}"], form[f"type{suffix}"]
        closing = word in CLOSING
        ours = {"market": OrderKind.MARKET, "stop": OrderKind.STOP}.get(
            kind, OrderKind.TAKE_PROFIT if closing else OrderKind.LIMIT)
        price, stop = form.get(f"price{suffix}"), form.get(f"stop{suffix}")
        return SentOrder(Side.BUY if word in ("buy", "buy_to_cover") else Side.SELL, ours,
                         D(form[f"quantity{suffix}"]), client_id, D(price) if price else None,
                         D(stop) if stop else None, closing)

    if form["class"] == "equity":
        return [leg("", form.get("tag"))]
    ids = form["tag"].split("--")
    legs = sorted({int(k[k.index("[") + 1:-1]) for k in form if k.startswith("side[")})
    if form["class"] == "oco":  # leg 0 the take-profit, leg 1 the stop-loss
        return [leg(f"[{i}]", ids[-1] if form[f"type[{i}]"] == "limit" else ids[0]) for i in legs]
    return [leg(f"[{i}]", form["tag"]) for i in legs]


class TradierHarness:
    symbol = "AAPL"
    rules = SymbolRules("AAPL", D("0.01"), D(1), D(1), D(0))
    price = D("150.25")
    quantity = D(10)

    def __init__(self, fake: FakeTradier, exchange: TradierExchange) -> None:
        self.fake = fake
        self.exchange = exchange

    def market(self, price: D) -> None:
        self.fake.quote(self.symbol, price)

    def holding(self, side: Side | None, quantity: D = D(0), entry: D = D(0)) -> None:
        self.fake.hold(self.symbol, D(0) if side is None else quantity if side is Side.BUY else -quantity, entry)

    def fills_at(self, price: D) -> None:
        self.fake.fill_price = price

    def rejects_next_order(self, error: type[ExchangeError]) -> None:
        if error is InsufficientFunds:
            self.fake.reply_next(200, fixture("errors_buying_power.json"))
        elif error is InvalidOrder:
            self.fake.reply_next(400, fixture("errors_invalid.json"))
        elif error is AuthenticationError:
            self.fake.reply_next(401, fixture("fault_invalid_token.json"))
        elif error is RateLimited:
            self.fake.reply_next(429, text="Rate limit exceeded")
        else:  # pragma: no cover - the suite only asks for the four above
            raise NotImplementedError(error)

    def next_order_outcome_unknown(self, fill_price: D) -> None:
        self.fake.fill_price = fill_price

        def taken_then_timeout(form: dict[str, str]) -> httpx.Response:
            self.fake.accept(form)
            raise httpx.ReadTimeout("no answer")

        self.fake.scripted.append(taken_then_timeout)

    def sent(self) -> list[SentOrder]:
        return [order for form in self.fake.forms for order in sent_orders(form)]

    def order_requests(self) -> int:
        return len(self.fake.forms)

    def round_trips(self) -> int:
        return len(self.fake.router.calls)


async def _no_sleep(_: float) -> None:
    return None


def make_exchange(pool: HttpClientPool, **overrides: Any) -> TradierExchange:
    credentials = VenueCredentials("tradier", environment="sandbox", access_token=TOKEN, account_id=ACCOUNT)
    options: dict[str, Any] = {"sleep": _no_sleep, "retry_backoff": 0, "fill_check_delay": 0}
    options.update(overrides)
    return TradierExchange(credentials, pool, **options)


@pytest.fixture
async def pool() -> Any:
    pool = HttpClientPool()
    yield pool
    await pool.aclose()


@pytest.fixture
def router() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as mock:
        yield mock


@pytest.fixture
def venue(router: respx.MockRouter, pool: HttpClientPool) -> TradierHarness:
    harness = TradierHarness(FakeTradier(router), make_exchange(pool))
    harness.market(harness.price)
    return harness


class TestTradierContract(ExchangeContract):
    @pytest.fixture
    def venue(self, venue: TradierHarness) -> TradierHarness:
        return venue


# ================================================================== venue-specific behaviour
def entry(side: Side, cid: str = "sp0000-e", quantity: D = D(10), **fields: Any) -> OrderRequest:
    return OrderRequest("AAPL", side, OrderKind.MARKET, quantity, cid, **fields)


def exits(position: Side, stop: D, target: D, quantity: D = D(10)) -> tuple[OrderRequest, OrderRequest]:
    side = position.opposite
    return (OrderRequest("AAPL", side, OrderKind.STOP, quantity, "sp0000-sl", trigger_price=stop, reduce_only=True),
            OrderRequest("AAPL", side, OrderKind.TAKE_PROFIT, quantity, "sp0000-tp", trigger_price=target,
                         reduce_only=True))


def posted(router: respx.MockRouter) -> list[httpx.Request]:
    return [c.request for c in router.calls if c.request.method == "POST"]


# ------------------------------------------------------------------ construction
@pytest.mark.parametrize(("environment", "url"), [
    ("live", LIVE_URL), ("production", LIVE_URL), ("LIVE", LIVE_URL),
    ("sandbox", SANDBOX_URL), ("practice", SANDBOX_URL), ("", SANDBOX_URL),
])
def test_environment_chooses_the_host(environment: str, url: str) -> None:
    assert base_url_for(VenueCredentials("tradier", environment=environment)) == url


def test_base_url_overrides_the_environment() -> None:
    credentials = VenueCredentials("tradier", environment="live", base_url="http://127.0.0.1:9/v1/")
    assert base_url_for(credentials) == "http://127.0.0.1:9/v1"


async def test_every_request_sends_the_token_and_asks_for_json(venue: TradierHarness) -> None:
    venue.fills_at(venue.price)
    await venue.exchange.last_price("AAPL")
    await venue.exchange.positions()
    await venue.exchange.place_order(entry(Side.BUY))
    calls = venue.fake.router.calls
    assert len(calls) == 4
    for call in calls:
        assert call.request.url.host == "sandbox.tradier.com" and call.request.url.path.startswith("/v1/")
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["Accept"] == "application/json"
    assert posted(venue.fake.router)[0].headers["Content-Type"] == "application/x-www-form-urlencoded"


async def test_live_credentials_reach_the_live_host(router: respx.MockRouter, pool: HttpClientPool) -> None:
    fake = FakeTradier(router)
    fake.quote("AAPL", D("150.25"))
    credentials = VenueCredentials("tradier", environment="production", access_token=TOKEN, account_id=ACCOUNT)
    await TradierExchange(credentials, pool).last_price("AAPL")
    assert router.calls.last.request.url.host == "api.tradier.com"


@pytest.mark.parametrize("fields", [{"account_id": ACCOUNT}, {"access_token": TOKEN},
                                    {"access_token": TOKEN, "account_id": "VA/../x"}])
def test_missing_token_or_account_is_refused(pool: HttpClientPool, fields: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError):
        TradierExchange(VenueCredentials("tradier", **fields), pool)


def test_create_declares_honest_capabilities(pool: HttpClientPool) -> None:
    exchange = create(VenueCredentials("tradier", access_token=TOKEN, account_id=ACCOUNT), pool)
    assert isinstance(exchange, TradierExchange) and exchange.name == "tradier"
    caps = exchange.capabilities
    assert (caps.oco, caps.limit_brackets, caps.reduce_only, caps.limit_orders) == (True, True, True, True)
    # no market leg in an OTOCO: market entries are protected after the fill, priced from it
    assert caps.attached_brackets is False
    assert (caps.hedge_mode, caps.options, caps.batch_orders, caps.trailing_stop, caps.simulated) == (False,) * 5


# ------------------------------------------------------------------ entries and closes
async def test_open_long_is_a_market_buy_for_the_day_then_one_read_of_its_fill(venue: TradierHarness) -> None:
    venue.fills_at(D("150.31"))
    order = await venue.exchange.place_order(entry(Side.BUY))
    assert venue.fake.forms == [{"class": "equity", "symbol": "AAPL", "side": "buy", "quantity": "10",
                                 "type": "market", "duration": "day", "tag": "sp0000-e"}]
    assert venue.fake.requests() == [("POST", ORDERS), ("GET", f"{ORDERS}/257459")]
    assert venue.fake.router.calls.last.request.url.params["includeTags"] == "true"
    assert (order.id, order.client_order_id, order.side, order.kind) == ("257459", "sp0000-e", Side.BUY,
                                                                         OrderKind.MARKET)
    assert (order.status, order.average_price, order.filled_quantity, order.reduce_only) == (
        OrderStatus.FILLED, D("150.31"), D(10), False)


async def test_open_short_is_a_sell_short(venue: TradierHarness) -> None:
    venue.fills_at(venue.price)
    order = await venue.exchange.place_order(entry(Side.SELL))
    assert venue.fake.forms[0]["side"] == "sell_short" and order.side is Side.SELL
    assert venue.fake.held["AAPL"][0] == D(-10)


@pytest.mark.parametrize(("held", "word"), [(Side.BUY, "sell"), (Side.SELL, "buy_to_cover")])
async def test_close_uses_the_closing_side(venue: TradierHarness, held: Side, word: str) -> None:
    venue.holding(held, D(10), venue.price)
    venue.fills_at(D("151"))
    order = await venue.exchange.place_order(entry(held.opposite, "sp0000-x", reduce_only=True))
    assert venue.fake.forms == [{"class": "equity", "symbol": "AAPL", "side": word, "quantity": "10",
                                 "type": "market", "duration": "day", "tag": "sp0000-x"}]
    assert order.status is OrderStatus.FILLED and order.reduce_only and "AAPL" not in venue.fake.held


async def test_a_close_with_nothing_to_close_is_refused_never_turned_into_a_short(venue: TradierHarness) -> None:
    venue.fills_at(venue.price)
    with pytest.raises(InvalidOrder, match="UnexpectedSellOrder"):
        await venue.exchange.place_order(entry(Side.SELL, "sp0000-x", reduce_only=True))
    assert [f["side"] for f in venue.fake.forms] == ["sell"] and "AAPL" not in venue.fake.held


async def test_a_market_order_filling_on_a_later_read_is_waited_for(venue: TradierHarness) -> None:
    venue.fills_at(venue.price)
    venue.fake.fill_on_read = 3
    order = await venue.exchange.place_order(entry(Side.BUY))
    assert order.status is OrderStatus.FILLED
    assert venue.fake.requests() == [("POST", ORDERS)] + [("GET", f"{ORDERS}/257459")] * 3


async def test_a_market_order_that_never_fills_is_cancelled_and_refused(venue: TradierHarness) -> None:
    # the market is closed: Tradier queues the day order for the open; we must not leave it there
    with pytest.raises(InvalidOrder, match="did not fill"):
        await venue.exchange.place_order(entry(Side.BUY))
    detail = f"{ORDERS}/257459"
    assert venue.fake.requests() == [("POST", ORDERS)] + [("GET", detail)] * 6 + [("DELETE", detail), ("GET", detail)]
    assert venue.fake.orders[257459]["status"] == "canceled"


async def test_a_partly_filled_market_order_reports_what_filled(venue: TradierHarness) -> None:
    def partly(form: dict[str, str]) -> httpx.Response:
        reply = venue.fake.accept(form)
        raw = venue.fake.orders[257459]
        venue.fake._fill(raw, D("150.30"), D(4))
        raw["status"] = "partially_filled"
        return reply

    venue.fake.scripted.append(partly)
    order = await venue.exchange.place_order(entry(Side.BUY))
    assert (order.status, order.filled_quantity, order.average_price) == (OrderStatus.FILLED, D(4), D("150.30"))
    assert ("DELETE", f"{ORDERS}/257459") in venue.fake.requests()


# ------------------------------------------------------------------ protection: one OCO
async def test_exit_pair_of_a_long_is_one_oco_order(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    assert venue.fake.forms == [{
        "class": "oco", "duration": "gtc",
        "symbol[0]": "AAPL", "side[0]": "sell", "quantity[0]": "10", "type[0]": "limit", "price[0]": "155.50",
        "symbol[1]": "AAPL", "side[1]": "sell", "quantity[1]": "10", "type[1]": "stop", "stop[1]": "145.00",
        "tag": "sp0000-sl--sp0000-tp",
    }]
    assert venue.fake.requests() == [("POST", ORDERS), ("GET", f"{ORDERS}/257459")]
    assert target is not None
    assert (stop.id, stop.client_order_id, stop.kind, stop.side, stop.trigger_price, stop.reduce_only) == (
        "257459:sl", "sp0000-sl", OrderKind.STOP, Side.SELL, D("145.00"), True)
    assert (target.id, target.client_order_id, target.kind, target.side, target.trigger_price) == (
        "257459:tp", "sp0000-tp", OrderKind.TAKE_PROFIT, Side.SELL, D("155.50"))
    assert (stop.linked_order_id, target.linked_order_id) == (target.id, stop.id)
    assert stop.status is target.status is OrderStatus.OPEN


async def test_exit_pair_of_a_short_buys_to_cover_above_and_below(venue: TradierHarness) -> None:
    venue.holding(Side.SELL, D(10), venue.price)
    await venue.exchange.place_exit_pair(*exits(Side.SELL, D("155.00"), D("140.10")))
    form = venue.fake.forms[0]
    assert (form["side[0]"], form["type[0]"], form["price[0]"]) == ("buy_to_cover", "limit", "140.10")
    assert (form["side[1]"], form["type[1]"], form["stop[1]"]) == ("buy_to_cover", "stop", "155.00")


async def test_exit_prices_are_put_on_the_tick(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)
    await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.004"), D("155.501")))
    form = venue.fake.forms[0]
    assert (form["stop[1]"], form["price[0]"]) == ("145.00", "155.51")  # a sell target rounds up
    await venue.exchange.place_exit_pair(*exits(Side.BUY, D("0.51234"), D("0.612301")))
    form = venue.fake.forms[1]
    assert (form["stop[1]"], form["price[0]"]) == ("0.5123", "0.6124")  # $0.0001 ticks below $1


async def test_exit_prices_on_the_wrong_sides_are_refused_before_sending(venue: TradierHarness) -> None:
    with pytest.raises(InvalidOrder, match="wrong sides"):
        await venue.exchange.place_exit_pair(*exits(Side.BUY, D("155.00"), D("145.00")))
    assert venue.fake.router.calls.call_count == 0


async def test_when_the_stop_fills_the_venue_cancels_the_target(venue: TradierHarness) -> None:
    """The original placed SL and TP as two orders: a filled stop left the target resting, which
    could later open a short. Here they are one OCO, and one fill cancels the other."""
    venue.holding(Side.BUY, D(10), venue.price)
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    venue.fake.fill_leg(257459, "stop", D("144.98"))
    filled = await venue.exchange.get_order("AAPL", order_id=stop.id)
    assert filled is not None and target is not None
    assert (filled.status, filled.average_price, filled.kind) == (OrderStatus.FILLED, D("144.98"), OrderKind.STOP)
    gone = await venue.exchange.get_order("AAPL", order_id=target.id)
    assert gone is not None and gone.status is OrderStatus.CANCELED
    assert await venue.exchange.open_orders("AAPL") == []
    assert len(venue.fake.forms) == 1 and "AAPL" not in venue.fake.held


async def test_a_refused_oco_falls_back_to_the_stop_alone(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)
    venue.fake.reply_next(200, {"errors": {"error": ["Backoffice rejected override of the order.",
                                                     "OcoPriceDifferenceIsLessThanDelta"]}})
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("150.30")))
    assert target is None and stop.kind is OrderKind.STOP and stop.status is OrderStatus.OPEN
    assert venue.fake.forms[1] == {"class": "equity", "symbol": "AAPL", "side": "sell", "quantity": "10",
                                   "type": "stop", "duration": "gtc", "stop": "145.00", "tag": "sp0000-sl"}


async def test_an_oco_rejected_after_it_was_taken_also_falls_back(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)

    def taken_then_rejected(form: dict[str, str]) -> httpx.Response:
        reply = venue.fake.accept(form)
        for row in [venue.fake.orders[257459], *venue.fake.orders[257459]["leg"]]:
            row.update(status="rejected", reason_description="OcoPriceDifferenceIsLessThanDelta")
        return reply

    venue.fake.scripted.append(taken_then_rejected)
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("150.30")))
    assert target is None and venue.fake.forms[1]["type"] == "stop"
    # the refused OCO carries the same client id: looking the stop up finds the live one
    found = await venue.exchange.get_order("AAPL", client_order_id="sp0000-sl")
    assert found is not None and found.id == stop.id and found.status is OrderStatus.OPEN


async def test_both_client_ids_of_an_oco_find_their_legs(venue: TradierHarness) -> None:
    """After a crash the protector looks both exits up by client id before sending them again."""
    venue.holding(Side.BUY, D(10), venue.price)
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    found_stop = await venue.exchange.get_order("AAPL", client_order_id="sp0000-sl")
    found_target = await venue.exchange.get_order("AAPL", client_order_id="sp0000-tp")
    assert target is not None and found_stop is not None and found_target is not None
    assert (found_stop.id, found_target.id) == (stop.id, target.id)
    protection = await Protector(3, backoff_seconds=0).protect(
        venue.exchange, symbol="AAPL", position_side=Side.BUY, quantity=D(10), stop_loss=D("145.00"),
        take_profit=D("155.50"), client_ids=("sp0000-sl", "sp0000-tp"), resume=True)
    assert protection.stop_loss is not None and protection.stop_loss.order_id == stop.id
    assert venue.order_requests() == 1


async def test_an_oco_that_cannot_be_read_back_is_reported_as_sent(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)
    venue.fake.detail_failures.extend([502, 502, 502])
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    assert target is not None and venue.order_requests() == 1
    assert (stop.id, stop.kind, stop.trigger_price, stop.status) == ("257459:sl", OrderKind.STOP, D("145.00"),
                                                                     OrderStatus.OPEN)
    assert (target.id, target.kind, target.trigger_price, target.linked_order_id) == (
        "257459:tp", OrderKind.TAKE_PROFIT, D("155.50"), stop.id)


async def test_open_orders_lists_oco_legs_for_adoption(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    listed = {o.id: o for o in await venue.exchange.open_orders("AAPL")}
    assert target is not None and set(listed) == {stop.id, target.id}
    assert listed[stop.id].kind is OrderKind.STOP and listed[target.id].kind is OrderKind.TAKE_PROFIT
    assert await venue.exchange.open_orders("MSFT") == []
    assert venue.fake.router.calls.last.request.url.params["includeTags"] == "true"


# ------------------------------------------------------------------ attached brackets
async def test_limit_entry_with_a_bracket_is_one_otoco_order(venue: TradierHarness) -> None:
    request = OrderRequest("AAPL", Side.BUY, OrderKind.LIMIT, D(10), "sp0000-e", price=D("149.009"),
                           bracket=Bracket(stop_loss=D("145.00"), take_profit=D("155.00")))
    order = await venue.exchange.place_order(request)
    assert venue.fake.forms == [{
        "class": "otoco",
        "symbol[0]": "AAPL", "quantity[0]": "10", "side[0]": "buy", "type[0]": "limit", "duration[0]": "day",
        "price[0]": "149.00",
        "symbol[1]": "AAPL", "quantity[1]": "10", "side[1]": "sell", "type[1]": "limit", "duration[1]": "gtc",
        "price[1]": "155.00",
        "symbol[2]": "AAPL", "quantity[2]": "10", "side[2]": "sell", "type[2]": "stop", "duration[2]": "gtc",
        "stop[2]": "145.00",
        "tag": "sp0000-e",
    }]
    assert (order.id, order.status, order.kind, order.price) == ("257459:entry", OrderStatus.OPEN,
                                                                 OrderKind.LIMIT, D("149.00"))
    assert order.stop_loss_order_id is None
    # the exits are not live while the entry rests
    assert [o.id for o in await venue.exchange.open_orders("AAPL")] == ["257459:entry"]

    venue.fake._fill(venue.fake.orders[257459]["leg"][0], D("149.00"))
    filled = await venue.exchange.get_order("AAPL", client_order_id="sp0000-e")
    assert filled is not None and filled.status is OrderStatus.FILLED
    assert (filled.stop_loss_order_id, filled.take_profit_order_id) == ("257459:sl", "257459:tp")
    stop = await venue.exchange.get_order("AAPL", order_id=filled.stop_loss_order_id)
    assert stop is not None and (stop.kind, stop.trigger_price, stop.status) == (OrderKind.STOP, D("145.00"),
                                                                                 OrderStatus.OPEN)
    assert {o.id for o in await venue.exchange.open_orders("AAPL")} == {"257459:sl", "257459:tp"}


async def test_short_limit_entry_with_a_stop_only_is_an_oto_order(venue: TradierHarness) -> None:
    request = OrderRequest("AAPL", Side.SELL, OrderKind.LIMIT, D(10), "sp0000-e", price=D("151.001"),
                           bracket=Bracket(stop_loss=D("155.00")))
    await venue.exchange.place_order(request)
    form = venue.fake.forms[0]
    assert form["class"] == "oto" and (form["side[0]"], form["price[0]"]) == ("sell_short", "151.01")
    assert (form["side[1]"], form["type[1]"], form["stop[1]"]) == ("buy_to_cover", "stop", "155.00")
    assert "symbol[2]" not in form


async def test_market_entry_with_a_bracket_sends_the_entry_then_one_oco(venue: TradierHarness) -> None:
    venue.fills_at(venue.price)
    order = await venue.exchange.place_order(entry(Side.BUY, bracket=Bracket(D("145.00"), D("155.00"))))
    assert [f["class"] for f in venue.fake.forms] == ["equity", "oco"]
    assert venue.fake.forms[1]["tag"] == "sp0000-e-sl--sp0000-e-tp"
    assert (order.status, order.stop_loss_order_id, order.take_profit_order_id) == (
        OrderStatus.FILLED, "257460:sl", "257460:tp")
    assert venue.round_trips() == 4  # POST entry, GET fill, POST OCO, GET OCO


async def test_a_failed_bracket_never_fails_the_filled_market_entry(venue: TradierHarness) -> None:
    venue.fills_at(venue.price)
    venue.fake.scripted.append(venue.fake.accept)
    venue.fake.reply_next(503, text="Service Unavailable")
    order = await venue.exchange.place_order(entry(Side.BUY, bracket=Bracket(D("145.00"), D("155.00"))))
    assert order.status is OrderStatus.FILLED and order.stop_loss_order_id is None  # the caller protects it


# ------------------------------------------------------------------ precision and refusals
@pytest.mark.parametrize("quantity", [D("0.5"), D("10.5"), D(0), D(-1), D("NaN")])
async def test_fractional_or_too_small_quantities_are_refused_before_sending(venue: TradierHarness,
                                                                             quantity: D) -> None:
    with pytest.raises(InvalidOrder):
        await venue.exchange.place_order(entry(Side.BUY, quantity=quantity))
    assert venue.fake.router.calls.call_count == 0


@pytest.mark.parametrize(("quantity", "text"), [(D("1E+1"), "10"), (D("10.000"), "10"), (D("1"), "1")])
async def test_quantities_are_plain_whole_numbers(venue: TradierHarness, quantity: D, text: str) -> None:
    venue.fills_at(venue.price)
    await venue.exchange.place_order(entry(Side.BUY, quantity=quantity))
    assert venue.fake.forms[0]["quantity"] == text


@pytest.mark.parametrize(("side", "price", "text"), [
    (Side.BUY, D("0.512345"), "0.5123"), (Side.SELL, D("0.512345"), "0.5124"),
    (Side.BUY, D("12.3456"), "12.34"), (Side.SELL, D("12.3456"), "12.35"), (Side.BUY, D("1E+2"), "100.00"),
    (Side.SELL, D("0.99995"), "1.00"),
])
async def test_limit_prices_use_the_price_dependent_tick(venue: TradierHarness, side: Side, price: D,
                                                         text: str) -> None:
    await venue.exchange.place_order(OrderRequest("AAPL", side, OrderKind.LIMIT, D(1), "sp0000-e", price=price))
    assert venue.fake.forms[0]["price"] == text and venue.fake.forms[0]["duration"] == "day"


@pytest.mark.parametrize("cid", ["sp_0000-e", "sp 0000", "", "x" * 256, "sp0000--e"])
async def test_client_ids_tradier_cannot_tag_are_refused(venue: TradierHarness, cid: str) -> None:
    with pytest.raises(InvalidOrder, match="tag"):
        await venue.exchange.place_order(entry(Side.BUY, cid))
    assert venue.fake.router.calls.call_count == 0


async def test_a_symbol_list_is_never_sent_as_one_symbol(venue: TradierHarness) -> None:
    with pytest.raises(InvalidOrder):
        await venue.exchange.last_price("AAPL,MSFT")
    assert venue.fake.router.calls.call_count == 0


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize(("status", "body", "error"), [
    (401, fixture("fault_invalid_token.json"), AuthenticationError),
    (403, None, AuthenticationError),
    (400, fixture("errors_invalid.json"), InvalidOrder),
    (429, None, RateLimited),
    (200, fixture("errors_buying_power.json"), InsufficientFunds),
    (200, fixture("errors_unknown_symbol.json"), UnknownSymbol),
    (200, {"errors": {"error": ["Backoffice rejected override of the order.", "OmsUnavailable"]}},
     ExchangeUnavailable),
])
async def test_order_errors_are_translated_without_resending(venue: TradierHarness, status: int, body: Any,
                                                             error: type[ExchangeError]) -> None:
    if body is None:
        venue.fake.reply_next(status, text="Forbidden" if status == 403 else "Rate limit exceeded")
    else:
        venue.fake.reply_next(status, body)
    with pytest.raises(error):
        await venue.exchange.place_order(entry(Side.BUY))
    assert venue.fake.requests() == [("POST", ORDERS)]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_server_error_after_an_order_is_outcome_unknown(venue: TradierHarness, status: int) -> None:
    venue.fake.reply_next(status, text="Bad Gateway")
    with pytest.raises(OutcomeUnknown):
        await venue.exchange.place_order(entry(Side.BUY))
    assert venue.fake.requests() == [("POST", ORDERS)]


async def test_a_timeout_after_sending_is_outcome_unknown_and_a_refused_connection_is_not(
        venue: TradierHarness) -> None:
    def timeout(form: dict[str, str]) -> httpx.Response:
        raise httpx.ReadTimeout("no answer")

    def refused(form: dict[str, str]) -> httpx.Response:
        raise httpx.ConnectError("refused")

    venue.fake.scripted.extend([timeout, refused])
    with pytest.raises(OutcomeUnknown):
        await venue.exchange.place_order(entry(Side.BUY))
    with pytest.raises(ExchangeUnavailable):
        await venue.exchange.place_order(entry(Side.BUY))


async def test_reads_retry_server_errors_then_give_up(venue: TradierHarness) -> None:
    venue.fake.read_failures.extend([502, 503])
    assert await venue.exchange.last_price("AAPL") == venue.price
    assert venue.round_trips() == 3
    venue.fake.read_failures.extend([500, 502, 503])
    with pytest.raises(ExchangeUnavailable):
        await venue.exchange.last_price("AAPL")
    venue.fake.read_failures.extend([429] * 3)
    with pytest.raises(RateLimited):
        await venue.exchange.last_price("AAPL")


async def test_a_free_text_rejection_is_confirmed_by_tag_before_refusing(venue: TradierHarness) -> None:
    venue.fake.reply_next(200, fixture("errors_free_text.json"))
    with pytest.raises(InvalidOrder, match="Backoffice rejected"):
        await venue.exchange.place_order(entry(Side.BUY))
    assert venue.fake.requests() == [("POST", ORDERS), ("GET", ORDERS)]
    assert venue.fake.router.calls.last.request.url.params["includeTags"] == "true"


async def test_a_free_text_rejection_of_an_order_that_exists_is_followed(venue: TradierHarness) -> None:
    venue.fills_at(venue.price)

    def taken_with_errors(form: dict[str, str]) -> httpx.Response:
        venue.fake.accept(form)
        return httpx.Response(200, json=fixture("errors_free_text.json"))

    venue.fake.scripted.append(taken_with_errors)
    order = await venue.exchange.place_order(entry(Side.BUY))
    assert (order.id, order.status) == ("257459", OrderStatus.FILLED)
    assert len(venue.fake.forms) == 1


@pytest.mark.parametrize(("reason", "error"), [("ShortTradingDeniedForSecurity", InvalidOrder),
                                               ("DayTradingBuyingPowerExceeded", InsufficientFunds)])
async def test_a_rejection_found_when_reading_the_order_is_translated(venue: TradierHarness, reason: str,
                                                                      error: type[ExchangeError]) -> None:
    def taken_then_rejected(form: dict[str, str]) -> httpx.Response:
        reply = venue.fake.accept(form)
        venue.fake.orders[257459] = {**fixture("order_rejected.json")["order"], "reason_description": reason}
        return reply

    venue.fake.scripted.append(taken_then_rejected)
    with pytest.raises(error, match=reason):
        await venue.exchange.place_order(entry(Side.SELL))


async def test_unknown_outcome_is_resolved_by_one_tagged_listing(venue: TradierHarness) -> None:
    venue.next_order_outcome_unknown(D("150.40"))
    order = await send_order(venue.exchange, entry(Side.BUY, "sp0001-e"))
    assert (order.status, order.average_price, order.client_order_id) == (OrderStatus.FILLED, D("150.40"),
                                                                          "sp0001-e")
    assert venue.fake.requests() == [("POST", ORDERS), ("GET", ORDERS)]
    assert dict(venue.fake.router.calls.last.request.url.params) == {"includeTags": "true", "limit": "1000"}


# ------------------------------------------------------------------ Tradier's JSON quirks
async def test_a_flat_account_answers_null_positions(venue: TradierHarness) -> None:
    assert await venue.exchange.positions() == []
    assert await venue.exchange.position("AAPL") is None


async def test_positions_single_object_short_sign_and_options_left_out(venue: TradierHarness) -> None:
    venue.fake.positions_body = fixture("positions_single.json")
    assert await venue.exchange.positions() == [Position("AAPL", Side.BUY, D(10), D("150.25"))]
    venue.fake.positions_body = fixture("positions_many.json")
    assert await venue.exchange.positions() == [Position("AAPL", Side.BUY, D(1), D("207.01")),
                                                Position("TSLA", Side.SELL, D(10), D("185"))]


async def test_null_orders_mean_no_order(venue: TradierHarness) -> None:
    assert await venue.exchange.get_order("AAPL", client_order_id="sp0000-e") is None
    assert await venue.exchange.open_orders() == []


async def test_a_single_order_object_is_found_by_its_tag(venue: TradierHarness) -> None:
    venue.fake.orders_body = fixture("orders_single.json")
    order = await venue.exchange.get_order("AAPL", client_order_id="sp0000-e")
    assert order is not None and (order.id, order.status, order.average_price) == ("257459", OrderStatus.FILLED,
                                                                                    D("150.25"))
    assert await venue.exchange.get_order("MSFT", client_order_id="sp0000-e") is None
    assert await venue.exchange.get_order("AAPL", client_order_id="sp9999-e") is None


async def test_an_unknown_symbol_comes_back_unmatched(venue: TradierHarness) -> None:
    with pytest.raises(UnknownSymbol):
        await venue.exchange.symbol_rules("NOPE")
    with pytest.raises(UnknownSymbol):
        await venue.exchange.last_price("NOPE")


async def test_the_price_falls_back_to_the_mid_when_nothing_traded(venue: TradierHarness) -> None:
    venue.fake.quote("AAPL", None, bid=D("10.00"), ask=D("10.10"))
    assert await venue.exchange.last_price("AAPL") == D("10.05")
    venue.fake.quote("AAPL", None, bid=None, ask=None)
    venue.fake.quotes["AAPL"].update(bid=None, ask=None)
    with pytest.raises(InvalidOrder):
        await venue.exchange.last_price("AAPL")


async def test_symbol_rules_are_loaded_once_with_the_sub_dollar_tick(venue: TradierHarness) -> None:
    venue.fake.quote("SNDL", D("0.7512"))
    rules = await venue.exchange.symbol_rules("sndl")
    assert rules == SymbolRules("SNDL", D("0.0001"), D(1), D(1), D(0))
    assert await venue.exchange.symbol_rules("SNDL") is rules
    assert venue.round_trips() == 1


async def test_balances_of_margin_and_cash_accounts(venue: TradierHarness) -> None:
    balance = await venue.exchange.balance()
    assert (balance.currency, balance.total, balance.available) == ("USD", D("17798.36"), D("12727.72"))
    venue.fake.balances = fixture("balances_cash.json")
    balance = await venue.exchange.balance()
    assert (balance.total, balance.available, balance.extra["total_cash"]) == (D("5040.25"), D("3212.5"),
                                                                               D("3537.75"))


async def test_ping(venue: TradierHarness) -> None:
    assert await venue.exchange.ping() is True


# ------------------------------------------------------------------ cancelling
async def test_cancelling_a_leg_cancels_its_oco_and_a_second_cancel_is_not_found(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    venue.fake.router.reset()
    cancelled = await venue.exchange.cancel_order("AAPL", stop.id)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.id == stop.id
    assert venue.fake.requests() == [("GET", f"{ORDERS}/257459"), ("DELETE", f"{ORDERS}/257459")]
    assert target is not None
    with pytest.raises(OrderNotFound):
        await venue.exchange.cancel_order("AAPL", target.id)


async def test_cancelling_both_legs_at_once_is_quiet(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)
    stop, target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    assert target is not None
    await cancel_quietly(venue.exchange, "AAPL", [stop.id, target.id])
    raw = venue.fake.orders[257459]
    assert raw["status"] == "canceled" and {leg["status"] for leg in raw["leg"]} == {"canceled"}


async def test_a_cancel_losing_the_race_to_a_fill_is_not_found(venue: TradierHarness) -> None:
    venue.holding(Side.BUY, D(10), venue.price)
    stop, _ = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    original = venue.fake._cancel

    def filled_first(request: httpx.Request, oid: str) -> httpx.Response:
        venue.fake.fill_leg(257459, "stop", D("145"))
        venue.fake.orders[257459]["status"] = "filled"
        return original(request, oid)

    venue.fake.router.routes[-1].side_effect = filled_first
    venue.fake.router.reset()
    with pytest.raises(OrderNotFound):
        await venue.exchange.cancel_order("AAPL", stop.id)
    detail = f"{ORDERS}/257459"
    assert venue.fake.requests() == [("GET", detail), ("DELETE", detail), ("GET", detail)]


@pytest.mark.parametrize("order_id", ["999999", "abc", "1:bogus", "../positions"])
async def test_cancelling_an_unknown_order_is_not_found(venue: TradierHarness, order_id: str) -> None:
    with pytest.raises(OrderNotFound):
        await venue.exchange.cancel_order("AAPL", order_id)
    assert await venue.exchange.get_order("AAPL", order_id=order_id) is None


# ------------------------------------------------------------------ shares held by exits
async def test_a_close_refused_for_shares_held_by_exits_frees_them_and_closes(venue: TradierHarness) -> None:
    venue.fake.holds_shares_for_exits = True
    venue.holding(Side.BUY, D(10), venue.price)
    await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    venue.fills_at(D("151"))
    order = await venue.exchange.place_order(entry(Side.SELL, "sp0000-x", reduce_only=True))
    assert order.status is OrderStatus.FILLED and "AAPL" not in venue.fake.held
    assert [(f["class"], f.get("side")) for f in venue.fake.forms] == [("oco", None), ("equity", "sell"),
                                                                        ("equity", "sell")]
    assert ("DELETE", f"{ORDERS}/257459") in venue.fake.requests()


async def test_an_entry_is_never_retried_after_freeing_shares(venue: TradierHarness) -> None:
    venue.fake.reply_next(200, fixture("errors_crosses_zero.json"))
    with pytest.raises(InvalidOrder):
        await venue.exchange.place_order(entry(Side.SELL))
    assert len(venue.fake.forms) == 1


# ------------------------------------------------------------------ round trips
async def test_an_open_with_stop_and_target_takes_four_requests(venue: TradierHarness) -> None:
    venue.fills_at(venue.price)
    order = await venue.exchange.place_order(entry(Side.BUY))
    await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50"), order.filled_quantity))
    assert venue.fake.requests() == [("POST", ORDERS), ("GET", f"{ORDERS}/257459"),
                                     ("POST", ORDERS), ("GET", f"{ORDERS}/257460")]


async def test_a_reversal_round_trips(venue: TradierHarness) -> None:
    """The adapter calls the executor makes to reverse a protected long into a protected short."""
    venue.fills_at(venue.price)
    venue.holding(Side.BUY, D(10), venue.price)
    old_stop, old_target = await venue.exchange.place_exit_pair(*exits(Side.BUY, D("145.00"), D("155.50")))
    assert old_target is not None
    venue.fake.router.reset()

    live = await venue.exchange.position("AAPL")  # executor: what is held
    assert live is not None and live.side is Side.BUY
    close = await venue.exchange.place_order(entry(Side.SELL, "sp0001-rx", live.quantity, reduce_only=True))
    assert await venue.exchange.position("AAPL") is None  # closer: confirmed flat
    await cancel_quietly(venue.exchange, "AAPL", [old_stop.id, old_target.id])  # closer: exits gone
    opened = await venue.exchange.place_order(entry(Side.SELL, "sp0001-e"))
    stop = OrderRequest("AAPL", Side.BUY, OrderKind.STOP, D(10), "sp0001-sl", trigger_price=D("155.00"),
                        reduce_only=True)
    target = OrderRequest("AAPL", Side.BUY, OrderKind.TAKE_PROFIT, D(10), "sp0001-tp", trigger_price=D("140.00"),
                          reduce_only=True)
    await venue.exchange.place_exit_pair(stop, target)

    assert close.status is opened.status is OrderStatus.FILLED and venue.fake.held["AAPL"][0] == D(-10)
    assert [(f["class"], f.get("side", f.get("side[0]"))) for f in venue.fake.forms[1:]] == [
        ("equity", "sell"), ("equity", "sell_short"), ("oco", "buy_to_cover")]
    old, close_id, entry_id, oco_id = (f"{ORDERS}/{n}" for n in (257459, 257462, 257463, 257464))
    positions = f"/v1/accounts/{ACCOUNT}/positions"
    assert venue.fake.requests() == [
        ("GET", positions), ("POST", ORDERS), ("GET", close_id), ("GET", positions),
        # both legs of the old OCO: the first cancel takes the whole OCO, the second knows it did
        ("GET", old), ("DELETE", old),
        ("POST", ORDERS), ("GET", entry_id), ("POST", ORDERS), ("GET", oco_id),
    ]


# ------------------------------------------------------------------ through the real executor
@pytest.fixture
async def store(tmp_path: Path) -> Any:
    store = SqliteStore(tmp_path / "sparky.sqlite", synchronous="NORMAL")
    await store.open()
    yield store
    await store.aclose()


@pytest.fixture
def executor(venue: TradierHarness, store: SqliteStore, tmp_path: Path) -> TradeExecutor:
    """The real trade executor on a SQLite store, trading on the scripted account."""
    registry = ExchangeRegistry()
    registry.add(venue.exchange)
    return TradeExecutor(store, local_accounts(registry, tmp_path), make_settings(tmp_path), LegacyConfig())


async def test_the_executor_opens_and_reverses_with_the_measured_round_trips(
        venue: TradierHarness, executor: TradeExecutor, store: SqliteStore) -> None:
    """The real executor (SQLite store) on the scripted account: every request it makes, counted."""
    venue.fills_at(venue.price)
    positions, quotes = f"/v1/accounts/{ACCOUNT}/positions", "/v1/markets/quotes"
    signal = Signal(action="buy", symbol="AAPL", exchange="tradier", position_size_usd=D("1502.5"),
                    stop_loss_percent=D(2), take_profit_percent=D(4))
    opened = await execute(executor, Job("11111111-1111-4111-8111-111111111111", LOCAL_USER_ID, signal))
    assert opened.body["action"] == "opened", opened.body
    assert venue.fake.forms[1] == {
        "class": "oco", "duration": "gtc",
        "symbol[0]": "AAPL", "side[0]": "sell", "quantity[0]": "10", "type[0]": "limit", "price[0]": "156.26",
        "symbol[1]": "AAPL", "side[1]": "sell", "quantity[1]": "10", "type[1]": "stop", "stop[1]": "147.25",
        "tag": "sp111111111111411181111111-sl--sp111111111111411181111111-tp"}
    requests = venue.fake.requests()
    assert sorted(requests[:2]) == [("GET", ORDERS), ("GET", positions)]  # what is held and what rests, together
    assert requests[2:] == [
        ("GET", quotes), ("GET", quotes),  # rules (once), price
        ("POST", ORDERS), ("GET", f"{ORDERS}/257459"), ("POST", ORDERS), ("GET", f"{ORDERS}/257460"),
    ]
    stored = await store.get_position(LOCAL_USER_ID, "tradier", "AAPL")
    assert stored is not None and (stored.stop_loss_order_id, stored.take_profit_order_id) == (
        "257460:sl", "257460:tp")

    venue.fake.router.reset()
    signal = Signal(action="sell", symbol="AAPL", exchange="tradier", position_size_usd=D("1502.5"),
                    stop_loss_percent=D(2), take_profit_percent=D(4))
    reversed_ = await execute(executor, Job("22222222-2222-4222-8222-222222222222", LOCAL_USER_ID, signal))
    assert reversed_.body["action"] == "reversed", reversed_.body
    assert [f.get("side", f.get("side[0]")) for f in venue.fake.forms[2:]] == ["sell", "sell_short",
                                                                               "buy_to_cover"]
    old = f"{ORDERS}/257460"
    requests = venue.fake.requests()
    assert sorted(requests[:2]) == [("GET", ORDERS), ("GET", positions)]  # what is held and what rests
    assert requests[2:] == [
        ("GET", quotes),  # price
        ("POST", ORDERS), ("GET", f"{ORDERS}/257463"),  # close, filled in full: flat, no second read
        ("GET", old), ("DELETE", old),  # the old OCO (both legs: one cancel)
        ("POST", ORDERS), ("GET", f"{ORDERS}/257464"), ("POST", ORDERS), ("GET", f"{ORDERS}/257465"),
    ]
    assert venue.fake.orders[257460]["status"] == "canceled" and venue.fake.held["AAPL"][0] == D(-10)


async def test_a_close_cancels_the_oco_of_both_exits_with_one_delete(
        venue: TradierHarness, executor: TradeExecutor, store: SqliteStore) -> None:
    """Both stored exits are legs of one Tradier order: the close cancels them at once, and when the
    two cancels overlap (as they do over a network) exactly one DELETE reaches Tradier."""
    venue.fake.network_turns = True
    venue.fills_at(venue.price)
    signal = Signal(action="buy", symbol="AAPL", exchange="tradier", quantity=D(10),
                    stop_loss_percent=D(2), take_profit_percent=D(4))
    opened = await execute(executor, Job("55555555-5555-4555-8555-555555555555", LOCAL_USER_ID, signal))
    assert opened.body["action"] == "opened", opened.body
    venue.fake.router.reset()

    close = Signal(action="close", symbol="AAPL", exchange="tradier")
    closed = await execute(executor, Job("66666666-6666-4666-8666-666666666666", LOCAL_USER_ID, close))
    assert closed.body["action"] == "closed", closed.body
    positions, oco = f"/v1/accounts/{ACCOUNT}/positions", f"{ORDERS}/257460"
    sent = venue.fake.requests()
    assert sorted(sent[:2]) == [("GET", ORDERS), ("GET", positions)]  # the position and the resting orders
    assert sent[2:] == [
        ("POST", ORDERS), ("GET", f"{ORDERS}/257463"),  # filled in full: flat by the fill, no second read
        ("GET", oco), ("DELETE", oco),  # the OCO holding both exits: read once, cancelled once
    ]
    assert [f.get("side") for f in venue.fake.forms[2:]] == ["sell"]
    assert {leg["status"] for leg in venue.fake.orders[257460]["leg"]} == {"canceled"}
    assert await store.get_position(LOCAL_USER_ID, "tradier", "AAPL") is None


async def test_a_limit_alert_rests_as_one_otoco_and_is_adopted_with_its_exits_once_filled(
        venue: TradierHarness, executor: TradeExecutor) -> None:
    signal = Signal(action="buy", symbol="AAPL", exchange="tradier", order_type="limit", price=D("149"),
                    quantity=D(10), stop_loss_percent=D(2), take_profit_percent=D(4))
    outcome = await execute(executor, Job("33333333-3333-4333-8333-333333333333", LOCAL_USER_ID, signal))
    assert outcome.body["action"] == "order_placed", outcome.body
    form = venue.fake.forms[0]
    assert (form["class"], form["side[0]"], form["price[0]"], form["price[1]"], form["stop[2]"]) == (
        "otoco", "buy", "149.00", "154.96", "146.02")

    venue.fake._fill(venue.fake.orders[257459]["leg"][0], D("149"))  # the limit fills later
    adopted = await executor.reconciler.reconcile(venue.exchange, LOCAL_USER_ID, "AAPL")
    assert adopted.adopted and adopted.position is not None
    assert (adopted.position.stop_loss_order_id, adopted.position.stop_loss_price) == ("257459:sl", D("146.02"))
    assert (adopted.position.take_profit_order_id, adopted.position.take_profit_price) == ("257459:tp",
                                                                                          D("154.96"))


async def test_a_stop_filled_on_the_venue_is_recorded_as_a_stop_loss(venue: TradierHarness,
                                                                     executor: TradeExecutor) -> None:
    venue.fills_at(venue.price)
    signal = Signal(action="sell", symbol="AAPL", exchange="tradier", quantity=D(10),
                    stop_loss_percent=D(2), take_profit_percent=D(4))
    opened = await execute(executor, Job("44444444-4444-4444-8444-444444444444", LOCAL_USER_ID, signal))
    assert opened.body["action"] == "opened", opened.body
    venue.fake.fill_leg(257460, "stop", D("153.30"))  # the short's stop (buy_to_cover) fills
    assert "AAPL" not in venue.fake.held
    result = await executor.reconciler.reconcile(venue.exchange, LOCAL_USER_ID, "AAPL")
    assert result.closed is not None
    assert (result.closed.exit_reason, result.closed.exit_price) == ("STOP_LOSS", D("153.30"))
    assert venue.order_requests() == 2  # the entry and one OCO: nothing left to cancel by hand
