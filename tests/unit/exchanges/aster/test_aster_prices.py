"""Aster's quotes for the background price refresh: best bid and ask from the public bookTicker,
one unsigned request for any number of symbols (tests/fixtures/aster/book_ticker_all.json)."""

from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx

from sparky.exchanges.base import Quote
from tests.unit.exchanges.aster.test_aster import FakeAster, aster

BOOKS = json.loads((Path(__file__).resolve().parents[3] / "fixtures" / "aster" / "book_ticker_all.json")
                   .read_text(encoding="utf-8"))["reply"]


def book_ticker(fake: FakeAster) -> None:
    def answer(params: dict[str, str]) -> Any:
        return next(b for b in BOOKS if b["symbol"] == params["symbol"]) if "symbol" in params else BOOKS
    fake.routes[("GET", "/fapi/v1/ticker/bookTicker")] = answer


async def test_many_symbols_in_one_unsigned_request(fake: FakeAster, http: Any) -> None:
    book_ticker(fake)
    quotes = await aster(http).prices(["BTCUSDT", "SOLUSDT", "NOPEUSDT"])
    assert quotes == {"BTCUSDT": Quote("BTCUSDT", bid=D("27990.0"), ask=D("28010.0")),
                      "SOLUSDT": Quote("SOLUSDT", bid=D("61.200"), ask=D("61.210"))}  # unlisted: left out
    [request] = fake.received
    assert (request.url.path, request.url.query) == ("/fapi/v1/ticker/bookTicker", b"")
    assert "X-MBX-APIKEY" not in request.headers


async def test_one_symbol_asks_for_that_symbol_only(fake: FakeAster, http: Any) -> None:
    book_ticker(fake)
    assert await aster(http).prices(["ETHUSDT"]) == {"ETHUSDT": Quote("ETHUSDT", bid=D("2100.00"), ask=D("2100.10"))}
    assert httpx.QueryParams(fake.received[0].url.query) == httpx.QueryParams({"symbol": "ETHUSDT"})


async def test_every_user_of_the_host_shares_the_price_scope(http: Any) -> None:
    assert aster(http).price_scope == ("aster", "https://fapi.asterdex.com")
