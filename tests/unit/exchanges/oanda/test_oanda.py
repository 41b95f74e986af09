"""OANDA v20 adapter: the shared contract suite plus the exact wire format of every request.

The venue is a scripted OANDA account (`FakeOanda`): respx routes behind an httpx.MockTransport on
the shared client pool, answering with replies built from the recorded shapes in
tests/fixtures/oanda/ (see FIXTURE_SOURCES for the documentation page of each shape). What the
venue *received* is read back from the captured HTTP requests, never from the adapter's objects.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal as D
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
import respx

from sparky.exchanges.base import Bracket, OrderKind, OrderRequest, OrderStatus, Side, SymbolRules
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
from sparky.exchanges.oanda.adapter import OandaExchange, create
from sparky.exchanges.oanda.api import LIVE_URL, PRACTICE_URL, base_url
from sparky.exchanges.oanda.rules import instrument_name
from tests.exchange_contract import ExchangeContract, SentOrder

FIXTURES = Path(__file__).parents[3] / "fixtures" / "oanda"
#: where each recorded reply's shape comes from (developer.oanda.com/rest-live-v20/…)
FIXTURE_SOURCES = {
    "instruments.json": "account-ep GET /accounts/{id}/instruments; primitives-df Instrument",
    "instruments_unknown.json": "account-ep GET /instruments 400 (assumed: errorMessage only, not verified)",
    "pricing.json": "pricing-ep GET /accounts/{id}/pricing; pricing-df ClientPrice",
    "pricing_many.json": "pricing-ep GET /accounts/{id}/pricing?instruments=EUR_USD,USD_JPY; pricing-df ClientPrice",
    "order_market_filled.json": "order-ep POST /accounts/{id}/orders 201; transaction-df OrderFillTransaction",
    "order_fok_cancelled.json": "order-ep POST /orders 201 with orderCancelTransaction (FOK not filled)",
    "order_rejected.json": "order-ep POST /orders 400; transaction-df MarketOrderRejectTransaction",
    "order_limit_pending.json": "order-ep POST /orders 201; transaction-df LimitOrderTransaction",
    "position_close.json": "position-ep PUT /positions/{instrument}/close 200",
    "position_close_missing.json": "position-ep PUT /positions/{instrument}/close 400",
    "trade_orders.json": "trade-ep PUT /trades/{tradeSpecifier}/orders 200",
    "trade_orders_tp_rejected.json": "trade-ep PUT /trades/{tradeSpecifier}/orders 400",
    "open_positions.json": "position-ep GET /openPositions; position-df Position",
    "open_trades.json": "trade-ep GET /openTrades; trade-df Trade",
    "trade.json": "trade-ep GET /trades/{tradeSpecifier}",
    "order_market_get.json": "order-ep GET /orders/{orderSpecifier}; order-df MarketOrder",
    "order_stop_loss_get.json": "order-ep GET /orders/{orderSpecifier}; order-df StopLossOrder",
    "transaction_fill.json": "transaction-ep GET /transactions/{transactionID}",
    "no_such_order.json": "order-ep GET /orders/{orderSpecifier} 404 (errorCode as the live API sends it)",
    "unauthorized.json": "authentication: 401 body",
    "rate_limited.json": "best-practices: 429 over 120 requests/s (assumed body: the text is not documented)",
    "summary.json": "account-ep GET /accounts/{id}/summary; account-df AccountSummary",
    "order_cancelled.json": "order-ep PUT /orders/{orderSpecifier}/cancel 200",
    "pending_orders.json": "order-ep GET /pendingOrders",
    "candles_h1.json": "instrument-ep GET /v3/instruments/{instrument}/candles?price=M; instrument-df Candlestick",
}

ACCOUNT = "101-004-1234567-001"
TOKEN = "practice-token-for-tests"
PREFIX = f"/v3/accounts/{ACCOUNT}"
SYMBOL = "EURUSD"
PRICE = D("1.10000")
QTY = D("1000")
RULES = SymbolRules(SYMBOL, D("0.00001"), D("1"), D("1"), D("0"))


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def reply(status: int, name_or_body: str | dict[str, Any]) -> httpx.Response:
    body = fixture(name_or_body) if isinstance(name_or_body, str) else name_or_body
    return httpx.Response(status, json=body)


def body_of(request: httpx.Request) -> dict[str, Any]:
    return json.loads(request.content)


class FakeOanda:
    """A scripted OANDA practice account: trades, orders and transactions, netting mode."""

    def __init__(self) -> None:
        self.router = respx.Router(base_url=PRACTICE_URL, assert_all_mocked=True)
        self.pool = HttpClientPool(transport=httpx.MockTransport(self._over_network))
        #: every reply lets other tasks run before it answers, as a network does
        self.network_turns = False
        self.quotes: dict[str, D] = {"EUR_USD": PRICE}
        self.fill_price: D | None = None
        self.trades: list[dict[str, Any]] = []  # open trades: id, instrument, units (signed D), price
        self.trade_units: dict[str, D] = {}  # every trade ever opened (the venue's memory)
        self.orders: dict[str, dict[str, Any]] = {}
        self.client_ids: dict[str, str] = {}
        self.transactions: dict[str, dict[str, Any]] = {}
        self.limit_rests = True
        self.lagging_order_reads = 0  # the next N order reads answer NO_SUCH_ORDER (read-after-write lag)
        self.lagging_trades = False  # openTrades does not list trades yet
        self.instrument_failures: deque[int] = deque()  # statuses the next instrument reads answer with
        self.scripted: deque[httpx.Response | Callable[[httpx.Request], httpx.Response]] = deque()
        self._ids = itertools.count(6500)
        self._routes()

    # ---------------------------------------------------------------- plumbing
    async def _over_network(self, request: httpx.Request) -> httpx.Response:
        if self.network_turns:
            await asyncio.sleep(0)  # one turn of the event loop: concurrent requests overlap
        return await self.router.async_handler(request)

    def _next(self) -> str:
        return str(next(self._ids))

    def _routes(self) -> None:
        r, p = self.router, f"^{PREFIX}"
        r.get(path__regex=rf"{p}/instruments$").mock(side_effect=self._instruments)
        r.get(path__regex=rf"{p}/pricing$", name="pricing").mock(side_effect=self._pricing)
        r.get(path__regex=rf"{p}/openPositions$", name="positions").mock(side_effect=self._open_positions)
        r.get(path__regex=rf"{p}/openTrades$").mock(side_effect=self._open_trades)
        r.get(path__regex=rf"{p}/trades/(?P<tid>\d+)$").mock(side_effect=self._trade)
        r.get(path__regex=rf"{p}/summary$").mock(return_value=reply(200, "summary.json"))
        r.get(path__regex=rf"{p}/pendingOrders$").mock(side_effect=self._pending)
        r.get(path__regex=rf"{p}/transactions/(?P<tid>\d+)$").mock(side_effect=self._transaction)
        r.get(path__regex=rf"{p}/orders/(?P<spec>[^/]+)$").mock(side_effect=self._get_order)
        r.put(path__regex=rf"{p}/orders/(?P<spec>[^/]+)/cancel$").mock(side_effect=self._cancel)
        r.post(path__regex=rf"{p}/orders$").mock(side_effect=self._scripted(self._post_order))
        r.put(path__regex=rf"{p}/positions/(?P<inst>\w+)/close$").mock(side_effect=self._scripted(self._close))
        r.put(path__regex=rf"{p}/trades/(?P<tid>\d+)/orders$").mock(side_effect=self._scripted(self._trade_orders))

    def _scripted(self, handler: Callable[..., httpx.Response]) -> Callable[..., httpx.Response]:
        def answer(request: httpx.Request, **kwargs: str) -> httpx.Response:
            if self.scripted:
                step = self.scripted.popleft()
                return step(request) if callable(step) else step
            return handler(request, **kwargs)
        return answer

    def _price(self, instrument: str) -> D:
        return self.fill_price if self.fill_price is not None else self.quotes[instrument]

    # ---------------------------------------------------------------- reads
    def _instruments(self, request: httpx.Request) -> httpx.Response:
        if self.instrument_failures:
            return httpx.Response(self.instrument_failures.popleft(), text="Service Unavailable")
        wanted = request.url.params.get("instruments")
        listed = [i for i in fixture("instruments.json")["instruments"]  # no filter: every instrument
                  if wanted is None or i["name"] in wanted.split(",")]
        if not listed:
            return reply(400, "instruments_unknown.json")
        return reply(200, {"instruments": listed, "lastTransactionID": "6356"})

    def _pricing(self, request: httpx.Request) -> httpx.Response:
        instrument = request.url.params["instruments"]
        body = fixture("pricing.json")
        quote = body["prices"][0]
        mid, half = self.quotes[instrument], D("0.00002")
        quote["instrument"] = instrument
        quote["bids"][0]["price"], quote["asks"][0]["price"] = str(mid - half), str(mid + half)
        return reply(200, body)

    def _open_positions(self, request: httpx.Request) -> httpx.Response:
        positions = []
        for instrument in sorted({t["instrument"] for t in self.trades}):
            entry = copy.deepcopy(fixture("open_positions.json")["positions"][0])
            entry["instrument"] = instrument
            for side, sign in (("long", 1), ("short", -1)):
                mine = [t for t in self.trades if t["instrument"] == instrument and t["units"] * sign > 0]
                units = sum((t["units"] for t in mine), D(0))
                entry[side]["units"] = str(units)
                if mine:
                    entry[side]["averagePrice"] = str(mine[0]["price"])
                    entry[side]["tradeIDs"] = [t["id"] for t in mine]
                else:
                    entry[side].pop("averagePrice", None)
                    entry[side].pop("tradeIDs", None)
            positions.append(entry)
        return reply(200, {"positions": positions, "lastTransactionID": "6358"})

    def _trade_json(self, trade: dict[str, Any]) -> dict[str, Any]:
        data = copy.deepcopy(fixture("open_trades.json")["trades"][0])
        data.update(id=trade["id"], instrument=trade["instrument"], price=str(trade["price"]),
                    initialUnits=str(trade["units"]), currentUnits=str(trade["units"]))
        return data

    def _open_trades(self, request: httpx.Request) -> httpx.Response:
        trades = [] if self.lagging_trades else [self._trade_json(t) for t in reversed(self.trades)]
        return reply(200, {"trades": trades, "lastTransactionID": "6358"})

    def _trade(self, request: httpx.Request, tid: str) -> httpx.Response:
        body = fixture("trade.json")
        body["trade"].update(id=tid, initialUnits=str(self.trade_units[tid]), currentUnits=str(self.trade_units[tid]))
        return reply(200, body)

    def _pending(self, request: httpx.Request) -> httpx.Response:
        return reply(200, {"orders": [o for o in self.orders.values() if o["state"] == "PENDING"],
                           "lastTransactionID": "6391"})

    def _transaction(self, request: httpx.Request, tid: str) -> httpx.Response:
        return reply(200, {"transaction": self.transactions[tid], "lastTransactionID": tid})

    def _find(self, spec: str) -> dict[str, Any] | None:
        spec = unquote(spec)
        return self.orders.get(self.client_ids.get(spec[1:], "") if spec.startswith("@") else spec)

    def _get_order(self, request: httpx.Request, spec: str) -> httpx.Response:
        order = self._find(spec)
        if order is None or self.lagging_order_reads > 0:
            self.lagging_order_reads = max(0, self.lagging_order_reads - 1)
            return reply(404, "no_such_order.json")
        return reply(200, {"order": order, "lastTransactionID": "6391"})

    def _cancel(self, request: httpx.Request, spec: str) -> httpx.Response:
        order = self._find(spec)
        if order is None or order["state"] != "PENDING":
            return reply(404, {"orderCancelRejectTransaction": {"type": "ORDER_CANCEL_REJECT",
                                                                "rejectReason": "ORDER_DOESNT_EXIST"},
                               "errorCode": "ORDER_DOESNT_EXIST",
                               "errorMessage": "The Order specified does not exist"})
        order["state"] = "CANCELLED"
        body = fixture("order_cancelled.json")
        body["orderCancelTransaction"].update(orderID=order["id"], clientOrderID=order["clientExtensions"]["id"])
        return reply(200, body)

    # ---------------------------------------------------------------- writes
    def _store(self, order: dict[str, Any]) -> None:
        self.orders[order["id"]] = order
        if order.get("clientExtensions"):
            self.client_ids[order["clientExtensions"]["id"]] = order["id"]

    def _duplicate(self, cid: str) -> httpx.Response:
        body = fixture("order_rejected.json")
        body["orderRejectTransaction"]["rejectReason"] = body["errorCode"] = "CLIENT_ORDER_ID_ALREADY_EXISTS"
        body["errorMessage"] = "The client Order ID specified is already assigned to another pending Order"
        return reply(400, body)

    def open_trade(self, instrument: str, units: D, price: D) -> str:
        tid = self._next()
        self.trades.append({"id": tid, "instrument": instrument, "units": units, "price": price})
        self.trade_units[tid] = units
        return tid

    def _dependent(self, kind: str, trade_id: str, details: dict[str, Any]) -> dict[str, Any]:
        order = {"id": self._next(), "createTime": "2024-05-14T10:10:01.123456789Z", "type": kind,
                 "tradeID": trade_id, "timeInForce": details.get("timeInForce", "GTC"), "state": "PENDING",
                 "clientExtensions": details.get("clientExtensions")}
        for key in ("price", "distance"):
            if key in details:
                order[key] = details[key]
        for old in self.orders.values():  # a trade has one order of each kind: the new one replaces it
            if old.get("tradeID") == trade_id and old["type"] == kind and old["state"] == "PENDING":
                old["state"] = "CANCELLED"
        self._store(order)
        return order

    def _post_order(self, request: httpx.Request) -> httpx.Response:
        order = body_of(request)["order"]
        cid = order["clientExtensions"]["id"]
        if cid in self.client_ids:
            return self._duplicate(cid)
        units, instrument = D(order["units"]), order["instrument"]
        assert not [t for t in self.trades if t["instrument"] == instrument and t["units"] * units < 0], \
            "the fake does not net opposite trades: close first"
        created = fixture("order_market_filled.json")["orderCreateTransaction"]
        created.update({k: v for k, v in order.items() if k != "type"}, id=self._next(),
                       type=f"{order['type']}_ORDER")
        stored = {k: v for k, v in order.items()}
        stored.update(id=created["id"], createTime=created["time"], state="PENDING")
        self._store(stored)
        if order["type"] == "LIMIT" and self.limit_rests:
            return reply(201, {"orderCreateTransaction": created, "relatedTransactionIDs": [created["id"]],
                               "lastTransactionID": created["id"]})
        price = self._price(instrument)
        refused = self._on_fill_loss(order, units, price)
        if refused is not None:  # OANDA cancels the whole entry (a 201 with orderCancelTransaction)
            stored["state"] = "CANCELLED"
            body = fixture("order_fok_cancelled.json")
            body["orderCreateTransaction"] = created
            body["orderCancelTransaction"].update(id=self._next(), orderID=created["id"], clientOrderID=cid,
                                                  reason=refused)
            return reply(201, body)
        fill = fixture("order_market_filled.json")["orderFillTransaction"]
        fill.update(id=self._next(), orderID=created["id"], clientOrderID=cid, instrument=instrument,
                    units=str(units), requestedUnits=str(units), price=str(price), fullVWAP=str(price))
        tid = fill["id"]
        self.trades.append({"id": tid, "instrument": instrument, "units": units, "price": price})
        self.trade_units[tid] = units
        fill["tradeOpened"].update(tradeID=tid, units=str(units), price=str(price))
        self.transactions[tid] = fill
        stored.update(state="FILLED", fillingTransactionID=tid, filledTime=fill["time"], tradeOpenedID=tid)
        related = [created["id"], tid]
        for key, kind in (("takeProfitOnFill", "TAKE_PROFIT"), ("stopLossOnFill", "STOP_LOSS"),
                          ("trailingStopLossOnFill", "TRAILING_STOP_LOSS")):
            if key in order:
                related.append(self._dependent(kind, tid, order[key])["id"])
        return reply(201, {"orderCreateTransaction": created, "orderFillTransaction": fill,
                           "relatedTransactionIDs": related, "lastTransactionID": related[-1]})

    @staticmethod
    def _on_fill_loss(order: dict[str, Any], units: D, price: D) -> str | None:
        """OANDA's refusal of an exit attached on fill that the fill price is already through."""
        long = units > 0
        stop = D(order["stopLossOnFill"]["price"]) if "stopLossOnFill" in order else None
        target = D(order["takeProfitOnFill"]["price"]) if "takeProfitOnFill" in order else None
        if stop is not None and (stop >= price if long else stop <= price):
            return "STOP_LOSS_ON_FILL_LOSS"
        if target is not None and (target <= price if long else target >= price):
            return "TAKE_PROFIT_ON_FILL_LOSS"
        return None

    def _realized(self, trades: list[dict[str, Any]], price: D) -> tuple[str, str]:
        """(`pl`, `quotePL`) of closing `trades` at `price`, as OANDA reports them: the price
        difference in the quote currency, and in the account's (USD) at the quote's rate now."""
        quote_pl = sum(((price - t["price"]) * t["units"] for t in trades), D(0))
        inst = trades[0]["instrument"]
        base, _, quote = inst.partition("_")
        if quote == "USD":
            rate = D(1)
        elif base == "USD":
            rate = 1 / price
        else:
            rate = self.quotes.get(f"{quote}_USD") or 1 / self.quotes[f"USD_{quote}"]
        return str((quote_pl * rate).quantize(D("0.0001"))), str(quote_pl)

    def _close(self, request: httpx.Request, inst: str) -> httpx.Response:
        body = body_of(request)
        for side, sign in (("long", 1), ("short", -1)):
            if f"{side}Units" not in body:
                continue
            mine = [t for t in self.trades if t["instrument"] == inst and t["units"] * sign > 0]
            if not mine:
                missing = fixture("position_close_missing.json")
                missing[f"{side}OrderRejectTransaction"] = missing.pop("longOrderRejectTransaction")
                return reply(400, missing)
            units, price = -sum((t["units"] for t in mine), D(0)), self._price(inst)
            template = fixture("position_close.json")
            created, fill = template["longOrderCreateTransaction"], template["longOrderFillTransaction"]
            cid = body[f"{side}ClientExtensions"]["id"]
            created.update(id=self._next(), instrument=inst, units=str(units),
                           clientExtensions=body[f"{side}ClientExtensions"])
            created.pop("longPositionCloseout")
            created[f"{side}PositionCloseout"] = {"instrument": inst, "units": body[f"{side}Units"]}
            pl, quote_pl = self._realized(mine, price)
            fill.update(id=self._next(), orderID=created["id"], clientOrderID=cid, instrument=inst,
                        units=str(units), price=str(price), fullVWAP=str(price), pl=pl, quotePL=quote_pl,
                        tradesClosed=[{"tradeID": t["id"], "units": str(-t["units"]), "price": str(price)}
                                      for t in mine])
            self.trades = [t for t in self.trades if t not in mine]
            for order in self.orders.values():  # closing a trade cancels its dependent orders
                if order.get("tradeID") in {t["id"] for t in mine} and order["state"] == "PENDING":
                    order["state"] = "CANCELLED"
            self.transactions[fill["id"]] = fill
            self._store({"id": created["id"], "type": "MARKET", "instrument": inst, "units": str(units),
                         "state": "FILLED", "positionFill": "REDUCE_ONLY",
                         "clientExtensions": created["clientExtensions"],
                         f"{side}PositionCloseout": created[f"{side}PositionCloseout"],
                         "fillingTransactionID": fill["id"], "createTime": created["time"]})
            return reply(200, {f"{side}OrderCreateTransaction": created, f"{side}OrderFillTransaction": fill,
                               "relatedTransactionIDs": [created["id"], fill["id"]],
                               "lastTransactionID": fill["id"]})
        raise AssertionError("close without longUnits or shortUnits")

    def _trade_orders(self, request: httpx.Request, tid: str) -> httpx.Response:
        if tid not in {t["id"] for t in self.trades}:
            return reply(404, {"errorCode": "NO_SUCH_TRADE", "errorMessage": "The Trade ID specified does not exist"})
        body, answer = body_of(request), {}
        for key in ("takeProfit", "stopLoss", "trailingStopLoss"):
            if key in body and body[key]["clientExtensions"]["id"] in self.client_ids:
                return reply(400, {f"{key}OrderRejectTransaction": {"rejectReason": "CLIENT_ORDER_ID_ALREADY_EXISTS"},
                                   "errorCode": "CLIENT_ORDER_ID_ALREADY_EXISTS", "errorMessage": "taken"})
        for key, kind in (("takeProfit", "TAKE_PROFIT"), ("stopLoss", "STOP_LOSS"),
                          ("trailingStopLoss", "TRAILING_STOP_LOSS")):
            if key in body:
                order = self._dependent(kind, tid, body[key])
                tx = copy.deepcopy(fixture("trade_orders.json").get(f"{key}OrderTransaction")
                                   or {"type": "TRAILING_STOP_LOSS_ORDER", "time": "2024-05-14T10:10:01Z"})
                tx.update({k: v for k, v in body[key].items()}, id=order["id"], tradeID=tid)
                answer[f"{key}OrderTransaction"] = tx
        return reply(200, {**answer, "lastTransactionID": self._next()})

    def fill_exit(self, order_id: str, price: D) -> None:
        """The venue fills one of a trade's exits (stop loss, take profit, trailing stop): the trade
        closes at `price` (ORDER_FILL, reason `<TYPE>_ORDER`) and its other exits are cancelled."""
        order = self.orders[order_id]
        trade = next(t for t in self.trades if t["id"] == order["tradeID"])
        fill = fixture("transaction_fill.json")["transaction"]
        fill.pop("tradeOpened")
        fill.update(id=self._next(), orderID=order_id, clientOrderID=order["clientExtensions"]["id"],
                    instrument=trade["instrument"], units=str(-trade["units"]), price=str(price),
                    fullVWAP=str(price), reason=f"{order['type']}_ORDER",
                    pl=self._realized([trade], price)[0],
                    tradesClosed=[{"tradeID": trade["id"], "units": str(-trade["units"]), "price": str(price)}])
        self.transactions[fill["id"]] = fill
        order.update(state="FILLED", fillingTransactionID=fill["id"], filledTime=fill["time"])
        self.trades.remove(trade)
        for other in self.orders.values():
            if other.get("tradeID") == trade["id"] and other["state"] == "PENDING":
                other["state"] = "CANCELLED"

    # ---------------------------------------------------------------- what the venue received
    def order_calls(self) -> list[httpx.Request]:
        return [c.request for c in self.router.calls
                if (c.request.method == "POST" and c.request.url.path == f"{PREFIX}/orders")
                or (c.request.method == "PUT" and c.request.url.path.endswith("/close"))
                or (c.request.method == "PUT" and "/trades/" in c.request.url.path)]

    def sent(self) -> list[SentOrder]:
        out = []
        for request in self.order_calls():
            body = body_of(request)
            if request.method == "POST":
                order, units = body["order"], D(body["order"]["units"])
                out.append(SentOrder(Side.BUY if units > 0 else Side.SELL,
                                     OrderKind.LIMIT if order["type"] == "LIMIT" else OrderKind.MARKET, abs(units),
                                     order["clientExtensions"]["id"], D(order["price"]) if "price" in order else None,
                                     reduce_only=order["positionFill"] == "REDUCE_ONLY"))
            elif request.url.path.endswith("/close"):
                for key, side in (("long", Side.SELL), ("short", Side.BUY)):
                    if f"{key}Units" in body:
                        units = body[f"{key}Units"]
                        out.append(SentOrder(side, OrderKind.MARKET, None if units == "ALL" else D(units),
                                             body[f"{key}ClientExtensions"]["id"], reduce_only=True))
            else:
                held = self.trade_units[request.url.path.split("/")[-2]]
                exit_side = Side.SELL if held > 0 else Side.BUY
                for key, kind in (("stopLoss", OrderKind.STOP), ("takeProfit", OrderKind.TAKE_PROFIT)):
                    if key in body:
                        out.append(SentOrder(exit_side, kind, abs(held), body[key]["clientExtensions"]["id"],
                                             trigger_price=D(body[key]["price"]), reduce_only=True))
        return out


