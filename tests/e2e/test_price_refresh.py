"""The background price refresh through the real app: every open position gets its current price
and unrealized P&L on its owner's own row, from one price request per venue (public prices) or per
account (prices read with the account's token). Venues are mocked at the HTTP layer (respx) with
the replies their docs show (tests/fixtures/<venue>/); a cycle is driven by `run_once`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from sparky.store.base import PositionRecord, StoreUnavailable
from sparky.store.tenants import CredentialRecord, LocalUser
from tests.conftest import Sparky

ALICE, BOB = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
ALICE_OANDA, BOB_TRADIER = "101-004-1111111-001", "VA000002"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ASTER = "https://fapi.asterdex.com"
OANDA = f"https://api-fxtrade.oanda.com/v3/accounts/{ALICE_OANDA}"
TRADIER = "https://api.tradier.com/v1"
OPENED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def fixture(path: str) -> Any:
    data = json.loads((FIXTURES / path).read_text())
    return data["reply"] if isinstance(data, dict) and "reply" in data else data


def instruments(request: httpx.Request) -> httpx.Response:
    """The account's instruments asked for: EUR_USD as the fixture lists it, USD_JPY alike in yen."""
    [eur_usd] = [i for i in fixture("oanda/instruments.json")["instruments"] if i["name"] == "EUR_USD"]
    usd_jpy = {**eur_usd, "name": "USD_JPY", "displayName": "USD/JPY", "pipLocation": -2, "displayPrecision": 3}
    wanted = request.url.params["instruments"].split(",")
    return httpx.Response(200, json={"instruments": [i for i in (eur_usd, usd_jpy) if i["name"] in wanted]})


@pytest.fixture
def venues() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as router:
        yield router


@pytest.fixture
async def server(start: Any, venues: respx.MockRouter) -> AsyncIterator[Sparky]:
    async with start(price_refresh_sec=0) as sparky:
        store = sparky.services.store
        for user in (ALICE, BOB):
            await store.add_local_user(LocalUser(user, f"{user[:4]}@example.com", "Pro"))
            await store.upsert_credentials(CredentialRecord(user, "aster", api_key=f"key-{user[:4]}",
                                                            api_secret=f"secret-{user[:4]}"))
        await store.upsert_credentials(CredentialRecord(ALICE, "oanda", api_key="alice-oanda-token",
                                                        account_id=ALICE_OANDA))
        await store.upsert_credentials(CredentialRecord(BOB, "tradier", api_key="bob-tradier-token",
                                                        account_id=BOB_TRADIER))
        yield sparky


async def hold(sparky: Sparky, user: str, exchange: str, symbol: str, side: str, quantity: str, entry: str) -> None:
    await sparky.services.store.upsert_position(PositionRecord(
        user_id=user, exchange=exchange, symbol=symbol, side=side, entry_price=D(entry), quantity=D(quantity),
        entry_time=OPENED, position_size_usd=D(entry) * D(quantity)))


async def row(sparky: Sparky, user: str, exchange: str, symbol: str) -> tuple[Any, ...]:
    position = await sparky.services.store.get_position(user, exchange, symbol)
    assert position is not None
    return position.current_price, position.unrealized_pnl_usd, position.unrealized_pnl_percent


async def refresh(sparky: Sparky) -> Any:
    assert sparky.services.prices is not None
    return await sparky.services.prices.run_once()


def aster_books(venues: respx.MockRouter) -> respx.Route:
    return venues.get(f"{ASTER}/fapi/v1/ticker/bookTicker").mock(
        return_value=httpx.Response(200, json=fixture("aster/book_ticker_all.json")))


def oanda_account(venues: respx.MockRouter, **pricing: Any) -> respx.Route:
    venues.get(f"{OANDA}/instruments").mock(side_effect=instruments)
    return venues.get(f"{OANDA}/pricing").mock(**(pricing or {
        "return_value": httpx.Response(200, json=fixture("oanda/pricing_many.json"))}))


