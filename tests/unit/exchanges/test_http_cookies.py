"""Accounts on one venue share a pooled HTTP client per base URL: nothing of one account's session
may ride along with another's requests."""

from __future__ import annotations

import httpx

from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.oanda.adapter import OandaExchange
from tests.unit.exchanges.oanda.test_oanda import fixture

ALICE_ACCOUNT, BOB_ACCOUNT = "101-004-1111111-001", "101-004-2222222-001"


async def test_a_cookie_the_venue_sets_for_one_account_never_reaches_another() -> None:
    seen: list[tuple[str, str | None, str | None]] = []

    def venue(request: httpx.Request) -> httpx.Response:
        account = request.url.path.split("/")[3]
        seen.append((account, request.headers.get("authorization"), request.headers.get("cookie")))
        # a load balancer's session cookie, as OANDA's edge (or any venue's) may set one
        return httpx.Response(200, json=fixture("summary.json"),
                              headers={"Set-Cookie": f"session={account}; Path=/; Secure; HttpOnly"})

    pool = HttpClientPool(transport=httpx.MockTransport(venue))
    alice, bob = (OandaExchange(VenueCredentials("oanda", "practice", account_id=account, access_token=token), pool)
                  for account, token in ((ALICE_ACCOUNT, "alice-token"), (BOB_ACCOUNT, "bob-token")))
    try:
        await alice.balance()
        await bob.balance()
        await alice.balance()
    finally:
        await pool.aclose()

    assert seen == [(ALICE_ACCOUNT, "Bearer alice-token", None), (BOB_ACCOUNT, "Bearer bob-token", None),
                    (ALICE_ACCOUNT, "Bearer alice-token", None)]