def credentials(**overrides: Any) -> VenueCredentials:
    values: dict[str, Any] = {"exchange": "oanda", "environment": "practice", "account_id": ACCOUNT,
                              "access_token": TOKEN}
    values.update(overrides)
    return VenueCredentials(**values)


class OandaHarness:
    symbol = SYMBOL
    rules = RULES
    price = PRICE
    quantity = QTY

    def __init__(self, **extra: Any) -> None:
        self.fake = FakeOanda()
        self.exchange = OandaExchange(credentials(extra=extra), self.fake.pool,
                                      retry_backoff=0, lookup_backoff=0)

    def market(self, price: D) -> None:
        self.fake.quotes["EUR_USD"] = price

    def holding(self, side: Side | None, quantity: D = QTY, entry: D = PRICE) -> None:
        self.fake.trades = []
        if side is not None:
            self.fake.open_trade("EUR_USD", quantity if side is Side.BUY else -quantity, entry)

    def fills_at(self, price: D) -> None:
        self.fake.fill_price = price

    def rejects_next_order(self, error: type[ExchangeError]) -> None:
        self.fake.scripted.append({
            InsufficientFunds: reply(201, "order_fok_cancelled.json"),  # the FOK-cancel quirk
            InvalidOrder: reply(400, "order_rejected.json"),
            AuthenticationError: reply(401, "unauthorized.json"),
            RateLimited: reply(429, "rate_limited.json"),
        }[error])

    def next_order_outcome_unknown(self, fill_price: D) -> None:
        self.fake.fill_price = fill_price

        def fill_then_time_out(request: httpx.Request) -> httpx.Response:
            self.fake._post_order(request)
            raise httpx.ReadTimeout("timed out", request=request)
        self.fake.scripted.append(fill_then_time_out)

    def sent(self) -> list[SentOrder]:
        return self.fake.sent()

    def order_requests(self) -> int:
        return len(self.fake.order_calls())

    def round_trips(self) -> int:
        return len(self.fake.router.calls)


