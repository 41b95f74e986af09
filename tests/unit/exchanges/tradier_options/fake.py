"""A Tradier account trading options, behind respx: expirations, chains, quotes and balances in the
documented shapes (tests/fixtures/tradier_options/), and the orders it received (OTOCO with legs,
single option orders, cancels). Expiration dates are moved to today's New York date onwards, so
selection is tested against the calendar it runs on."""

from __future__ import annotations

import copy
import itertools
import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import httpx
import respx

from sparky.execution.options.entry import market_date
from sparky.store.base import utcnow

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "tradier_options"
ACCOUNT = "VA000001"
TOKEN = "options-token-d41f"
ORDERS = f"/v1/accounts/{ACCOUNT}/orders"
#: the fixture's four expirations become today, tomorrow, a week and five weeks from today
OFFSETS = (0, 1, 8, 36)


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def today() -> date:
    return market_date(utcnow())


def listed(offset_index: int) -> date:
    return today() + timedelta(days=OFFSETS[offset_index])


def occ(root: str, expiration: date, right: str, strike: int) -> str:
    return f"{root}{expiration:%y%m%d}{'C' if right == 'call' else 'P'}{strike * 1000:08d}"


class FakeOptionsTradier:
    def __init__(self, router: respx.MockRouter) -> None:
        self.router = router
        self.expirations_body: Any = {"expirations": {"date": [listed(i).isoformat() for i in range(4)]}}
        self.chain_name = "chain.json"
        self.balances = fixture("balances_margin.json")
        self.quote = fixture("quotes_spy.json")
        self.orders: dict[int, dict[str, Any]] = {}
        self.forms: list[dict[str, str]] = []
        #: the next order is taken, but its reply is a 200 whose `errors` say nothing certain
        self.unclear_reply = False
        self._ids = itertools.count(1001, 10)
        #: (method, path) of every request, in order
        self.calls: list[tuple[str, str]] = []
        router.route(host__regex=r".*").mock(side_effect=self._seen)
        router.get(path="/v1/markets/options/expirations").mock(side_effect=lambda r: httpx.Response(
            200, json=self.expirations_body))
        router.get(path="/v1/markets/options/chains").mock(side_effect=self._chain)
        router.get(path="/v1/markets/quotes").mock(side_effect=lambda r: httpx.Response(200, json=self.quote))
        router.get(path=f"/v1/accounts/{ACCOUNT}/balances").mock(side_effect=lambda r: httpx.Response(
            200, json=self.balances))
        router.post(path=ORDERS).mock(side_effect=self._post)
        router.get(path=ORDERS).mock(side_effect=self._list)
        router.get(path__regex=rf"^{ORDERS}/(?P<oid>\d+)$").mock(side_effect=self._detail)
        router.delete(path__regex=rf"^{ORDERS}/(?P<oid>\d+)$").mock(side_effect=self._cancel)

    # ------------------------------------------------------------ scripting and reading
    def fill_entry(self, order_id: int, contracts: int) -> None:
        """The OTOCO's entry filled `contracts`: its exits are working."""
        order = self.orders[order_id]
        entry = order["leg"][0]
        entry.update(status="filled" if contracts == entry["quantity"] else "partially_filled",
                     exec_quantity=float(contracts), avg_fill_price=entry["price"])
        order["status"] = entry["status"]

    def hosts(self) -> set[str]:
        return {c.request.url.host for c in self.router.calls}

    def posted(self) -> list[tuple[str, str]]:
        """The order requests and cancels, in order."""
        return [r for r in self.calls if r[0] in ("POST", "DELETE")]

    def _seen(self, request: httpx.Request) -> None:
        self.calls.append((request.method, request.url.path))
        return None  # not answered here: the next route answers

    # ------------------------------------------------------------ the API
    def _chain(self, request: httpx.Request) -> httpx.Response:
        body = fixture(self.chain_name)
        wanted = date.fromisoformat(request.url.params["expiration"])
        assert request.url.params["greeks"] == "false"
        options = body["options"]
        if isinstance(options, dict):
            rows = options["option"] if isinstance(options["option"], list) else [options["option"]]
            for row in rows:  # the fixture's chain, listed for the expiration asked
                row["expiration_date"] = wanted.isoformat()
                row["symbol"] = occ(row["root_symbol"], wanted, row["option_type"], int(row["strike"]))
        return httpx.Response(200, json=body)

    def _post(self, request: httpx.Request) -> httpx.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["accept"] == "application/json"
        form = dict(parse_qsl(request.content.decode()))
        self.forms.append(form)
        order_id = next(self._ids)
        if form["class"] == "otoco":
            legs = []
            for i in range(3):
                leg = {"id": order_id + 1 + i, "type": form[f"type[{i}]"], "symbol": form[f"symbol[{i}]"],
                       "side": form[f"side[{i}]"], "quantity": float(form[f"quantity[{i}]"]), "status": "open",
                       "duration": form[f"duration[{i}]"], "avg_fill_price": 0.0, "exec_quantity": 0.0,
                       "class": "option", "option_symbol": form[f"option_symbol[{i}]"]}
                if f"price[{i}]" in form:
                    leg["price"] = float(form[f"price[{i}]"])
                if f"stop[{i}]" in form:
                    leg["stop_price"] = float(form[f"stop[{i}]"])
                legs.append(leg)
            order = {**copy.deepcopy(legs[0]), "id": order_id, "class": "otoco", "num_legs": 3, "leg": legs}
        else:
            order = {"id": order_id, "type": form["type"], "symbol": form["symbol"], "side": form["side"],
                     "quantity": float(form["quantity"]), "status": "pending", "duration": form["duration"],
                     "class": form["class"], "option_symbol": form["option_symbol"], "exec_quantity": 0.0}
        order["tag"] = form["tag"]
        self.orders[order_id] = order
        if self.unclear_reply:
            self.unclear_reply = False
            return httpx.Response(200, json={"errors": {"error": ["An unexpected error occurred, please retry"]}})
        reply = fixture("order_ok.json")
        reply["order"]["id"] = order_id
        return httpx.Response(200, json=reply)

    def _list(self, request: httpx.Request) -> httpx.Response:
        found = list(self.orders.values())
        return httpx.Response(200, json={"orders": {"order": found} if found else "null"})

    def _detail(self, request: httpx.Request, oid: str) -> httpx.Response:
        order = self.orders.get(int(request.url.path.rsplit("/", 1)[1]))
        if order is None:
            return httpx.Response(404, text="Not Found")
        return httpx.Response(200, json={"order": copy.deepcopy(order)})

    def _cancel(self, request: httpx.Request, oid: str) -> httpx.Response:
        order_id = int(request.url.path.rsplit("/", 1)[1])
        order = self.orders[order_id]
        for part in [order, *order.get("leg", [])]:
            if part["status"] in ("open", "partially_filled", "pending"):
                part["status"] = "canceled"
        return httpx.Response(200, json={"order": {"id": order_id, "status": "ok"}})
