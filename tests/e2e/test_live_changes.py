"""`sparky users …` run against a running server's data dir: the very next alert sees the change.

The commands run as they do from a shell, in their own process; the tests wait, with a bounded
poll, until the server has observed the commit (the store's change marker), never for a fixed time."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import respx

from tests.conftest import Sparky
from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster

OBSERVE_WITHIN_SEC = 5.0  # the watch polls every second; generous for a loaded test machine


async def sparky_users(data_dir: Path, *argv: str) -> str:
    """`sparky users <argv> --data-dir <data_dir>` in its own process; what it printed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "sparky", "users", *argv, "--data-dir", str(data_dir),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, err.decode()
    return out.decode()


async def observed(sparky: Sparky) -> None:
    """Until the server has acted on every commit made so far by another connection."""
    target = await sparky.services.store.external_change_marker()
    deadline = time.monotonic() + OBSERVE_WITHIN_SEC
    while sparky.services.store_watch.seen != target:
        assert time.monotonic() < deadline, "the server did not notice the change"
        await asyncio.sleep(0.02)


async def add(sparky: Sparky, data_dir: Path, plan: str = "Pro") -> tuple[str, str]:
    out = await sparky_users(data_dir, "add", "--plan", plan)
    user_id = out.splitlines()[0].removeprefix("Created user ").split(":")[0]
    secret = out.split("cannot be shown again):\n", 1)[1].split()[0]
    await observed(sparky)
    return user_id, secret


async def alert(sparky: Sparky, secret: str, **fields: Any) -> dict[str, Any]:
    body = {"secret": secret, "exchange": "paper", "symbol": "BTCUSDT", "price": 10, "position_size_usd": 50,
            **fields}
    response = await sparky.client.post("/webhook", json=body)
    return {"status": response.status_code, **response.json()}


async def test_a_plan_downgrade_refuses_the_very_next_alert(start, data_dir) -> None:
    async with start() as sparky:
        user_id, secret = await add(sparky, data_dir, plan="Pro")
        for i in range(5):  # unlimited on Pro; the plan is now cached
            assert (await alert(sparky, secret, action="buy", symbol=f"S{i}USDT"))["action"] == "opened"

        await sparky_users(data_dir, "plan", user_id, "Free")
        await observed(sparky)

        refused = await alert(sparky, secret, action="buy", symbol="S5USDT")
        assert refused["status"] == 429 and refused["error"] == "Webhook limit exceeded"
        assert refused["data"]["plan"] == "Free"
        assert (await alert(sparky, secret, action="close", symbol="S0USDT"))["action"] == "closed"


async def test_new_settings_and_a_rotated_secret_apply_to_the_very_next_alert(start, data_dir) -> None:
    async with start() as sparky:
        user_id, secret = await add(sparky, data_dir)
        assert (await alert(sparky, secret, action="buy"))["action"] == "opened"  # "no settings" is cached

        await sparky_users(data_dir, "settings", user_id, "paper", "--max-open-positions", "1")
        await observed(sparky)
        limited = await alert(sparky, secret, action="buy", symbol="ETHUSDT")
        assert limited["status"] == 429
        assert limited["data"] == {"limitType": "max_open_positions", "current": 1, "limit": 1}

        out = await sparky_users(data_dir, "secret", user_id)
        new_secret = out.split("cannot be shown again):\n", 1)[1].split()[0]
        await observed(sparky)
        assert (await alert(sparky, secret, action="close"))["status"] == 401
        assert (await alert(sparky, new_secret, action="close"))["action"] == "closed"


async def test_new_exchange_keys_are_used_by_the_very_next_alert(start, data_dir) -> None:
    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start() as sparky:
            user_id, secret = await add(sparky, data_dir)
            keys = ("--api-url", BASE, "--api-secret", SECRET)
            await sparky_users(data_dir, "credentials", user_id, "aster", "--api-key", "mistyped-key", *keys)
            await observed(sparky)
            order = {"action": "buy", "exchange": "aster", "price": 27000, "position_size_usd": 270,
                     "stop_loss_percent": 2}
            refused = await alert(sparky, secret, alert_id="first", **order)
            assert refused["status"] == 400 and venue.sent_orders() == []  # the venue refused the key

            await sparky_users(data_dir, "credentials", user_id, "aster", "--api-key", KEY, *keys)
            await observed(sparky)
            opened = await alert(sparky, secret, alert_id="second", **order)
            assert opened["action"] == "opened"
            assert {r.headers.get("X-MBX-APIKEY") for r in venue.received if r.url.path == "/fapi/v1/order"} == {KEY}