class TestOandaContract(ExchangeContract):
    @pytest.fixture
    def venue(self) -> OandaHarness:
        return OandaHarness()


# ====================================================================== venue-specific behaviour
@pytest.fixture
def venue() -> OandaHarness:
    return OandaHarness()


async def warm(venue: OandaHarness, symbol: str = SYMBOL) -> None:
    """Load (and cache) the symbol rules, then forget the calls: tests count only what follows."""
    await venue.exchange.symbol_rules(symbol)
    venue.fake.router.calls.clear()


def entry(side: Side, *, kind: OrderKind = OrderKind.MARKET, quantity: D = QTY, cid: str = "sp0000-e",
          price: D | None = None, bracket: Bracket | None = None, symbol: str = SYMBOL) -> OrderRequest:
    return OrderRequest(symbol, side, kind, quantity, cid, price=price, bracket=bracket)


def calls(venue: OandaHarness | FakeOanda) -> list[tuple[str, str]]:
    fake = venue.fake if isinstance(venue, OandaHarness) else venue
    return [(c.request.method, c.request.url.path.removeprefix(PREFIX)) for c in fake.router.calls]


def last_body(venue: OandaHarness) -> dict[str, Any]:
    return body_of(venue.fake.router.calls.last.request)


# ---------------------------------------------------------------------- configuration
def test_every_recorded_reply_names_its_documentation_page() -> None:
    assert {p.name for p in FIXTURES.glob("*.json")} == set(FIXTURE_SOURCES)


