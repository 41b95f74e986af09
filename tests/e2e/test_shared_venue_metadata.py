"""Users trading on one Aster host through the real app: the host's symbol rules and clock offset are
loaded once for all of them, and each user's orders still go out under that user's own key."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D
from urllib.parse import parse_qsl

import respx

from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from tests.unit.exchanges.aster.shared_host import OTHER_KEY, OTHER_SECRET, SharedHost
from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster

USERS = {  # user id → (webhook secret, API key, API secret, symbol)
    "11111111-1111-4111-8111-111111111111": ("alice-secret-8c1f2e", KEY, SECRET, "BTCUSDT"),
    "22222222-2222-4222-8222-222222222222": ("bob-secret-5d7a9b", OTHER_KEY, OTHER_SECRET, "ETHUSDT"),
}


async def test_two_users_first_webhooks_at_once_load_the_hosts_rules_and_clock_once(start) -> None:
    venue = FakeAster()
    venue.__class__ = SharedHost
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start() as sparky:
            store = sparky.services.store
            for user_id, (webhook_secret, key, secret, _) in USERS.items():
                await store.add_local_user(LocalUser(user_id, None, "Pro"))
                await store.upsert_credentials(CredentialRecord(user_id, "webhook",
                                                                webhook_secret=secret_digest(webhook_secret)))
                await store.upsert_credentials(CredentialRecord(user_id, "aster", api_key=key, api_secret=secret,
                                                                extra_metadata={"apiUrl": BASE}))
            await sparky.services.secrets.refresh()
            venue.price = venue.fill_price = D("27000")
            answers = await asyncio.gather(*(sparky.client.post("/webhook", json={
                "secret": webhook_secret, "exchange": "aster", "symbol": symbol, "action": "buy", "price": "27000",
                "position_size_usd": 270, "stop_loss_percent": 2, "take_profit_percent": 4})
                for webhook_secret, _, _, symbol in USERS.values()))
            assert [a.json().get("action") for a in answers] == ["opened", "opened"], [a.text for a in answers]

    assert venue.calls().count("GET /fapi/v1/exchangeInfo") == 1
    assert venue.calls().count("GET /fapi/v1/time") == 1
    entries = {dict(parse_qsl(r.content.decode()))["symbol"]: r.headers["X-MBX-APIKEY"]
               for r in venue.requests_to("POST", "/fapi/v1/order")}
    assert entries == {"BTCUSDT": KEY, "ETHUSDT": OTHER_KEY}  # each user's entry under their own key
    assert venue.bad_signatures == 0
