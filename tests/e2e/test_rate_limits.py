"""Rate limits and source addresses as TradingView users meet them: every user's alerts arrive from
the same few addresses, so limits are per user; failures are limited per address; ALLOWED_IPS."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import RequestStatus
from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from tests.conftest import SECRET, Sparky

ALICE, BOB = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
SECRETS = {ALICE: "alice-secret-8c1f2e", BOB: "bob-secret-77d0aa"}
TRADINGVIEW = "52.89.214.238"  # one of the four addresses TradingView sends every user's alerts from


@asynccontextmanager
async def sender(sparky: Sparky, address: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose requests reach the app from `address`."""
    transport = httpx.ASGITransport(app=sparky.app, client=(address, 443))
    async with httpx.AsyncClient(transport=transport, base_url="http://sparky.test") as client:
        yield client


async def add_user(sparky: Sparky, user_id: str, plan: str = "Pro") -> None:
    store = sparky.services.store
    await store.add_local_user(LocalUser(user_id, f"{user_id[:4]}@example.com", plan))
    await store.upsert_credentials(CredentialRecord(user_id, "webhook", webhook_secret=secret_digest(SECRETS[user_id])))


@asynccontextmanager
async def with_tenants(start, **settings) -> AsyncIterator[Sparky]:
    async with start(**settings) as sparky:
        await add_user(sparky, ALICE)
        await add_user(sparky, BOB)
        await sparky.services.secrets.refresh()
        yield sparky


def entry(user: str, i: int, **fields) -> dict:
    """A distinct entry (its own symbol) that opens a small position on the paper venue."""
    return {"secret": SECRETS[user], "exchange": "paper", "action": "buy", "symbol": f"S{i}USDT", "price": 10,
            "position_size_usd": 50, **fields}


async def test_forty_alerts_from_one_address_by_two_users_are_all_recorded_and_executed(start) -> None:
    async with with_tenants(start, rate_limit="30/minute") as sparky, sender(sparky, TRADINGVIEW) as tradingview:
        responses = [await tradingview.post("/webhook", json=entry(user, i))
                     for i in range(20) for user in (ALICE, BOB)]
        assert [r.status_code for r in responses] == [200] * 40
        assert {r.json()["action"] for r in responses} == {"opened"}
        rows = await sparky.services.store.list_webhook_requests(limit=100)
        assert len(rows) == 40 and {r.status for r in rows} == {RequestStatus.SUCCESS}
        for user in (ALICE, BOB):
            assert await sparky.services.store.count_open_positions(user, "paper") == 20


async def test_the_31st_entry_of_one_user_is_refused_recorded_and_not_executed(start) -> None:
    async with with_tenants(start, rate_limit="30/minute") as sparky, sender(sparky, TRADINGVIEW) as tradingview:
        for i in range(30):
            assert (await tradingview.post("/webhook", json=entry(ALICE, i))).status_code == 200
        alice_paper = await sparky.services.accounts.get(ALICE, "paper")
        orders_before = len(alice_paper.requests)
        refused = await tradingview.post("/webhook", json=entry(ALICE, 30))
        assert refused.status_code == 429
        body = refused.json()
        assert body["error"] == "Rate limit exceeded"
        assert body["data"] == {"limit": "30/minute", "retry_after": body["data"]["retry_after"]}
        assert 0 < body["data"]["retry_after"] <= 60
        assert body["message"] == (f"Rate limit exceeded: 30/minute entries per user; retry in "
                                   f"{body['data']['retry_after']} s (exits are never limited)")
        row = await sparky.services.store.get_webhook_request(body["request_id"])
        assert (row.status, row.http_status) == (RequestStatus.RATE_LIMITED, 429)
        assert (row.user_id, row.symbol, row.action) == (ALICE, "S30USDT", "buy")
        assert len(alice_paper.requests) == orders_before  # nothing reached the venue
        assert await sparky.services.store.count_open_positions(ALICE, "paper") == 30
        # another user on the same address is not affected, and the limited user can still get out
        assert (await tradingview.post("/webhook", json=entry(BOB, 0))).json()["action"] == "opened"
        closed = await tradingview.post("/webhook", json=entry(ALICE, 0, action="close", price=11))
        assert closed.status_code == 200 and closed.json()["action"] == "closed"


async def test_the_local_user_is_limited_per_user_and_closes_always_pass(start) -> None:
    async with start(rate_limit="2/minute") as sparky:
        assert (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)).json()["action"] == "opened"
        assert (await sparky.alert(action="sell", symbol="BTCUSDT", price=27100)).json()["action"] == "reversed"
        refused = await sparky.alert(action="buy", symbol="ETHUSDT", price=1600)
        assert refused.status_code == 429 and refused.json()["data"]["limit"] == "2/minute"
        for price in (27050, 27060):  # exits are neither limited nor counted
            assert (await sparky.alert(action="close", symbol="BTCUSDT", price=price)).status_code == 200
        row = await sparky.services.store.get_webhook_request(refused.json()["request_id"])
        assert row.status is RequestStatus.RATE_LIMITED


