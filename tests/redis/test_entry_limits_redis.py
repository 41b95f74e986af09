"""Servers sharing Redis and one database hold a user's limits together: an entry on one server
waits while another server is making that user's entry, then counts it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from redis.asyncio import Redis

from sparky.store.base import RequestStatus
from sparky.store.tenants import TradeSettings
from tests.conftest import make_settings, running
from tests.e2e.test_entry_limits import ENTRY, WAIT_SEC, HeldVenue, finished
from tests.e2e.test_multi_tenant import ALICE, add_user, post


@asynccontextmanager
async def lock_attempts(redis_url: str, key: str) -> AsyncIterator[asyncio.Event]:
    """An event set when a server next tries to take the Redis lock `key` (redis-py's SET NX,
    seen through MONITOR): the moment another server starts waiting for it."""
    tried = asyncio.Event()
    raw = Redis.from_url(redis_url, decode_responses=True)

    async def watch(monitor) -> None:
        while True:
            command = (await monitor.next_command())["command"]
            if command.upper().startswith("SET ") and key in command:
                tried.set()
                return

    async with raw.monitor() as monitor:
        watcher = asyncio.create_task(watch(monitor))
        try:
            yield tried
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    await raw.aclose()


async def first_of(*events: asyncio.Event) -> None:
    waits = [asyncio.create_task(event.wait()) for event in events]
    done, pending = await asyncio.wait(waits, timeout=WAIT_SEC, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    assert done, "neither happened"


async def test_two_servers_open_one_position_when_one_is_allowed(redis_url: str, tmp_path, monkeypatch) -> None:
    shared = tmp_path / "data"  # one SQLite database for both servers, as one Supabase project would be
    async with running(make_settings(shared, redis_url=redis_url)) as first, \
            running(make_settings(shared, redis_url=redis_url, sync_budget_ms=0)) as second:
        await add_user(first, ALICE)
        await first.services.store.upsert_trade_settings(TradeSettings(ALICE, "paper", max_open_positions=1))
        for server in (first, second):
            await server.services.reload_caches()
        on_first_venue = HeldVenue(monkeypatch, await first.services.accounts.get(ALICE, "paper"), "AUSDT")
        on_second_venue = HeldVenue(monkeypatch, await second.services.accounts.get(ALICE, "paper"), "BUSDT")

        opening = asyncio.create_task(post(first, ALICE, symbol="AUSDT", alert_id=str(uuid.uuid4()), **ENTRY))
        await on_first_venue.wait_reached()  # the first server counted 0 open and is sending its entry
        async with lock_attempts(redis_url, f"lock:entries:{ALICE}") as second_waits:
            # answered 202 once recorded (its sync budget is 0); it executes meanwhile
            on_second = await post(second, ALICE, symbol="BUSDT", alert_id=str(uuid.uuid4()), **ENTRY)
            # the second server queues for the user's lock, or (were there none) reaches its venue
            await first_of(second_waits, on_second_venue.reached)
        on_first_venue.release()
        on_second_venue.release()

        assert (await opening)["action"] == "opened"
        status, answer = await finished(second, on_second)
        assert (status, answer["error"]) == (RequestStatus.REJECTED, "Risk limit exceeded")
        assert answer["data"] == {"limitType": "max_open_positions", "current": 1, "limit": 1}
        assert [p.symbol for p in await first.services.store.list_positions(user_id=ALICE)] == ["AUSDT"]
        assert await (await second.services.accounts.get(ALICE, "paper")).positions() == []
        assert on_second_venue.reached.is_set() is False  # no order of the second alert reached the venue


async def test_an_entry_that_cannot_get_the_users_lock_is_not_made(redis_url: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("sparky.execution.limits.USER_LOCK_WAIT_SEC", 0.2)  # not 90 s in a test
    async with running(make_settings(tmp_path / "data", redis_url=redis_url)) as sparky:
        await add_user(sparky, ALICE)
        await sparky.services.store.upsert_trade_settings(TradeSettings(ALICE, "paper", max_trades_per_week=5))
        await sparky.services.reload_caches()
        raw = Redis.from_url(redis_url)
        await raw.set(f"sparky:lock:entries:{ALICE}", "another server", px=60_000)  # held elsewhere
        try:
            answer = await post(sparky, ALICE, symbol="AUSDT", alert_id=str(uuid.uuid4()), **ENTRY)
        finally:
            await raw.delete(f"sparky:lock:entries:{ALICE}")
            await raw.aclose()
        assert (answer["status"], answer["action"]) == (200, "failed")
        assert answer["message"] == "Another server kept this user's entries busy; nothing was executed"
        assert await (await sparky.services.accounts.get(ALICE, "paper")).positions() == []
        row = await sparky.services.store.get_webhook_request(answer["request_id"])
        assert row.status is RequestStatus.FAILED