@pytest.mark.parametrize(("environment", "url"), [
    ("live", LIVE_URL), ("production", LIVE_URL), ("LIVE", LIVE_URL),
    ("practice", PRACTICE_URL), ("sandbox", PRACTICE_URL), ("", PRACTICE_URL),
])
def test_environment_picks_the_base_url(environment: str, url: str) -> None:
    assert base_url(credentials(environment=environment)) == url


def test_base_url_override_wins() -> None:
    assert base_url(credentials(environment="live", base_url="http://127.0.0.1:9/")) == "http://127.0.0.1:9"


@pytest.mark.parametrize(("symbol", "instrument"), [
    ("EURUSD", "EUR_USD"), ("EUR_USD", "EUR_USD"), ("EUR/USD", "EUR_USD"), ("eur-usd", "EUR_USD"),
    ("XAUUSD", "XAU_USD"), ("US30USD", "US30_USD"), ("SPX500_USD", "SPX500_USD"),
])
def test_alert_symbols_map_to_instruments(symbol: str, instrument: str) -> None:
    assert instrument_name(symbol) == instrument


def test_missing_credentials_are_refused() -> None:
    with pytest.raises(AuthenticationError):
        OandaExchange(credentials(account_id=None), HttpClientPool())


def test_create_builds_the_adapter_with_honest_capabilities() -> None:
    exchange = create(credentials(), HttpClientPool())
    caps = exchange.capabilities
    assert isinstance(exchange, OandaExchange) and exchange.name == "oanda"
    assert (caps.attached_brackets, caps.oco, caps.reduce_only, caps.trailing_stop, caps.limit_orders) == (True,) * 5
    assert not caps.hedge_mode and not caps.batch_orders and not caps.simulated


async def test_every_request_carries_the_bearer_token_and_rfc3339(venue: OandaHarness) -> None:
    await venue.exchange.last_price(SYMBOL)
    await venue.exchange.place_order(entry(Side.BUY))
    for call in venue.fake.router.calls:
        assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert call.request.headers["Accept-Datetime-Format"] == "RFC3339"
    assert venue.fake.router.calls.last.request.headers["Content-Type"] == "application/json"


# ---------------------------------------------------------------------- rules and prices
async def test_rules_are_loaded_once_per_instrument(venue: OandaHarness) -> None:
    assert await venue.exchange.symbol_rules("EURUSD") == RULES
    assert (await venue.exchange.symbol_rules("EUR_USD")).symbol == "EUR_USD"
    await venue.exchange.last_price("EUR/USD")
    assert calls(venue) == [("GET", "/instruments"), ("GET", "/pricing")]
    assert venue.fake.router.calls[0].request.url.params["instruments"] == "EUR_USD"
    gold = await venue.exchange.symbol_rules("XAUUSD")
    assert (gold.tick_size, gold.step_size, gold.min_quantity) == (D("0.001"), D("1"), D("1"))


async def test_warm_up_loads_every_instrument_in_one_request(venue: OandaHarness) -> None:
    await venue.exchange.warm_up()
    assert calls(venue) == [("GET", "/instruments")]
    assert "instruments" not in venue.fake.router.calls[0].request.url.params  # the account's whole list
    assert await venue.exchange.symbol_rules("EURUSD") == RULES
    assert (await venue.exchange.symbol_rules("XAUUSD")).tick_size == D("0.001")
    assert len(calls(venue)) == 1  # the first signals for them ask for nothing more


async def test_unknown_instrument_is_unknown_symbol(venue: OandaHarness) -> None:
    with pytest.raises(UnknownSymbol):
        await venue.exchange.symbol_rules("FOOBAR")


async def test_last_price_is_the_mid_at_display_precision(venue: OandaHarness) -> None:
    await warm(venue)
    body = fixture("pricing.json")
    body["prices"][0]["bids"][0]["price"], body["prices"][0]["asks"][0]["price"] = "1.10000", "1.10003"
    venue.fake.router.routes["pricing"].return_value = reply(200, body)
    venue.fake.router.routes["pricing"].side_effect = None
    assert await venue.exchange.last_price(SYMBOL) == D("1.10002")  # 1.100015 half-up
    del body["prices"][0]["bids"], body["prices"][0]["asks"]  # no depth: closeout prices
    venue.fake.router.routes["pricing"].return_value = reply(200, body)
    assert await venue.exchange.last_price(SYMBOL) == D("1.10000")
    assert venue.fake.router.calls.last.request.url.params["instruments"] == "EUR_USD"


