"""What limits may refuse, through the real app: exits never, settings only what a user set, and
stale alerts for every user (the local one included)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sparky.signals.models import Signal
from sparky.store.base import RequestStatus
from sparky.store.tenants import TradeSettings
from tests.conftest import Sparky
from tests.e2e.test_live_changes import sparky_users
from tests.e2e.test_multi_tenant import ALICE, add_user, post

SATURDAY_NOON = datetime(2026, 3, 7, 12, 0, tzinfo=UTC)
FRIDAY_AFTER_NEW_YORK_CLOSE = datetime(2026, 3, 6, 22, 30, tzinfo=UTC)  # 17:30 in New York: outside 24/5


async def free_user(sparky: Sparky) -> None:
    await add_user(sparky, ALICE, plan="Free")  # 5 webhooks a month
    await sparky.services.secrets.refresh()


async def test_a_free_user_who_used_the_month_can_still_close(start) -> None:
    async with start() as sparky:
        await free_user(sparky)
        opened = [await post(sparky, ALICE, action="buy", symbol=symbol, price=10, position_size_usd=50)
                  for symbol in ("AUSDT", "BUSDT", "CUSDT", "DUSDT", "EUSDT")]
        assert [r["action"] for r in opened] == ["opened"] * 5  # the month's 5 webhooks are used

        closed = await post(sparky, ALICE, action="close", symbol="AUSDT", price=11)
        flat = await post(sparky, ALICE, action="flat", symbol="BUSDT", price=11)
        close_long = await post(sparky, ALICE, action="close_long", symbol="CUSDT", price=11)
        assert [(r["status"], r["action"]) for r in (closed, flat, close_long)] == [(200, "closed")] * 3
        store = sparky.services.store
        assert sorted(p.symbol for p in await store.list_positions(user_id=ALICE)) == ["DUSDT", "EUSDT"]
        assert sorted(t.symbol for t in await store.list_trades(user_id=ALICE)) == ["AUSDT", "BUSDT", "CUSDT"]
        row = await store.get_webhook_request(closed["request_id"])
        assert (row.status, row.action, row.symbol, row.http_status) == (RequestStatus.SUCCESS, "close", "AUSDT", 200)

        refused = await post(sparky, ALICE, action="buy", symbol="FUSDT", price=10, position_size_usd=50)
        assert refused["status"] == 429 and refused["error"] == "Webhook limit exceeded"
        assert (refused["data"]["limit"], refused["data"]["plan"]) == (5, "Free")
        assert await store.get_position(ALICE, "paper", "FUSDT") is None


async def test_an_exit_does_not_depend_on_the_plan_being_readable(start, monkeypatch) -> None:
    async with start() as sparky:
        await free_user(sparky)
        await post(sparky, ALICE, action="buy", symbol="AUSDT", price=10, position_size_usd=50)

        async def down(*args, **kwargs):
            raise OSError("database unreachable")

        monkeypatch.setattr(sparky.services.store, "subscription_plan", down)
        sparky.services.gates.reload()
        closed = await post(sparky, ALICE, action="close", symbol="AUSDT", price=11)
        assert (closed["status"], closed["action"]) == (200, "closed")  # the plan is not asked for an exit
        assert (await post(sparky, ALICE, action="buy", symbol="BUSDT", price=10))["status"] == 503


async def test_a_user_who_set_only_a_weekly_limit_has_no_other_limit(start, data_dir) -> None:
    async with start() as sparky:
        await add_user(sparky, ALICE)
        await sparky.services.secrets.refresh()
        view = await sparky_users(data_dir, "settings", ALICE, "paper", "--max-trades-per-week", "10")
        assert view.splitlines()[1:] == [  # the only limit listed is the only one enforced
            " *max trades per week    10",
            "  not set, so not limited: trading hours preset, trading window, allow weekends, max trades per day, "
            "max loss per week usd, max open positions, max position size usd, max signal age sec",
        ]

        results = [await post(sparky, ALICE, action="buy", symbol=f"S{i}USDT", price=10, position_size_usd=50)
                   for i in range(4)]
        assert [r["action"] for r in results] == ["opened"] * 4  # no max_open_positions of 3
        assert await sparky.services.store.count_open_positions(ALICE, "paper") == 4

        # no trading window and no weekend rule: a Saturday or an after-hours entry is admitted too
        gates = sparky.services.gates
        gates.reload()
        for when in (SATURDAY_NOON, FRIDAY_AFTER_NEW_YORK_CLOSE):
            entry = Signal.model_validate({"action": "buy", "symbol": "BTCUSDT", "exchange": "paper",
                                           "timestamp": when - timedelta(seconds=30)})
            admission = await gates.admit(ALICE, entry, when)
            assert admission.rejection is None, admission.rejection
        assert await sparky.services.store.get_trade_settings(ALICE, "paper") == TradeSettings(
            ALICE, "paper", max_trades_per_week=10,
            id=(await sparky.services.store.get_trade_settings(ALICE, "paper")).id)


def stamp(seconds_ago: float) -> str:
    return (datetime.now(UTC) - timedelta(seconds=seconds_ago)).isoformat()


async def test_a_stale_alert_of_the_local_user_is_refused_and_recorded(sparky: Sparky) -> None:
    response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, timestamp=stamp(270))

    assert response.status_code == 429
    body = response.json()
    assert body["error"] == "Risk limit exceeded"
    assert body["data"]["limitType"] == "signal_age" and body["data"]["limit"] == 120
    assert 270 <= body["data"]["current"] <= 275
    assert "MAX_SIGNAL_AGE_SEC" in body["message"]
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert (row.status, row.http_status, row.action) == (RequestStatus.REJECTED, 429, "buy")
    assert await sparky.services.store.list_positions() == [] and await sparky.paper.positions() == []

    fresh = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, timestamp=stamp(5))
    assert fresh.status_code == 200 and fresh.json()["action"] == "opened"
    # a late exit still takes the user out: no age limit may keep them in a position
    late_close = await sparky.alert(action="close", symbol="BTCUSDT", price=27000, timestamp=stamp(600))
    assert late_close.status_code == 200 and late_close.json()["action"] == "closed"


async def test_an_alert_from_the_future_is_refused(sparky: Sparky) -> None:
    response = await sparky.alert(action="sell", symbol="BTCUSDT", price=27000, timestamp=stamp(-300))
    assert response.status_code == 429 and response.json()["data"]["limitType"] == "signal_age"
    assert await sparky.paper.positions() == []


async def test_max_signal_age_zero_turns_the_check_off(start) -> None:
    async with start(max_signal_age_sec=0) as sparky:
        response = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, timestamp=stamp(270))
        assert response.status_code == 200 and response.json()["action"] == "opened"


async def test_a_users_own_age_limit_is_stricter_never_looser(start) -> None:
    async with start() as sparky:
        await add_user(sparky, ALICE)
        await sparky.services.secrets.refresh()
        store = sparky.services.store
        await store.upsert_trade_settings(TradeSettings(ALICE, "paper", max_signal_age_sec=600))
        looser = await post(sparky, ALICE, action="buy", timestamp=stamp(270))
        assert looser["status"] == 429 and "MAX_SIGNAL_AGE_SEC" in looser["message"]

        await store.upsert_trade_settings(TradeSettings(ALICE, "paper", max_signal_age_sec=30))
        sparky.services.gates.reload()
        stricter = await post(sparky, ALICE, action="buy", timestamp=stamp(45))
        assert stricter["status"] == 429 and "(max_signal_age_sec)" in stricter["message"]
        assert stricter["data"]["limit"] == 30
        assert (await post(sparky, ALICE, action="buy", timestamp=stamp(5)))["action"] == "opened"