async def test_plan_rate_limits_apply_to_that_plan_only(start) -> None:
    async with with_tenants(start, plan_rate_limits={"basic": "1/minute", "free": "1/minute"}) as sparky:
        await sparky.services.store.set_plan(ALICE, "Basic")
        assert (await sparky.client.post("/webhook", json=entry(ALICE, 0))).status_code == 200
        refused = await sparky.client.post("/webhook", json=entry(ALICE, 1))
        assert refused.status_code == 429
        assert refused.json()["data"] == {"limit": "1/minute", "retry_after": refused.json()["data"]["retry_after"],
                                          "plan": "Basic"}
        for i in range(3):  # Pro has no entry: RATE_LIMIT applies (off in these tests)
            assert (await sparky.client.post("/webhook", json=entry(BOB, i))).status_code == 200
        for i in range(3):  # nor has the local user (the shared secret), who has no plan
            assert (await sparky.alert(action="buy", symbol=f"L{i}USDT", price=10)).status_code == 200


async def test_failed_attempts_from_an_address_get_429_while_valid_alerts_from_it_pass(start) -> None:
    async with with_tenants(start, auth_failure_limit="3/minute") as sparky, \
            sender(sparky, TRADINGVIEW) as tradingview, sender(sparky, "198.51.100.9") as elsewhere:
        wrong = {"secret": "mistyped-secret", "exchange": "paper", "action": "buy", "symbol": "BTCUSDT", "price": 1}
        codes = [(await tradingview.post("/webhook", json=wrong)).status_code for _ in range(3)]
        assert codes == [401, 401, 401]
        limited = await tradingview.post("/webhook", json=wrong)
        assert limited.status_code == 429
        assert limited.json()["error"] == ("Too many failed attempts from 52.89.214.238: "
                                           "Unauthorized: Invalid webhook secret")
        assert limited.json()["data"]["limit"] == "3/minute"
        unreadable = await tradingview.post("/webhook", content=b"{not json",
                                            headers={"content-type": "application/json"})
        assert unreadable.status_code == 429  # unauthenticated in any way: also a failed attempt
        # other users' valid alerts from the same address still trade
        for user in (ALICE, BOB):
            response = await tradingview.post("/webhook", json=entry(user, 0))
            assert response.status_code == 200 and response.json()["action"] == "opened"
        assert (await tradingview.post("/webhook", json={**wrong, "secret": SECRET})).status_code == 200
        # another address has its own count
        assert (await elsewhere.post("/webhook", json=wrong)).status_code == 401
        # failed attempts name no user: only the three valid alerts were recorded
        rows = await sparky.services.store.list_webhook_requests(limit=50)
        assert sorted(r.user_id for r in rows) == sorted([ALICE, BOB, LOCAL_USER_ID])


async def test_allowed_ips_tradingview_preset_refuses_other_addresses(start) -> None:
    async with start(allowed_ips="tradingview") as sparky:
        refused = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)  # from 203.0.113.7
        assert refused.status_code == 403
        assert refused.json()["error"] == "Forbidden: 203.0.113.7 may not send webhooks to this server"
        assert sparky.paper.requests == [] and await sparky.services.store.list_webhook_requests() == []
        for address in ("52.89.214.238", "34.212.75.30", "54.218.53.128", "52.32.178.7"):
            async with sender(sparky, address) as tradingview:
                response = await tradingview.post("/webhook", json={"secret": SECRET, "exchange": "paper",
                                                                     "action": "close", "symbol": "BTCUSDT"})
                assert response.status_code == 200, address
        # operators' endpoints are reachable from anywhere (the admin token guards them)
        assert (await sparky.client.get("/health")).status_code == 200
        assert (await sparky.admin_get("/positions")).status_code == 200


async def test_allowed_ips_cidr_blocks_and_dual_stack_addresses(start) -> None:
    async with start(allowed_ips="198.51.100.0/24, 2001:db8::/32") as sparky:
        body = {"secret": SECRET, "exchange": "paper", "action": "close", "symbol": "BTCUSDT"}
        expected = {"198.51.100.20": 200, "::ffff:198.51.100.21": 200, "2001:db8::7": 200,
                    "198.51.101.1": 403, "52.89.214.238": 403, "2001:db9::1": 403}
        for address, status in expected.items():
            async with sender(sparky, address) as client:
                assert (await client.post("/webhook", json=body)).status_code == status, address


async def test_allowed_ips_explains_a_loopback_sender_behind_an_untrusted_proxy(start) -> None:
    async with start(allowed_ips="tradingview") as sparky, sender(sparky, "127.0.0.1") as proxied:
        refused = await proxied.post("/webhook", json={"secret": SECRET, "action": "close", "symbol": "BTCUSDT"})
        assert refused.status_code == 403 and "FORWARDED_ALLOW_IPS" in refused.json()["hint"]


async def test_concurrent_entries_never_exceed_the_users_limit(start) -> None:
    async with with_tenants(start, rate_limit="5/minute") as sparky:
        results = await asyncio.gather(*(sparky.client.post("/webhook", json=entry(ALICE, i)) for i in range(12)))
        assert sorted(r.status_code for r in results) == [200] * 5 + [429] * 7
        rows = await sparky.services.store.list_webhook_requests(user_id=ALICE, limit=50)
        assert sorted(r.status.value for r in rows) == ["rate_limited"] * 7 + ["success"] * 5


async def test_the_limiter_starts_no_timer_thread_per_request(start, monkeypatch: pytest.MonkeyPatch) -> None:
    started = []
    original = threading.Timer.start
    monkeypatch.setattr(threading.Timer, "start", lambda timer: (started.append(timer), original(timer))[1])
    async with start(rate_limit="100/minute") as sparky:
        for i in range(10):
            assert (await sparky.alert(action="close", symbol=f"S{i}USDT")).status_code == 200
            assert (await sparky.alert(action="buy", symbol=f"S{i}USDT", price=10)).status_code == 200
    assert started == []
