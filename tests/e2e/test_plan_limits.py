"""PLAN_LIMITS through the real app: setting one plan never makes another, or an unknown one,
unlimited, and on Supabase the database's check_webhook_limit gets the same limits."""

from __future__ import annotations

import pytest

from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from tests.conftest import Sparky
from tests.e2e.test_multi_tenant import ALICE, BOB, SECRETS, post

ENTRY = {"action": "buy", "price": 10, "position_size_usd": 50}


async def user_on(sparky: Sparky, user_id: str, plan: str) -> None:
    store = sparky.services.store
    await store.add_local_user(LocalUser(user_id, f"{user_id[:4]}@example.com", plan))
    await store.upsert_credentials(CredentialRecord(user_id, "webhook", webhook_secret=secret_digest(SECRETS[user_id])))
    await sparky.services.secrets.refresh()


@pytest.mark.parametrize("plan", ["Free", "Gold"])  # Gold: a plan no one configured
async def test_plans_plan_limits_does_not_name_keep_free_s_limit(start, plan: str) -> None:
    async with start(plan_limits={"Basic": 100}) as sparky:
        await user_on(sparky, ALICE, plan)
        opened = [await post(sparky, ALICE, symbol=f"S{i}USDT", **ENTRY) for i in range(5)]
        assert [r["action"] for r in opened] == ["opened"] * 5

        refused = await post(sparky, ALICE, symbol="S5USDT", **ENTRY)
        assert (refused["status"], refused["action"]) == (429, "rate_limited")
        assert (refused["data"]["current"], refused["data"]["limit"], refused["data"]["plan"]) == (5, 5, plan)
        assert await sparky.services.store.count_open_positions(ALICE, "paper") == 5


@pytest.mark.parametrize("plan", ["Admin", "admin"])  # the dashboard's operators' plan
async def test_admin_is_unlimited_as_on_the_dashboard(start, plan: str) -> None:
    async with start(plan_limits={"Free": 5}) as sparky:
        await user_on(sparky, ALICE, plan)
        opened = [await post(sparky, ALICE, symbol=f"S{i}USDT", **ENTRY) for i in range(7)]
        assert [(r["status"], r["action"]) for r in opened] == [(200, "opened")] * 7  # Free would refuse the 6th
        assert await sparky.services.store.count_open_positions(ALICE, "paper") == 7


async def test_the_plan_the_operator_set_gets_its_limit(start) -> None:
    async with start(plan_limits={"free": 1, "Basic": 2}) as sparky:
        await user_on(sparky, ALICE, "Basic")
        await user_on(sparky, BOB, "Platinum")
        answers = [await post(sparky, ALICE, symbol=f"A{i}USDT", **ENTRY) for i in range(3)]
        assert [r["status"] for r in answers] == [200, 200, 429]
        answers = [await post(sparky, BOB, symbol=f"B{i}USDT", **ENTRY) for i in range(2)]
        assert [r["status"] for r in answers] == [200, 429]
        assert answers[1]["data"]["limit"] == 1


async def test_on_supabase_the_database_gets_the_limits_the_server_enforces(start) -> None:
    import respx

    from tests.unit.store.supabase.test_store import KEY, REST, URL, FakePostgrest

    database = FakePostgrest()
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=REST).mock(side_effect=database)
        async with start(supabase_url=URL, supabase_service_role_key=KEY, plan_limits={"Basic": 100, "Gold": None}):
            assert database.plan_limits == {"Free": 5, "Basic": 100, "Premium": 300, "Pro": None, "Admin": None,
                                            "Gold": None}
