"""Edits the dashboard makes (strategies, settings, plans) reach a running server without a
restart: at once through either reload path (admin only), and by themselves within
TENANT_CACHE_SEC (10 s). The dashboard writes through its own API, which the server cannot watch;
writing through the server's own store connection stands for it here (the store watch does not
see those writes either). The caches' clock is driven, never slept on."""

from __future__ import annotations

import pytest

from sparky.store.tenants import StrategyRecord, TradeSettings
from tests.conftest import ADMIN, make_settings, running
from tests.e2e.test_multi_tenant import ALICE, add_user, post


class Clock:
    """The monotonic clock the server's caches expire by."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def alice(data_dir, clock):
    async with running(make_settings(data_dir), monotonic=clock) as sparky:
        await add_user(sparky, ALICE, plan="Pro")
        await sparky.services.secrets.refresh()
        yield sparky


@pytest.mark.parametrize("path", ["/strategies/reload", "/api/strategies/reload"])
async def test_both_reload_paths_need_the_admin_token_and_apply_an_edit_at_once(alice, path) -> None:
    store = alice.services.store
    await store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="inactive"))
    assert (await post(alice, ALICE, action="buy", strategy="Momentum"))["action"] == "rejected"
    await store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="active"))  # the dashboard's edit

    assert (await alice.client.post(path)).status_code == 401
    wrong = await alice.client.post(path, headers={"Authorization": "Bearer not-the-token"})
    assert wrong.status_code == 401
    assert (await post(alice, ALICE, action="buy", strategy="Momentum"))["action"] == "rejected"  # still cached

    reloaded = await alice.client.post(path, headers={"Authorization": f"Bearer {ADMIN}"})
    assert reloaded.status_code == 200
    assert reloaded.json() == {"success": True, "message": "Caches cleared", "webhookSecrets": 1}
    assert (await post(alice, ALICE, action="buy", strategy="Momentum"))["action"] == "opened"


async def test_a_strategy_edit_applies_within_ten_seconds_without_a_reload(alice, clock) -> None:
    store = alice.services.store
    await store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="active"))
    assert (await post(alice, ALICE, action="buy", strategy="Momentum"))["action"] == "opened"
    await store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="inactive"))  # paused on the dashboard

    clock.now += 9
    assert (await post(alice, ALICE, action="sell", strategy="Momentum", symbol="ETHUSDT"))["action"] == "opened"
    clock.now += 1.5  # 10.5 s after it was read
    paused = await post(alice, ALICE, action="sell", strategy="Momentum", symbol="SOLUSDT")
    assert (paused["status"], paused["action"]) == (200, "rejected")
    assert paused["message"] == "Strategy 'Momentum' not found or inactive"


async def test_settings_and_plan_edits_apply_within_ten_seconds_without_a_reload(alice, clock) -> None:
    store = alice.services.store
    for symbol in ("AUSDT", "BUSDT"):  # no settings and the Pro plan are now cached
        assert (await post(alice, ALICE, action="buy", symbol=symbol, price=10, position_size_usd=50))["action"] == "opened"
    await store.upsert_trade_settings(TradeSettings(ALICE, "paper", max_open_positions=2))
    await store.set_plan(ALICE, "Free")

    clock.now += 10.5
    limited = await post(alice, ALICE, action="buy", symbol="CUSDT", price=10, position_size_usd=50)
    assert (limited["status"], limited["data"]) == (429, {"limitType": "max_open_positions", "current": 2, "limit": 2})
    assert (await alice.services.gates.plan(ALICE)) == "Free"
