"""The monthly webhook quota through the real app: only requests accepted for execution count, and
the 80 % and 100 % warnings see every request that counts, exits included."""

from __future__ import annotations

import time

from sparky.store.base import RequestStatus
from sparky.store.tenants import StrategyRecord
from tests.conftest import Sparky
from tests.e2e.test_multi_tenant import ALICE, add_user, post


async def free_user(sparky: Sparky) -> None:
    await add_user(sparky, ALICE, plan="Free")  # 5 webhooks a month
    await sparky.services.secrets.refresh()


async def titles(sparky: Sparky) -> list[str]:
    await sparky.services.notifier.drain()
    return [n.title for n in await sparky.services.store.list_notifications(ALICE)]


async def test_one_real_alert_and_refused_ones_leave_four_of_five(start) -> None:
    async with start() as sparky:
        await free_user(sparky)
        await sparky.services.store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="inactive"))
        entry = {"action": "buy", "price": 10, "position_size_usd": 50}
        assert (await post(sparky, ALICE, symbol="S0USDT", alert_id="first", **entry))["action"] == "opened"

        refused = [
            await post(sparky, ALICE, symbol="S1USDT", **{**entry, "position_size_usd": "lots"}),  # 400
            await post(sparky, ALICE, symbol="S2USDT", strategy="Momentum", **entry),  # inactive strategy
            await post(sparky, ALICE, symbol="S3USDT", timestamp=int(time.time()) - 3600, **entry),  # stale
            await post(sparky, ALICE, symbol="S0USDT", alert_id="first", **entry),  # the same alert again
        ]
        assert [(r["status"], r["action"]) for r in refused] == [
            (400, "rejected"), (200, "rejected"), (429, "rejected"), (200, "duplicate"),
        ]  # fmt: skip
        rows = await sparky.services.store.list_webhook_requests(user_id=ALICE, limit=100)
        assert sorted(r.status for r in rows) == sorted([
            RequestStatus.SUCCESS, RequestStatus.REJECTED, RequestStatus.REJECTED, RequestStatus.REJECTED,
            RequestStatus.DUPLICATE,
        ])  # fmt: skip
        assert await sparky.services.store.month_request_count(ALICE, rows[0].created_at) == 1

        # four left of five: four more alerts run, the fifth after them is refused for the quota
        for i in range(4):
            assert (await post(sparky, ALICE, symbol=f"T{i}USDT", **entry))["action"] == "opened"
        over = await post(sparky, ALICE, symbol="T4USDT", **entry)
        assert (over["status"], over["action"]) == (429, "rate_limited")
        assert (over["data"]["current"], over["data"]["limit"]) == (5, 5)
        assert await sparky.paper.positions() == []  # the local account: untouched
        alice = await sparky.services.accounts.get(ALICE, "paper")
        assert sorted(p.symbol for p in await alice.positions()) == ["S0USDT", "T0USDT", "T1USDT", "T2USDT",
                                                                      "T3USDT"]


async def test_the_warnings_count_exits_too(start) -> None:
    async with start() as sparky:
        await free_user(sparky)
        entry = {"action": "buy", "price": 10, "position_size_usd": 50}
        for i in range(3):
            assert (await post(sparky, ALICE, symbol=f"S{i}USDT", **entry))["action"] == "opened"
        assert "Webhook limit at 80 %" not in await titles(sparky)

        closed = await post(sparky, ALICE, symbol="S0USDT", action="close", price=11)  # the 4th of 5
        assert closed["action"] == "closed", closed
        assert (await titles(sparky)).count("Webhook limit at 80 %") == 1

        closed = await post(sparky, ALICE, symbol="S1USDT", action="close", price=11)  # the 5th of 5
        assert closed["action"] == "closed", closed
        assert (await titles(sparky)).count("Webhook limit reached") == 1

        # exits are never refused for the quota; the next entry is
        assert (await post(sparky, ALICE, symbol="S2USDT", action="close", price=11))["action"] == "closed"
        over = await post(sparky, ALICE, symbol="S9USDT", **entry)
        assert (over["status"], over["action"]) == (429, "rate_limited")
        assert (await titles(sparky)).count("Webhook limit reached") == 1  # once a month