# ---------------------------------------------------------------------- entries
async def test_open_long_with_stop_and_target_is_one_round_trip(venue: OandaHarness) -> None:
    await warm(venue)
    bracket = Bracket(stop_loss=D("1.09000"), take_profit=D("1.12000"))
    order = await venue.exchange.place_order(entry(Side.BUY, bracket=bracket))
    assert calls(venue) == [("POST", "/orders")]
    assert last_body(venue) == {"order": {
        "type": "MARKET", "instrument": "EUR_USD", "units": "1000", "timeInForce": "FOK",
        "positionFill": "DEFAULT", "clientExtensions": {"id": "sp0000-e", "tag": "sparky"},
        "stopLossOnFill": {"price": "1.09000", "timeInForce": "GTC",
                           "clientExtensions": {"id": "sp0000-e-sl", "tag": "sparky"}},
        "takeProfitOnFill": {"price": "1.12000", "timeInForce": "GTC",
                             "clientExtensions": {"id": "sp0000-e-tp", "tag": "sparky"}},
    }}
    assert (order.status, order.side, order.symbol, order.filled_quantity, order.average_price) == \
        (OrderStatus.FILLED, Side.BUY, SYMBOL, QTY, PRICE)
    assert (order.stop_loss_order_id, order.take_profit_order_id) == ("@sp0000-e-sl", "@sp0000-e-tp")
    # the ids address the orders OANDA created on fill
    stop = await venue.exchange.get_order(SYMBOL, order_id=order.stop_loss_order_id)
    assert stop is not None and (stop.kind, stop.side, stop.trigger_price, stop.status) == \
        (OrderKind.STOP, Side.SELL, D("1.09000"), OrderStatus.OPEN)


async def test_open_short_sends_negative_units_and_protective_prices_on_the_right_sides(venue: OandaHarness) -> None:
    await warm(venue)
    bracket = Bracket(stop_loss=D("1.11000"), take_profit=D("1.08000"))
    order = await venue.exchange.place_order(entry(Side.SELL, bracket=bracket))
    sent = last_body(venue)["order"]
    assert (sent["units"], sent["stopLossOnFill"]["price"], sent["takeProfitOnFill"]["price"]) == \
        ("-1000", "1.11000", "1.08000")
    assert order.side is Side.SELL and order.filled_quantity == QTY
    assert venue.fake.trades[0]["units"] == D("-1000")
    target = await venue.exchange.get_order(SYMBOL, order_id=order.take_profit_order_id)
    assert target is not None and (target.kind, target.side, target.trigger_price) == \
        (OrderKind.TAKE_PROFIT, Side.BUY, D("1.08000"))


async def test_prices_and_units_are_formatted_with_the_instrument_precision(venue: OandaHarness) -> None:
    await warm(venue)
    bracket = Bracket(stop_loss=D("1.12247999999"), take_profit=D("1.1"))  # float artefacts, short decimals
    await venue.exchange.place_order(entry(Side.BUY, kind=OrderKind.LIMIT, price=D("1.0949999999"),
                                           quantity=D("1000.9"), bracket=bracket))
    sent = last_body(venue)["order"]
    assert (sent["price"], sent["stopLossOnFill"]["price"], sent["takeProfitOnFill"]["price"]) == \
        ("1.09500", "1.12248", "1.10000")
    assert sent["units"] == "1000"  # floored: never bigger than asked
    venue.fake.quotes["XAU_USD"] = D("2400")
    await venue.exchange.place_order(entry(Side.SELL, symbol="XAUUSD", quantity=D("5"), cid="sp0001-e",
                                           bracket=Bracket(D("2424.00049"), D("2375.5"))))
    gold = last_body(venue)["order"]
    assert (gold["instrument"], gold["units"], gold["stopLossOnFill"]["price"], gold["takeProfitOnFill"]["price"]) == \
        ("XAU_USD", "-5", "2424.000", "2375.500")


async def test_an_order_below_the_minimum_is_refused_before_sending(venue: OandaHarness) -> None:
    await warm(venue)
    with pytest.raises(InvalidOrder, match="minimum"):
        await venue.exchange.place_order(entry(Side.BUY, quantity=D("0.6")))
    assert venue.fake.router.calls.call_count == 0


async def test_a_resting_limit_entry_carries_its_bracket(venue: OandaHarness) -> None:
    await warm(venue)
    order = await venue.exchange.place_order(entry(Side.BUY, kind=OrderKind.LIMIT, price=D("1.09500"),
                                                   bracket=Bracket(D("1.08500"), D("1.11500"))))
    sent = last_body(venue)["order"]
    assert (sent["type"], sent["price"], sent["timeInForce"], sent["units"]) == ("LIMIT", "1.09500", "GTC", "1000")
    assert "stopLossOnFill" in sent and "takeProfitOnFill" in sent
    assert (order.status, order.kind, order.price, order.stop_loss_order_id) == \
        (OrderStatus.OPEN, OrderKind.LIMIT, D("1.09500"), None)
    assert calls(venue) == [("POST", "/orders")]


async def test_trailing_stop_is_attached_when_configured() -> None:
    venue = OandaHarness(trailing_stop_distance="0.0015")
    await warm(venue)
    opened = await venue.exchange.place_order(entry(Side.BUY, bracket=Bracket(D("1.09"), None)))
    assert last_body(venue)["order"]["trailingStopLossOnFill"] == {
        "distance": "0.00150", "timeInForce": "GTC", "clientExtensions": {"id": "sp0000-e-ts", "tag": "sparky"}}
    assert "takeProfitOnFill" not in last_body(venue)["order"]
    assert opened.trailing_stop_order_id == "@sp0000-e-ts"  # so a fill of it is recognised later
    stop = OrderRequest(SYMBOL, Side.SELL, OrderKind.STOP, QTY, "sp0000-sl", trigger_price=D("1.09"), reduce_only=True)
    target = OrderRequest(SYMBOL, Side.SELL, OrderKind.TAKE_PROFIT, QTY, "sp0000-tp", trigger_price=D("1.12"),
                          reduce_only=True)
    sl, _ = await venue.exchange.place_exit_pair(stop, target)
    assert last_body(venue)["trailingStopLoss"] == {
        "distance": "0.00150", "timeInForce": "GTC", "clientExtensions": {"id": "sp0000-sl-ts", "tag": "sparky"}}
    assert sl.trailing_stop_order_id == venue.fake.client_ids["sp0000-sl-ts"]


@pytest.mark.parametrize(("extra", "symbol", "distance"), [
    ({"trailingStopPips": "15"}, SYMBOL, "0.00150"),  # a pip is 10^pipLocation: 0.0001 here
    ({"trailing_stop_pips": 15}, "XAUUSD", "0.150"),  # and 0.01 for gold
    ({"trailing_stop_distance": "2.5"}, "XAUUSD", "2.500"),
])
async def test_trailing_stop_in_pips_uses_the_pip_location(extra: dict[str, Any], symbol: str, distance: str) -> None:
    venue = OandaHarness(**extra)
    venue.fake.quotes["XAU_USD"] = D("2400")
    await venue.exchange.place_order(entry(Side.BUY, symbol=symbol, quantity=D("5")))
    assert last_body(venue)["order"]["trailingStopLossOnFill"]["distance"] == distance


async def test_a_trailing_stop_carried_by_the_bracket_wins_over_the_setting() -> None:
    @dataclass(frozen=True)
    class BracketWithTrailing(Bracket):  # the shape suggested for the port (see the adapter's notes)
        trailing_stop_pips: D | None = None

    venue = OandaHarness(trailing_stop_distance="0.005")
    await venue.exchange.place_order(entry(Side.SELL, bracket=BracketWithTrailing(D("1.11"), None, D("20"))))
    assert last_body(venue)["order"]["trailingStopLossOnFill"]["distance"] == "0.00200"


@pytest.mark.parametrize("bad", ["-1", "0", "abc", "NaN"])
def test_a_bad_trailing_setting_is_refused(bad: str) -> None:
    with pytest.raises(InvalidOrder, match="trailing_stop_distance"):
        OandaExchange(credentials(extra={"trailing_stop_distance": bad}), HttpClientPool())