async def test_two_users_on_a_public_venue_share_one_request_and_each_gets_their_own_pnl(
        server: Sparky, venues: respx.MockRouter) -> None:
    books = aster_books(venues)
    await hold(server, ALICE, "aster", "BTCUSDT", "BUY", "0.01", "27000")
    await hold(server, BOB, "aster", "BTCUSDT", "SELL", "0.02", "27500")
    await hold(server, BOB, "aster", "ETHUSDT", "BUY", "0.5", "2000")

    report = await refresh(server)

    assert books.call_count == 1  # every symbol of both users in one unsigned request
    sent = books.calls.last.request
    assert sent.url.query == b"" and "x-mbx-apikey" not in sent.headers  # nobody's key
    assert (report.requests, report.written) == (1, 3)
    assert await row(server, ALICE, "aster", "BTCUSDT") == (D("27990.0"), D("9.9"), D("3.6667"))  # long: the bid
    assert await row(server, BOB, "aster", "BTCUSDT") == (D("28010.0"), D("-10.2"), D("-1.8545"))  # short: the ask
    assert await row(server, BOB, "aster", "ETHUSDT") == (D("2100.00"), D(50), D(5))
    alice = await server.services.store.get_position(ALICE, "aster", "BTCUSDT")
    assert alice is not None and alice.last_price_update is not None
    assert (datetime.now(UTC) - alice.last_price_update).total_seconds() < 60
    assert (alice.quantity, alice.entry_price, alice.side) == (D("0.01"), D(27000), "BUY")


async def test_per_account_venues_are_asked_once_per_account_with_that_accounts_token(
        server: Sparky, venues: respx.MockRouter) -> None:
    pricing = oanda_account(venues)
    quotes = venues.get(f"{TRADIER}/markets/quotes").mock(
        return_value=httpx.Response(200, json=fixture("tradier/quotes_many.json")))
    await hold(server, ALICE, "oanda", "EUR_USD", "BUY", "1000", "1.10000")
    await hold(server, ALICE, "oanda", "USD_JPY", "BUY", "1000", "150.000")
    await hold(server, BOB, "tradier", "AAPL", "BUY", "10", "180")
    await hold(server, BOB, "tradier", "MSFT", "SELL", "5", "400")

    report = await refresh(server)

    assert (pricing.call_count, quotes.call_count, report.requests) == (1, 1, 2)
    oanda = pricing.calls.last.request
    assert oanda.url.params["instruments"] == "EUR_USD,USD_JPY"
    assert oanda.headers["authorization"] == "Bearer alice-oanda-token"
    tradier = quotes.calls.last.request
    assert tradier.url.params["symbols"] == "AAPL,MSFT"
    assert tradier.headers["authorization"] == "Bearer bob-tradier-token"
    assert await row(server, ALICE, "oanda", "EUR_USD") == (D("1.10200"), D(2), D("0.1818"))
    # priced in yen: 1000 yen at 151 yen a dollar, against 150,000 yen of cost in dollars
    assert await row(server, ALICE, "oanda", "USD_JPY") == (D("151.000"), D("6.62251656"), D("0.6667"))
    assert await row(server, BOB, "tradier", "AAPL") == (D("190.1"), D(101), D("5.6111"))
    assert await row(server, BOB, "tradier", "MSFT") == (D("410.5"), D("-52.5"), D("-2.625"))  # short at the ask


async def test_a_failing_venue_never_stops_the_others(server: Sparky, venues: respx.MockRouter) -> None:
    venues.get(f"{ASTER}/fapi/v1/ticker/bookTicker").mock(
        return_value=httpx.Response(503, text="<html>Service Unavailable</html>"))
    oanda_account(venues)
    await hold(server, ALICE, "aster", "BTCUSDT", "BUY", "0.01", "27000")
    await hold(server, ALICE, "oanda", "EUR_USD", "BUY", "1000", "1.10000")

    report = await refresh(server)

    assert (report.failed_venues, report.written) == (("aster",), 1)
    assert await row(server, ALICE, "aster", "BTCUSDT") == (None, None, None)
    assert await row(server, ALICE, "oanda", "EUR_USD") == (D("1.10200"), D(2), D("0.1818"))


