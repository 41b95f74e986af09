"""Where a tenant's credentials may send Sparky, through the real app on the Supabase store.

On Supabase each user writes their own `bot_credentials` row through the dashboard: a base URL
there may only name one of the venue's official hosts, account ids and tokens must be what the
venue issues, and nothing a venue (or anything posing as one) answered is read back to the user
beyond a short reason. The operator's own rows (the embedded SQLite store) keep any base URL.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import respx

import sparky.exchanges.ccxt.adapter as ccxt_venue
from sparky.store.base import RequestStatus
from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from tests.conftest import Sparky
from tests.unit.exchanges.ccxt.test_ccxt import KEY as BYBIT_KEY
from tests.unit.exchanges.ccxt.test_ccxt import SECRET as BYBIT_SECRET
from tests.unit.exchanges.ccxt.test_ccxt import BybitVenue
from tests.unit.exchanges.tradier.test_tradier import ACCOUNT as TRADIER_ACCOUNT
from tests.unit.exchanges.tradier.test_tradier import FakeTradier

pytest.importorskip("supabase", reason="supabase-py is not installed (pip install supabase)")

from tests.unit.store.supabase.test_store import KEY, REST, URL, FakePostgrest  # noqa: E402

ALICE = "11111111-1111-4111-8111-111111111111"
ALICE_SECRET = "alice-secret-8c1f2e"
#: what a service only the server can reach keeps (a database admin page on loopback)
INTERNAL = "http://127.0.0.1:8200"
INTERNAL_REPLY = {"errorMessage": "db_password=hunter2", "msg": "db_password=hunter2",
                  "errors": {"error": ["db_password=hunter2"]}}
OANDA_ACCOUNT = "101-004-1234567-001"


@asynccontextmanager
async def on_supabase(start: Callable[..., Any], router: respx.MockRouter) -> AsyncIterator[Sparky]:
    """The app on the Supabase store (an in-memory PostgREST), with Alice's webhook secret."""
    router.route(url__startswith=REST).mock(side_effect=FakePostgrest())
    async with start(supabase_url=URL, supabase_service_role_key=KEY) as sparky:
        await sparky.services.store.upsert_credentials(
            CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest(ALICE_SECRET)))
        await sparky.services.secrets.refresh()
        yield sparky


async def keys(sparky: Sparky, exchange: str, **fields: Any) -> None:
    """Alice stores her keys for `exchange`, as the dashboard writes them."""
    await sparky.services.store.upsert_credentials(CredentialRecord(ALICE, exchange, **fields))


async def alert(sparky: Sparky, **fields: Any) -> dict[str, Any]:
    body = {"secret": ALICE_SECRET, "action": "buy", "position_size_usd": 100, "stop_loss_percent": 2,
            "take_profit_percent": 4, **fields}
    response = await sparky.client.post("/webhook", json=body)
    return {"status": response.status_code, "text": response.text, **response.json()}


async def assert_refused_and_recorded(sparky: Sparky, result: dict[str, Any], *words: str) -> None:
    assert result["status"] == 400 and result["action"] == "rejected", result
    for word in words:
        assert word in result["message"], result["message"]
    assert "db_password" not in result["text"]
    row = await sparky.services.store.get_webhook_request(result["request_id"])
    assert row is not None and (row.status, row.http_status) == (RequestStatus.REJECTED, 400)