# ---------------------------------------------------------------------- refusals
@pytest.mark.parametrize(("reason", "error"), [
    ("INSUFFICIENT_MARGIN", InsufficientFunds), ("MARKET_HALTED", InvalidOrder),
    ("STOP_LOSS_ON_FILL_LOSS", InvalidOrder), ("INSUFFICIENT_LIQUIDITY", InvalidOrder),
])
async def test_a_201_with_an_order_cancel_is_a_failure(venue: OandaHarness, reason: str,
                                                        error: type[ExchangeError]) -> None:
    await warm(venue)
    body = fixture("order_fok_cancelled.json")
    body["orderCancelTransaction"]["reason"] = reason
    venue.fake.scripted.append(reply(201, body))
    with pytest.raises(error, match=reason):
        await venue.exchange.place_order(entry(Side.BUY))


@pytest.mark.parametrize(("status", "code", "error"), [
    (400, "INSUFFICIENT_MARGIN", InsufficientFunds),
    (400, "UNITS_PRECISION_EXCEEDED", InvalidOrder),
    (400, "UNITS_MIMIMUM_NOT_MET", InvalidOrder),  # sic: OANDA's own spelling
    (400, "PRICE_PRECISION_EXCEEDED", InvalidOrder),
    (400, "TAKE_PROFIT_ON_FILL_PRICE_PRECISION_EXCEEDED", InvalidOrder),
    (400, "STOP_LOSS_ON_FILL_PRICE_INVALID", InvalidOrder),
    (400, "MARKET_HALTED", InvalidOrder),
    (400, "INSTRUMENT_NOT_TRADEABLE", InvalidOrder),
    (400, "INSTRUMENT_UNKNOWN", UnknownSymbol),
    (400, "ACCOUNT_LOCKED", AuthenticationError),
    (404, "ACCOUNT_NOT_ACTIVE", AuthenticationError),
])
async def test_reject_codes_are_translated(venue: OandaHarness, status: int, code: str,
                                           error: type[ExchangeError]) -> None:
    await warm(venue)
    body = fixture("order_rejected.json")
    body["orderRejectTransaction"]["rejectReason"] = body["errorCode"] = code
    venue.fake.scripted.append(reply(status, body))
    with pytest.raises(error) as raised:
        await venue.exchange.place_order(entry(Side.BUY))
    assert type(raised.value) is error and raised.value.exchange == "oanda"


@pytest.mark.parametrize(("status", "error"), [
    (401, AuthenticationError), (403, AuthenticationError), (429, RateLimited),
    (500, OutcomeUnknown), (502, OutcomeUnknown), (503, OutcomeUnknown), (504, OutcomeUnknown),
])
async def test_http_statuses_on_an_order_are_translated(venue: OandaHarness, status: int,
                                                        error: type[ExchangeError]) -> None:
    await warm(venue)
    venue.fake.scripted.append(httpx.Response(status, text="<html>gateway</html>"))
    with pytest.raises(error):
        await venue.exchange.place_order(entry(Side.BUY))
    assert venue.order_requests() == 1  # never resent


async def test_reads_retry_outages_and_then_report_them(venue: OandaHarness) -> None:
    await warm(venue)
    venue.fake.router.routes["positions"].side_effect = [httpx.Response(503), httpx.Response(429, json={}),
                                               httpx.Response(502)]
    with pytest.raises(ExchangeUnavailable):
        await venue.exchange.position(SYMBOL)
    assert calls(venue) == [("GET", "/openPositions")] * 3


async def test_connection_failures_are_exchange_unavailable(venue: OandaHarness) -> None:
    await warm(venue)
    venue.fake.router.routes["positions"].side_effect = httpx.ConnectError("refused")
    with pytest.raises(ExchangeUnavailable):
        await venue.exchange.position(SYMBOL)


async def test_unreadable_success_on_an_order_is_an_unknown_outcome(venue: OandaHarness) -> None:
    await warm(venue)
    venue.fake.scripted.append(httpx.Response(201, text="not json"))
    with pytest.raises(OutcomeUnknown):
        await venue.exchange.place_order(entry(Side.BUY))


# ---------------------------------------------------------------------- idempotency
async def test_unknown_outcome_is_looked_up_by_client_id(venue: OandaHarness) -> None:
    await warm(venue)
    venue.next_order_outcome_unknown(D("1.10010"))
    with pytest.raises(OutcomeUnknown):
        await venue.exchange.place_order(entry(Side.BUY, cid="sp0002-e"))
    venue.fake.lagging_order_reads = 1  # the read lags the write for a moment
    found = await venue.exchange.get_order(SYMBOL, client_order_id="sp0002-e")
    assert found is not None
    assert (found.status, found.client_order_id, found.side, found.filled_quantity, found.average_price) == \
        (OrderStatus.FILLED, "sp0002-e", Side.BUY, QTY, D("1.10010"))
    assert calls(venue) == [("POST", "/orders"), ("GET", "/orders/@sp0002-e"), ("GET", "/orders/@sp0002-e"),
                            ("GET", f"/transactions/{venue.fake.trades[0]['id']}")]


async def test_a_client_id_never_seen_is_none(venue: OandaHarness) -> None:
    assert await venue.exchange.get_order(SYMBOL, client_order_id="sp9999-e") is None
    assert calls(venue) == [("GET", "/orders/@sp9999-e")] * 3  # patient: reads can lag writes


async def test_a_reused_client_id_returns_the_existing_order_instead_of_a_second(venue: OandaHarness) -> None:
    await warm(venue)
    first = await venue.exchange.place_order(entry(Side.BUY, cid="sp0003-e"))
    again = await venue.exchange.place_order(entry(Side.BUY, cid="sp0003-e"))
    assert (again.id, again.status, again.average_price) == (first.id, OrderStatus.FILLED, PRICE)
    assert len(venue.fake.trades) == 1 and venue.order_requests() == 2


# ---------------------------------------------------------------------- closes and reversals
@pytest.mark.parametrize(("held", "close_side", "key"), [(Side.BUY, Side.SELL, "long"),
                                                         (Side.SELL, Side.BUY, "short")])
async def test_close_sends_exactly_the_held_side(venue: OandaHarness, held: Side, close_side: Side, key: str) -> None:
    await warm(venue)
    venue.holding(held)
    venue.fills_at(D("1.10500"))
    order = await venue.exchange.place_order(OrderRequest(SYMBOL, close_side, OrderKind.MARKET, QTY, "sp0000-x",
                                                          reduce_only=True))
    assert calls(venue) == [("PUT", "/positions/EUR_USD/close")]
    assert last_body(venue) == {f"{key}Units": "ALL",
                                f"{key}ClientExtensions": {"id": "sp0000-x", "tag": "sparky"}}
    assert (order.status, order.side, order.reduce_only, order.filled_quantity, order.average_price) == \
        (OrderStatus.FILLED, close_side, True, QTY, D("1.10500"))
    assert await venue.exchange.position(SYMBOL) is None


async def test_closing_a_side_not_held_is_refused_not_reversed(venue: OandaHarness) -> None:
    await warm(venue)
    venue.holding(Side.SELL)
    with pytest.raises(InvalidOrder, match="CLOSEOUT_POSITION_DOESNT_EXIST"):
        await venue.exchange.place_order(OrderRequest(SYMBOL, Side.SELL, OrderKind.MARKET, QTY, "sp0000-x",
                                                      reduce_only=True))
    assert last_body(venue) == {"longUnits": "ALL", "longClientExtensions": {"id": "sp0000-x", "tag": "sparky"}}
    assert venue.fake.trades[0]["units"] == D("-1000")


