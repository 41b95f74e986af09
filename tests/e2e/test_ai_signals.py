"""AI signals at the webhook, through the real app: the fields an AI strategy's signal carries
(`source`, `ai_strategy_id`, `ai_confidence`, `ai_reasoning`) are checked, the strategy must be the
sender's own, a paper strategy trades on paper only, and its id stays on the position and the trade."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import pytest
import respx

from sparky.store.ai import AiStrategyRecord
from sparky.store.base import RequestStatus
from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from tests.conftest import Sparky
from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster

ALICE = "11111111-1111-4111-8111-111111111111"
BOB = "22222222-2222-4222-8222-222222222222"
SECRETS = {ALICE: "alice-secret-8c1f2e", BOB: "bob-secret-77d0aa"}


class AiUsers:
    def __init__(self, server: Sparky, strategies: dict[str, AiStrategyRecord]) -> None:
        self.server, self.strategies = server, strategies

    async def signal(self, user: str, **fields: Any) -> tuple[int, dict[str, Any]]:
        body = {"secret": SECRETS[user], "exchange": "paper", "symbol": "BTCUSDT", "price": "27000",
                "position_size_usd": "270", "stop_loss_percent": 2, "source": "ai_engine_v1",
                "ai_confidence": 0.82, "ai_reasoning": "RSI recovered from 28; MACD crossed up", **fields}
        response = await self.server.client.post("/webhook", json=body)
        return response.status_code, response.json()

    async def paper_orders(self, user: str) -> list[Any]:
        """What the user's paper account received (side, kind, quantity, client id role)."""
        paper = await self.server.services.accounts.get(user, "paper")
        return [(r.side, r.kind, r.quantity, r.client_order_id[-2:]) for r in paper.requests]


@pytest.fixture(params=["sqlite", "supabase"])
async def ai_users(request, start) -> AsyncIterator[AiUsers]:
    from tests.unit.store.supabase.test_store import KEY as SERVICE_KEY
    from tests.unit.store.supabase.test_store import REST, URL, FakePostgrest

    venue = FakeAster()
    settings: dict[str, Any] = {}
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=BASE).mock(side_effect=venue.handle)
        if request.param == "supabase":
            fake = FakePostgrest()
            for user in (ALICE, BOB):
                fake.tables["subscriptions"].append({"id": f"sub-{user}", "user_id": user, "plan": "Pro",
                                                     "status": "active"})
            router.route(url__startswith=REST).mock(side_effect=fake)
            settings = {"supabase_url": URL, "supabase_service_role_key": SERVICE_KEY}
        async with start(**settings) as server:
            store = server.services.store
            strategies = {}
            for user in (ALICE, BOB):
                if request.param == "sqlite":
                    await store.add_local_user(LocalUser(user, f"{user[:4]}@example.com", "Pro"))
                await store.upsert_credentials(CredentialRecord(user, "webhook",
                                                                webhook_secret=secret_digest(SECRETS[user])))
                await store.upsert_credentials(CredentialRecord(user, "aster", api_key=KEY, api_secret=SECRET))
                strategies[user] = await store.add_ai_strategy(AiStrategyRecord(
                    user_id=user, name=f"{user[:4]} momentum", exchange="aster", is_paper_trading=True))
            strategies["live"] = await store.add_ai_strategy(AiStrategyRecord(
                user_id=ALICE, name="live momentum", exchange="aster", is_paper_trading=False))
            await server.services.secrets.refresh()
            users = AiUsers(server, strategies)
            users.venue = venue  # type: ignore[attr-defined]
            yield users


async def test_an_ai_signal_opens_and_closes_with_its_strategy_on_the_position_and_the_trade(ai_users) -> None:
    strategy = ai_users.strategies[ALICE]
    status, opened = await ai_users.signal(ALICE, action="buy", ai_strategy_id=strategy.id,
                                           alert_id="0b7f8a4e-5b7d-4c1e-9a0e-3f1d2c4b5a60")
    assert status == 200 and opened["action"] == "opened", opened
    assert opened["position"]["ai_strategy_id"] == strategy.id
    store = ai_users.server.services.store
    position = await store.get_position(ALICE, "paper", "BTCUSDT")
    assert position is not None and position.ai_strategy_id == strategy.id and position.strategy_id is None
    listed = (await ai_users.server.admin_get(f"/positions?user_id={ALICE}")).json()
    assert [p["ai_strategy_id"] for p in listed["positions"]] == [strategy.id]
    # the request row keeps the body as sent: the model's confidence and reasoning are visible there
    row = await store.get_webhook_request(opened["request_id"])
    assert row is not None and row.payload["ai_confidence"] == 0.82
    assert row.payload["ai_reasoning"] == "RSI recovered from 28; MACD crossed up"
    assert row.payload["source"] == "ai_engine_v1" and "secret" not in row.payload

    status, closed = await ai_users.signal(ALICE, action="close", ai_strategy_id=strategy.id, price="27270")
    assert status == 200 and closed["action"] == "closed", closed
    [trade] = await store.list_trades(user_id=ALICE)
    assert (trade.ai_strategy_id, trade.strategy_id, trade.pnl_usd) == (strategy.id, None, D("2.70"))