async def test_a_position_closed_during_the_cycle_is_not_written_back(server: Sparky, venues: respx.MockRouter) -> None:
    store = server.services.store

    async def closed_while_pricing(request: httpx.Request) -> httpx.Response:
        await store.delete_position(ALICE, "oanda", "EUR_USD")  # a close signal committed meanwhile
        return httpx.Response(200, json=fixture("oanda/pricing_many.json"))

    oanda_account(venues, side_effect=closed_while_pricing)
    await hold(server, ALICE, "oanda", "EUR_USD", "BUY", "1000", "1.10000")
    await hold(server, ALICE, "oanda", "USD_JPY", "SELL", "1000", "150.000")

    report = await refresh(server)

    assert report.written == 1
    assert await store.get_position(ALICE, "oanda", "EUR_USD") is None
    assert await row(server, ALICE, "oanda", "USD_JPY") == (D("151.020"), D("-6.75407231"), D("-0.68"))


async def test_a_user_without_keys_for_a_venue_is_skipped_and_others_priced(
        server: Sparky, venues: respx.MockRouter) -> None:
    aster_books(venues)
    await hold(server, BOB, "oanda", "EUR_USD", "BUY", "1000", "1.10000")  # Bob has no OANDA keys
    await hold(server, BOB, "aster", "SOLUSDT", "BUY", "10", "60")
    report = await refresh(server)
    assert report.written == 1
    assert await row(server, BOB, "oanda", "EUR_USD") == (None, None, None)
    assert await row(server, BOB, "aster", "SOLUSDT") == (D("61.200"), D(12), D(2))


async def test_paper_positions_are_priced_at_the_paper_venues_own_price(server: Sparky) -> None:
    opened = await server.alert(action="buy", symbol="BTCUSDT", price=27000, quantity="0.01")
    assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
    await server.paper.note_price("BTCUSDT", D(27270))
    report = await refresh(server)
    assert (report.requests, report.written) == (1, 1)
    [position] = await server.services.store.list_positions()
    assert (position.current_price, position.unrealized_pnl_usd, position.unrealized_pnl_percent) \
        == (D(27270), D("2.7"), D(1))


async def test_no_positions_no_requests(server: Sparky, venues: respx.MockRouter) -> None:
    report = await refresh(server)
    assert (report.positions, report.requests, report.written) == (0, 0, 0)
    assert venues.calls.call_count == 0


@pytest.mark.parametrize(("seconds", "running"), [(30, True), (0, False)])
async def test_the_refresh_runs_in_the_background_unless_turned_off(start: Any, seconds: int, running: bool) -> None:
    async with start(price_refresh_sec=seconds) as sparky:
        assert ("prices.refresh" in sparky.services.background.names) is running


async def test_a_single_tradier_quote_comes_as_one_object_and_is_read(server: Sparky, venues: respx.MockRouter) -> None:
    quotes = venues.get(f"{TRADIER}/markets/quotes").mock(
        return_value=httpx.Response(200, json=fixture("tradier/quotes.json")))  # {"quote": {...}}, not a list
    await hold(server, BOB, "tradier", "AAPL", "BUY", "10", "150")
    report = await refresh(server)
    assert (quotes.call_count, report.written) == (1, 1)
    assert quotes.calls.last.request.url.params["symbols"] == "AAPL"
    assert await row(server, BOB, "tradier", "AAPL") == (D("150.24"), D("2.4"), D("0.16"))


async def test_a_store_outage_fails_that_cycle_only(server: Sparky, venues: respx.MockRouter) -> None:
    """The runner logs the failed cycle and runs the next one: nothing is kept from the failed one."""
    books = aster_books(venues)
    await hold(server, ALICE, "aster", "BTCUSDT", "BUY", "0.01", "27000")
    store = server.services.store
    await store.aclose()  # the database goes away
    with pytest.raises(StoreUnavailable):
        await refresh(server)
    assert books.call_count == 0
    await store.open()  # and comes back
    assert (await refresh(server)).written == 1
    assert await row(server, ALICE, "aster", "BTCUSDT") == (D("27990.0"), D("9.9"), D("3.6667"))