async def test_open_then_exit_pair_as_the_executor_does_for_market_entries_is_three_round_trips(
        venue: OandaHarness) -> None:
    """Today's executor attaches brackets to limit entries only: a market entry is followed by
    place_exit_pair (read the open trade, set both exits on it)."""
    await warm(venue)
    await venue.exchange.place_order(entry(Side.BUY, cid="sp0013-e"))
    await venue.exchange.place_exit_pair(
        OrderRequest(SYMBOL, Side.SELL, OrderKind.STOP, QTY, "sp0013-sl", trigger_price=D("1.09"), reduce_only=True),
        OrderRequest(SYMBOL, Side.SELL, OrderKind.TAKE_PROFIT, QTY, "sp0013-tp", trigger_price=D("1.12"),
                     reduce_only=True))
    tid = venue.fake.trades[0]["id"]
    assert calls(venue) == [("POST", "/orders"), ("GET", "/openTrades"), ("PUT", f"/trades/{tid}/orders")]
    assert venue.round_trips() == 3


async def test_a_reversal_with_protection_is_two_round_trips(venue: OandaHarness) -> None:
    await warm(venue)
    venue.holding(Side.BUY)
    await venue.exchange.place_order(OrderRequest(SYMBOL, Side.SELL, OrderKind.MARKET, QTY, "sp0004-rx",
                                                  reduce_only=True))
    short = await venue.exchange.place_order(entry(Side.SELL, cid="sp0004-e",
                                                   bracket=Bracket(D("1.11100"), D("1.08900"))))
    assert calls(venue) == [("PUT", "/positions/EUR_USD/close"), ("POST", "/orders")]
    assert venue.round_trips() == 2
    assert short.status is OrderStatus.FILLED and [t["units"] for t in venue.fake.trades] == [D("-1000")]


async def test_the_close_reply_of_a_cancelled_closeout_is_a_failure(venue: OandaHarness) -> None:
    await warm(venue)
    venue.holding(Side.BUY)
    venue.fake.scripted.append(reply(200, {"longOrderCreateTransaction": {"id": "1"},
                                           "longOrderCancelTransaction": {"id": "2", "reason": "MARKET_HALTED"}}))
    with pytest.raises(InvalidOrder, match="MARKET_HALTED"):
        await venue.exchange.place_order(OrderRequest(SYMBOL, Side.SELL, OrderKind.MARKET, QTY, "sp0000-x",
                                                      reduce_only=True))


# ---------------------------------------------------------------------- protection on a trade
@pytest.mark.parametrize("held", [Side.BUY, Side.SELL])
async def test_exit_pair_is_one_request_on_the_open_trade(venue: OandaHarness, held: Side) -> None:
    await warm(venue)
    venue.holding(held)
    tid = venue.fake.trades[0]["id"]
    stop_at, target_at = (D("1.09000"), D("1.11000")) if held is Side.BUY else (D("1.11000"), D("1.09000"))
    exit_side = held.opposite
    stop = OrderRequest(SYMBOL, exit_side, OrderKind.STOP, QTY, "sp0005-sl", trigger_price=stop_at, reduce_only=True)
    target = OrderRequest(SYMBOL, exit_side, OrderKind.TAKE_PROFIT, QTY, "sp0005-tp", trigger_price=target_at,
                          reduce_only=True)
    sl, tp = await venue.exchange.place_exit_pair(stop, target)
    assert calls(venue) == [("GET", "/openTrades"), ("PUT", f"/trades/{tid}/orders")]
    assert last_body(venue) == {
        "stopLoss": {"price": format(stop_at, "f"), "timeInForce": "GTC",
                     "clientExtensions": {"id": "sp0005-sl", "tag": "sparky"}},
        "takeProfit": {"price": format(target_at, "f"), "timeInForce": "GTC",
                       "clientExtensions": {"id": "sp0005-tp", "tag": "sparky"}},
    }
    assert tp is not None
    assert (sl.kind, sl.side, sl.trigger_price, sl.status, sl.quantity) == \
        (OrderKind.STOP, exit_side, stop_at, OrderStatus.OPEN, QTY)
    assert (tp.kind, tp.side, tp.trigger_price) == (OrderKind.TAKE_PROFIT, exit_side, target_at)
    assert (sl.linked_order_id, tp.linked_order_id) == (tp.id, sl.id)


async def test_a_refused_take_profit_still_leaves_the_stop(venue: OandaHarness) -> None:
    await warm(venue)
    venue.holding(Side.BUY)
    venue.fake.scripted.append(reply(400, "trade_orders_tp_rejected.json"))
    stop = OrderRequest(SYMBOL, Side.SELL, OrderKind.STOP, QTY, "sp0006-sl", trigger_price=D("1.09"), reduce_only=True)
    target = OrderRequest(SYMBOL, Side.SELL, OrderKind.TAKE_PROFIT, QTY, "sp0006-tp", trigger_price=D("1.095"),
                          reduce_only=True)
    sl, tp = await venue.exchange.place_exit_pair(stop, target)
    assert tp is None and sl.trigger_price == D("1.09000")
    assert [set(body_of(r)) for r in venue.fake.order_calls()] == [{"stopLoss", "takeProfit"}, {"stopLoss"}]


async def test_a_refused_stop_raises(venue: OandaHarness) -> None:
    await warm(venue)
    venue.holding(Side.BUY)
    venue.fake.scripted.append(reply(400, {"stopLossOrderRejectTransaction": {"rejectReason": "STOP_LOSS_ORDER_LOSS"},
                                           "errorCode": "STOP_LOSS_ORDER_LOSS", "errorMessage": "wrong side"}))
    stop = OrderRequest(SYMBOL, Side.SELL, OrderKind.STOP, QTY, "sp0007-sl", trigger_price=D("1.2"), reduce_only=True)
    target = OrderRequest(SYMBOL, Side.SELL, OrderKind.TAKE_PROFIT, QTY, "sp0007-tp", trigger_price=D("1.3"),
                          reduce_only=True)
    with pytest.raises(InvalidOrder, match="STOP_LOSS_ORDER_LOSS"):
        await venue.exchange.place_exit_pair(stop, target)


async def test_single_stop_via_place_order_sets_only_the_stop(venue: OandaHarness) -> None:
    await warm(venue)
    venue.holding(Side.SELL)
    order = await venue.exchange.place_order(OrderRequest(SYMBOL, Side.BUY, OrderKind.STOP, QTY, "sp0008-sl",
                                                          trigger_price=D("1.1100049"), reduce_only=True))
    assert last_body(venue) == {"stopLoss": {"price": "1.11000", "timeInForce": "GTC",
                                             "clientExtensions": {"id": "sp0008-sl", "tag": "sparky"}}}
    assert (order.kind, order.side, order.client_order_id) == (OrderKind.STOP, Side.BUY, "sp0008-sl")


async def test_protection_without_an_open_trade_is_refused(venue: OandaHarness) -> None:
    await warm(venue)
    venue.holding(Side.SELL)  # a short, but the request protects a long
    with pytest.raises(InvalidOrder, match="no open long trade"):
        await venue.exchange.place_order(OrderRequest(SYMBOL, Side.SELL, OrderKind.STOP, QTY, "sp0009-sl",
                                                      trigger_price=D("1.09"), reduce_only=True))
    assert venue.order_requests() == 0


async def test_protection_right_after_an_entry_uses_the_trade_the_fill_reported(venue: OandaHarness) -> None:
    await warm(venue)
    await venue.exchange.place_order(entry(Side.BUY, cid="sp0010-e"))
    venue.fake.lagging_trades = True  # openTrades has not caught up with the fill yet
    sl, tp = await venue.exchange.place_exit_pair(
        OrderRequest(SYMBOL, Side.SELL, OrderKind.STOP, QTY, "sp0010-sl", trigger_price=D("1.09"), reduce_only=True),
        OrderRequest(SYMBOL, Side.SELL, OrderKind.TAKE_PROFIT, QTY, "sp0010-tp", trigger_price=D("1.12"),
                     reduce_only=True))
    assert calls(venue)[-1] == ("PUT", f"/trades/{venue.fake.trades[0]['id']}/orders")
    assert sl.status is OrderStatus.OPEN and tp is not None