# ------------------------------------------------------------------ base URLs
@pytest.mark.parametrize(("exchange", "fields", "symbol"), [
    ("tradier", {"api_key": "tradier-token", "account_id": TRADIER_ACCOUNT}, "AAPL"),
    ("oanda", {"api_key": "oanda-token", "account_id": OANDA_ACCOUNT}, "EURUSD"),
    ("aster", {"api_key": "aster-key", "api_secret": "aster-secret"}, "BTCUSDT"),
])
async def test_a_tenants_api_url_never_reaches_a_service_inside_the_network(
        start, exchange: str, fields: dict[str, Any], symbol: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        internal = router.route(host="127.0.0.1").mock(return_value=httpx.Response(400, json=INTERNAL_REPLY))
        async with on_supabase(start, router) as sparky:
            await keys(sparky, exchange, **fields, extra_metadata={"apiUrl": f"{INTERNAL}/v1"})
            result = await alert(sparky, exchange=exchange, symbol=symbol, price=100)

            assert not internal.called  # refused before any adapter existed
            await assert_refused_and_recorded(sparky, result, "apiUrl", "127.0.0.1", "not one of")
            assert result["field"] == "exchange"
            assert "https://" in result["hint"] and "Bot Credentials" in result["hint"]


@pytest.mark.parametrize(("api_url", "allowed"), [
    ("https://api-testnet.bybit.com", True),  # ccxt lists it as Bybit's testnet
    ("https://api.bybit.com", True),
    ("http://api-testnet.bybit.com", False),  # keys in clear text
    ("https://api-testnet.bybit.com.internal.example", False),
    ("https://api-testnet.bybit.com:8443", False),
    ("https://user@api-testnet.bybit.com", False),
    (f"{INTERNAL}/", False),
])
async def test_a_ccxt_tenant_may_pick_only_hosts_ccxt_lists_for_the_venue(
        start, monkeypatch: pytest.MonkeyPatch, api_url: str, allowed: bool) -> None:
    bybit = BybitVenue()
    monkeypatch.setattr(ccxt_venue, "default_factory", bybit._factory)  # the app's adapter talks to the fake
    bybit.requests.clear()
    with respx.mock(assert_all_called=False) as router:
        async with on_supabase(start, router) as sparky:
            await keys(sparky, "bybit", api_key=BYBIT_KEY, api_secret=BYBIT_SECRET,
                       extra_metadata={"apiUrl": api_url})
            bybit.last = bybit.fill = D("2000")
            result = await alert(sparky, exchange="bybit", symbol="ETHUSDT", price="2000")

            if allowed:
                assert result["status"] == 200 and result["action"] == "opened", result
                assert {r.host for r in bybit.requests} == {api_url.removeprefix("https://")}
            else:
                assert bybit.requests == []
                await assert_refused_and_recorded(sparky, result, "apiUrl")


async def test_a_tenant_on_the_official_sandbox_host_trades(start) -> None:
    with respx.mock(assert_all_called=False) as router:
        venue = FakeTradier(router)
        async with on_supabase(start, router) as sparky:
            await keys(sparky, "tradier", api_key="tradier-token", account_id=TRADIER_ACCOUNT,
                       extra_metadata={"apiUrl": "https://sandbox.tradier.com/v1/", "environment": "sandbox"})
            venue.quote("AAPL", D("200.00"))
            venue.fill_price = D("200.00")
            result = await alert(sparky, exchange="tradier", symbol="AAPL", price="200.00", position_size_usd=2000)

            assert result["status"] == 200 and result["action"] == "opened", result
            assert {call.request.url.host for call in router.calls
                    if not call.request.url.path.startswith("/rest/")} == {"sandbox.tradier.com"}
            assert [form["class"] for form in venue.forms] == ["equity", "oco"]


async def test_the_operators_own_rows_keep_any_base_url(start) -> None:
    """The embedded store is written by the operator (`sparky users credentials --api-url`): a test
    server or a proxy there is used as given."""
    with respx.mock(assert_all_called=False) as router:
        internal = router.route(host="127.0.0.1").mock(
            return_value=httpx.Response(200, json={"positions": "null"}))
        async with start() as sparky:
            await sparky.services.store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))
            await keys(sparky, "webhook", webhook_secret=secret_digest(ALICE_SECRET))
            await sparky.services.secrets.refresh()
            await keys(sparky, "tradier", api_key="tradier-token", account_id=TRADIER_ACCOUNT,
                       extra_metadata={"apiUrl": f"{INTERNAL}/v1"})
            await alert(sparky, exchange="tradier", symbol="AAPL", price="200.00")
            assert internal.called
            assert f"/v1/accounts/{TRADIER_ACCOUNT}/positions" in [c.request.url.path for c in internal.calls]