async def test_another_users_ai_strategy_is_refused_and_nothing_trades(ai_users) -> None:
    bobs = ai_users.strategies[BOB].id
    status, body = await ai_users.signal(ALICE, action="buy", ai_strategy_id=bobs)
    assert status == 400 and body["field"] == "ai_strategy_id", body
    assert "not one of your AI strategies" in body["message"]
    assert await ai_users.paper_orders(ALICE) == [] and await ai_users.paper_orders(BOB) == []
    [row] = await ai_users.server.services.store.list_webhook_requests(user_id=ALICE)
    assert row.status is RequestStatus.REJECTED and row.http_status == 400


async def test_an_unknown_ai_strategy_gets_the_same_answer(ai_users) -> None:
    status, body = await ai_users.signal(ALICE, action="buy", ai_strategy_id="99999999-9999-4999-8999-999999999999")
    assert status == 400 and body["field"] == "ai_strategy_id" and "not one of your AI strategies" in body["message"]
    assert await ai_users.paper_orders(ALICE) == []


@pytest.mark.parametrize("action", ["buy", "close"])
async def test_a_paper_strategys_signal_for_a_live_venue_is_refused_with_nothing_sent(ai_users, action) -> None:
    strategy = ai_users.strategies[ALICE]
    status, body = await ai_users.signal(ALICE, action=action, exchange="aster", ai_strategy_id=strategy.id)
    assert status == 400 and body["field"] == "exchange", body
    assert f"paper strategy '{strategy.name}' ({strategy.id}) may only trade on paper" in body["message"]
    assert ai_users.venue.sent_orders() == []
    assert [c for c in ai_users.venue.calls() if c.startswith(("POST", "DELETE"))] == []
    [row] = await ai_users.server.services.store.list_webhook_requests(user_id=ALICE)
    assert row.status is RequestStatus.REJECTED


async def test_a_live_strategy_may_trade_its_venue(ai_users) -> None:
    """Only the paper flag restricts the venue: a live strategy's signal reaches the check of the
    venue itself (here: the order goes to Aster)."""
    ai_users.venue.price = ai_users.venue.fill_price = D(27000)
    status, body = await ai_users.signal(ALICE, action="buy", exchange="aster",
                                         ai_strategy_id=ai_users.strategies["live"].id)
    assert status == 200 and body["action"] == "opened", body
    assert body["position"]["ai_strategy_id"] == ai_users.strategies["live"].id
    assert len(ai_users.venue.sent_orders()) >= 2


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("ai_strategy_id", "not-a-uuid", "must be the UUID of one of your AI strategies"),
    ("ai_strategy_id", 12345, "must be the UUID of one of your AI strategies"),
    ("ai_confidence", 1.5, "must be between 0 and 1"),
    ("ai_confidence", -0.1, "must be between 0 and 1"),
    ("ai_confidence", "high", "must be a number"),
    ("ai_reasoning", "x" * 4001, "at most 4000 characters"),
    ("ai_reasoning", 42, "valid string"),
    ("source", "s" * 65, "at most 64 characters"),
    ("source", ["ai"], "must be a string"),
])
async def test_bad_ai_fields_are_a_400_naming_the_field(ai_users, field, value, reason) -> None:
    status, body = await ai_users.signal(ALICE, action="buy", **{"ai_strategy_id": ai_users.strategies[ALICE].id,
                                                                 field: value})
    assert status == 400 and body["field"] == field, body
    assert reason in body["message"]
    assert await ai_users.paper_orders(ALICE) == []


async def test_a_resting_limit_entry_keeps_the_ai_strategy_for_the_position_its_fill_opens(ai_users) -> None:
    strategy = ai_users.strategies[ALICE]
    paper = await ai_users.server.services.accounts.get(ALICE, "paper")
    await paper.note_price("BTCUSDT", D(27000))  # the market is above the limit: it rests
    status, placed = await ai_users.signal(ALICE, action="buy", order_type="limit", price="26000",
                                           ai_strategy_id=strategy.id)
    assert status == 200 and placed["action"] == "order_placed", placed
    store = ai_users.server.services.store
    [entry] = await store.list_resting_entries(user_id=ALICE)
    assert entry.ai_strategy_id == strategy.id
    await paper.note_price("BTCUSDT", D(26000))  # it fills
    status, later = await ai_users.signal(ALICE, action="buy", price="25995", ai_strategy_id=strategy.id)
    assert later["action"] == "skipped", later  # already long: the fill was adopted first
    position = await store.get_position(ALICE, "paper", "BTCUSDT")
    assert position is not None and position.ai_strategy_id == strategy.id