async def test_an_unanswered_protection_request_is_found_by_client_id(venue: OandaHarness) -> None:
    await warm(venue)
    venue.holding(Side.BUY)

    def apply_then_time_out(request: httpx.Request) -> httpx.Response:
        venue.fake._trade_orders(request, request.url.path.split("/")[-2])
        raise httpx.ReadTimeout("timed out", request=request)
    venue.fake.scripted.append(apply_then_time_out)
    sl, tp = await venue.exchange.place_exit_pair(
        OrderRequest(SYMBOL, Side.SELL, OrderKind.STOP, QTY, "sp0011-sl", trigger_price=D("1.09"), reduce_only=True),
        OrderRequest(SYMBOL, Side.SELL, OrderKind.TAKE_PROFIT, QTY, "sp0011-tp", trigger_price=D("1.12"),
                     reduce_only=True))
    assert venue.order_requests() == 1
    assert (sl.client_order_id, sl.trigger_price, tp and tp.client_order_id) == ("sp0011-sl", D("1.09000"), "sp0011-tp")


# ---------------------------------------------------------------------- orders, positions, balance
async def test_orders_are_read_cancelled_and_listed(venue: OandaHarness) -> None:
    await warm(venue)
    order = await venue.exchange.place_order(entry(Side.BUY, bracket=Bracket(D("1.09"), D("1.12"))))
    venue.fake.quotes["XAU_USD"] = D("2400")
    await venue.exchange.place_order(entry(Side.SELL, kind=OrderKind.LIMIT, symbol="XAUUSD", quantity=D("5"),
                                           price=D("2410"), cid="sp0012-e"))
    assert [(o.kind, o.side) for o in await venue.exchange.open_orders(SYMBOL)] == \
        [(OrderKind.TAKE_PROFIT, Side.SELL), (OrderKind.STOP, Side.SELL)]
    everything = await venue.exchange.open_orders()
    assert {o.symbol for o in everything} == {"EUR_USD", "XAU_USD"} and len(everything) == 3  # OANDA's names
    stop = await venue.exchange.get_order(SYMBOL, order_id=order.stop_loss_order_id)
    assert stop is not None
    cancelled = await venue.exchange.cancel_order(SYMBOL, stop.id)
    assert cancelled.status is OrderStatus.CANCELED and calls(venue)[-1] == ("PUT", f"/orders/{stop.id}/cancel")
    with pytest.raises(OrderNotFound):
        await venue.exchange.cancel_order(SYMBOL, stop.id)
    with pytest.raises(OrderNotFound):
        await venue.exchange.cancel_order(SYMBOL, "424242")


async def test_a_filled_stop_loss_reports_its_exit_price(venue: OandaHarness) -> None:
    fill = fixture("transaction_fill.json")["transaction"]
    fill.update(id="7001", units="-1000", price="1.09000", reason="STOP_LOSS_ORDER", tradeOpened=None,
                tradesClosed=[{"tradeID": "6358", "units": "-1000", "price": "1.09000"}])
    order = fixture("order_stop_loss_get.json")["order"]
    order.update(state="FILLED", fillingTransactionID="7001")
    venue.fake.orders["6391"], venue.fake.transactions["7001"] = order, fill
    found = await venue.exchange.get_order(SYMBOL, order_id="6391")
    assert found is not None
    assert (found.status, found.kind, found.side, found.average_price, found.filled_quantity) == \
        (OrderStatus.FILLED, OrderKind.STOP, Side.SELL, D("1.09000"), QTY)
    assert calls(venue) == [("GET", "/orders/6391"), ("GET", "/transactions/7001")]


async def test_positions_and_balance(venue: OandaHarness) -> None:
    venue.holding(Side.BUY, D("2500"), D("1.09876"))
    venue.fake.open_trade("XAU_USD", D("-3"), D("2400.125"))
    assert [(p.symbol, p.side, p.quantity, p.entry_price) for p in await venue.exchange.positions()] == \
        [("EUR_USD", Side.BUY, D("2500"), D("1.09876")), ("XAU_USD", Side.SELL, D("3"), D("2400.125"))]
    assert (await venue.exchange.position("EUR_USD")).symbol == "EUR_USD"  # echoes the caller's spelling
    balance = await venue.exchange.balance()
    assert (balance.currency, balance.total, balance.available) == ("USD", D("100000.0000"), D("99967.3700"))
    assert balance.extra == {"nav": D("100004.0000"), "unrealized_pnl": D("4.0000"), "margin_used": D("36.6300")}
    assert await venue.exchange.ping() is True


# ---------------------------------------------------------------------- through the whole server
async def test_alerts_open_and_reverse_through_the_server(start: Any, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The real app with a config.json `oanda` section: the executor attaches the bracket to the
    entry, so an open with SL+TP is one order request and a reversal two."""
    import sparky.services

    fake = FakeOanda()
    monkeypatch.setattr(sparky.services, "HttpClientPool", lambda: fake.pool)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"oanda": {"accountId": ACCOUNT, "accessToken": TOKEN}}))
    async with start(config_path=config) as server:
        opened = await server.alert(exchange="oanda", action="buy", symbol="EURUSD", quantity=1000,
                                    stop_loss_percent=1, take_profit_percent=2)
        assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
        [sent] = fake.order_calls()
        order = body_of(sent)["order"]
        assert (order["units"], order["stopLossOnFill"]["price"], order["takeProfitOnFill"]["price"]) == \
            ("1000", "1.08900", "1.12200")
        # reads: the instrument (once: it names the symbol, then serves the rules), reconcile and the
        # resting orders (concurrently), a reference price (the alert has none); then the entry, which
        # carries both exits — their ids come back with the fill, their prices are ours
        assert calls(fake)[0] == ("GET", "/instruments")
        assert sorted(calls(fake)[1:3]) == [("GET", "/openPositions"), ("GET", "/pendingOrders")]
        assert calls(fake)[3:] == [("GET", "/pricing"), ("POST", "/orders")]
        position = opened.json()["position"]
        assert (position["stopLossPrice"], position["takeProfitPrice"]) == (1.089, 1.122)

        fake.router.calls.clear()
        reversed_ = await server.alert(exchange="oanda", action="sell", symbol="EURUSD", quantity=1000,
                                       stop_loss_percent=1, take_profit_percent=2)
        assert reversed_.status_code == 200 and reversed_.json()["action"] == "reversed", reversed_.text
        close, short = fake.order_calls()
        assert body_of(close)["longUnits"] == "ALL" and body_of(short)["order"]["units"] == "-1000"
        assert [c for c in calls(fake) if c[0] != "GET"] == [("PUT", "/positions/EUR_USD/close"),
                                                                ("POST", "/orders")]
        # + reconcile, the resting orders (pending orders and their trades, read alongside), price,
        # 2 exit cancels (already gone); the close filled all of it: no second read of the position
        assert len(calls(fake)) == 8
        assert [t["units"] for t in fake.trades] == [D("-1000")]

        fake.router.calls.clear()
        closed = await server.alert(exchange="oanda", action="close", symbol="EURUSD")
        assert closed.status_code == 200 and closed.json()["action"] == "closed", closed.text
        [close] = fake.order_calls()
        assert close.url.path.endswith("/positions/EUR_USD/close")
        assert body_of(close) == {"shortUnits": "ALL", "shortClientExtensions": {
            "id": closed.json()["closeOrder"]["clientOrderId"], "tag": "sparky"}}
        assert fake.trades == []
        assert (await server.admin_get("/positions")).json()["totalPositions"] == 0


async def test_concurrent_first_lookups_of_an_instrument_make_one_request(venue: OandaHarness) -> None:
    venue.fake.network_turns = True  # the requests overlap, as on a network
    rules = await asyncio.gather(*(venue.exchange.symbol_rules("EURUSD") for _ in range(5)))
    assert rules == [RULES] * 5
    assert calls(venue) == [("GET", "/instruments")]


async def test_a_lookup_during_the_warm_up_waits_for_its_list_instead_of_asking_again(venue: OandaHarness) -> None:
    venue.fake.network_turns = True
    await asyncio.gather(venue.exchange.warm_up(), venue.exchange.symbol_rules("EURUSD"),
                         venue.exchange.symbol_rules("XAUUSD"))
    assert calls(venue) == [("GET", "/instruments")]
    assert "instruments" not in venue.fake.router.calls[0].request.url.params  # the account's whole list