# ------------------------------------------------------------------ ids and tokens
@pytest.mark.parametrize(("exchange", "fields", "symbol", "named"), [
    ("oanda", {"api_key": "oanda-token", "account_id": "x/../../admin"}, "EURUSD", "account_id"),
    ("oanda", {"api_key": "oanda-token", "account_id": f"{OANDA_ACCOUNT}/../../../admin"}, "EURUSD", "account_id"),
    ("tradier", {"api_key": "tradier-token", "account_id": "VA1/../../admin"}, "AAPL", "account_id"),
    ("tradier", {"api_key": "tok\r\nX-Forwarded-Host: evil", "account_id": TRADIER_ACCOUNT}, "AAPL", "api_key"),
    ("oanda", {"api_key": "tok\nX-Injected: 1", "account_id": OANDA_ACCOUNT}, "EURUSD", "api_key"),
    ("aster", {"api_key": "key\r\nX-Injected: 1", "api_secret": "s"}, "BTCUSDT", "api_key"),
])
async def test_account_ids_and_tokens_that_would_bend_the_request_are_refused(
        start, exchange: str, fields: dict[str, Any], symbol: str, named: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        venues = router.route(host__regex=r"(asterdex|oanda|tradier)\.com$").mock(
            return_value=httpx.Response(404, json=INTERNAL_REPLY))
        async with on_supabase(start, router) as sparky:
            await keys(sparky, exchange, **fields)
            result = await alert(sparky, exchange=exchange, symbol=symbol, price=100)

            assert not venues.called
            await assert_refused_and_recorded(sparky, result, named)
            assert "X-Injected" not in result["message"] and "admin" not in result["message"]


# ------------------------------------------------------------------ what a venue answered
async def test_a_venues_reply_body_never_reaches_the_answer_on_tradier(start) -> None:
    with respx.mock(assert_all_called=False) as router:
        sandbox = router.route(host="sandbox.tradier.com").mock(
            return_value=httpx.Response(400, text="<html><body>db_password=hunter2 at node-7</body></html>"))
        async with on_supabase(start, router) as sparky:
            await keys(sparky, "tradier", api_key="tradier-token", account_id=TRADIER_ACCOUNT,
                       extra_metadata={"environment": "sandbox"})
            result = await alert(sparky, exchange="tradier", symbol="AAPL", price="200.00")
            assert sandbox.called

    assert result["status"] == 400 and "db_password" not in result["text"] and "<html" not in result["text"]
    assert result["message"] == f"tradier: HTTP 400 on GET /v1/accounts/{TRADIER_ACCOUNT}/positions"


async def test_a_ccxt_venues_reply_body_never_reaches_the_answer(start, tmp_path, monkeypatch) -> None:
    """ccxt writes the venue's whole reply into its errors: only the code and the sentence are shown."""
    bybit = BybitVenue()
    monkeypatch.setattr(ccxt_venue, "default_factory", bybit._factory)
    bybit.fail_all = (200, {"retCode": 10001, "retMsg": "params error: symbol invalid",
                            "result": {"node": "db_password=hunter2"}, "retExtInfo": {}, "time": 1765000000000})
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": BYBIT_KEY, "apiSecret": BYBIT_SECRET}}))
    async with start(config_path=config) as sparky:
        response = await sparky.alert(exchange="bybit", symbol="ETHUSDT", action="buy", price=2000,
                                      position_size_usd=100)
    assert bybit.requests  # the venue was asked, and refused
    assert "db_password" not in response.text and "retExtInfo" not in response.text
    assert response.status_code == 400
    assert response.json()["message"] == "bybit: BadRequest: code 10001: params error: symbol invalid"
