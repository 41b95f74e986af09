"""RedisCache against a real redis-server, and its fallback when Redis is down."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from redis.asyncio import Redis
from structlog.testing import capture_logs

from sparky.cache_redis import RedisCache


async def test_values_expire_and_are_prefixed(redis_url: str, prefix: str) -> None:
    cache = RedisCache(redis_url, prefix=prefix)
    await cache.set("k", "v", ttl=30)
    assert await cache.get("k") == "v"
    raw = Redis.from_url(redis_url, decode_responses=True)
    assert await raw.get(prefix + "k") == "v"
    assert 0 < await raw.pttl(prefix + "k") <= 30_000
    await cache.delete("k")
    assert await cache.get("k") is None
    await raw.aclose()
    await cache.aclose()


async def test_add_is_atomic_across_concurrent_callers_and_instances(redis_url: str, prefix: str) -> None:
    caches = [RedisCache(redis_url, prefix=prefix) for _ in range(4)]  # four servers sharing Redis
    results = await asyncio.gather(*(caches[i % 4].add("dup:alert", f"req-{i}", ttl=30) for i in range(40)))
    winners = [i for i, r in enumerate(results) if r is None]
    assert len(winners) == 1
    assert set(results) - {None} == {f"req-{winners[0]}"}  # everyone else learns who won
    for cache in caches:
        await cache.aclose()


async def test_redis_down_falls_back_in_process_with_one_warning() -> None:
    clock = [0.0]
    cache = RedisCache("redis://127.0.0.1:1/0", retry_after=5, clock=lambda: clock[0])  # nothing listens
    with capture_logs() as logs:
        assert await cache.add("a", "1", ttl=30) is None
        assert await cache.add("a", "2", ttl=30) == "1"  # the fallback still deduplicates
        assert await cache.get("a") == "1" and cache.degraded
    assert [e["event"] for e in logs] == ["cache.redis_unavailable"]
    assert logs[0]["log_level"] == "warning"
    clock[0] = 10  # after the pause Redis is tried again (still down: still served)
    assert await cache.get("a") == "1"
    await cache.aclose()


async def test_recovers_when_redis_comes_back(redis_url: str, prefix: str) -> None:
    clock = [0.0]
    cache = RedisCache(redis_url, prefix=prefix, retry_after=5, clock=lambda: clock[0])
    cache._down_until = 5.0  # as after an outage
    await cache.set("x", "fallback", ttl=30)
    assert await cache.get("x") == "fallback"
    clock[0] = 6
    assert await cache.get("x") is None and not cache.degraded  # back on Redis
    await cache.aclose()


async def test_two_servers_sharing_redis_suppress_the_same_alert_once(redis_url: str, tmp_path) -> None:
    from tests.conftest import make_settings, running

    body = {"secret": "test-webhook-secret", "exchange": "paper", "action": "buy", "symbol": "BTCUSDT",
            "price": 27000}
    async with running(make_settings(tmp_path / "a", redis_url=redis_url)) as first, \
            running(make_settings(tmp_path / "b", redis_url=redis_url)) as second:
        one = await first.client.post("/webhook", json=body)
        two = await second.client.post("/webhook", json=body)  # TradingView resent it to the other server
        assert one.json()["action"] == "opened"
        assert two.json()["action"] == "duplicate" and two.json()["duplicate_of"] == one.json()["request_id"]
        assert second.paper.requests == []
        health = (await first.client.get("/health")).json()
        assert health["cache"] == {"ok": True, "backend": "redis"}


async def test_the_rate_limit_is_shared_by_servers_through_redis(redis_url: str, tmp_path) -> None:
    from tests.conftest import make_settings, running

    def entry(symbol: str) -> dict:
        return {"secret": "test-webhook-secret", "exchange": "paper", "action": "buy", "symbol": symbol, "price": 10,
                "position_size_usd": 50, "alert_id": f"{symbol}-{uuid.uuid4()}"}  # no body duplicates across runs

    raw = Redis.from_url(redis_url)
    for key in await raw.keys("sparky:rate:*"):  # counters left by an earlier run of the suite
        await raw.delete(key)
    await raw.aclose()
    async with running(make_settings(tmp_path / "a", redis_url=redis_url, rate_limit="2/minute")) as first, \
            running(make_settings(tmp_path / "b", redis_url=redis_url, rate_limit="2/minute")) as second:
        # the user's alerts reach the two servers from two different addresses
        transport = httpx.ASGITransport(app=second.app, client=("52.89.214.238", 443))
        async with httpx.AsyncClient(transport=transport, base_url="http://sparky.test") as other_address:
            codes = [(await first.client.post("/webhook", json=entry("AUSDT"))).status_code,
                     (await other_address.post("/webhook", json=entry("BUSDT"))).status_code,
                     (await first.client.post("/webhook", json=entry("CUSDT"))).status_code,
                     (await other_address.post("/webhook", json=entry("DUSDT"))).status_code]
        assert codes == [200, 200, 429, 429]  # one budget per user across both servers
        assert {r.symbol for server in (first, second) for r in server.paper.requests} == {"AUSDT", "BUSDT"}


async def test_a_key_locked_by_one_server_is_not_taken_by_another(redis_url: str, prefix: str) -> None:
    from sparky.cache import LockNotAcquired

    server_a, server_b = RedisCache(redis_url, prefix=prefix), RedisCache(redis_url, prefix=prefix)
    async with server_a.lock("u1:aster:BTCUSDT", timeout=10, wait=1):
        with pytest.raises(LockNotAcquired):
            async with server_b.lock("u1:aster:BTCUSDT", timeout=10, wait=0):
                pass
        async with server_b.lock("u1:aster:ETHUSDT", timeout=10, wait=0):  # other keys are free
            pass
    async with server_b.lock("u1:aster:BTCUSDT", timeout=10, wait=0):  # released: free again
        pass
    for cache in (server_a, server_b):
        await cache.aclose()


async def test_with_redis_down_the_lock_is_skipped_not_fatal() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0")
    with capture_logs() as logs:
        async with cache.lock("k", timeout=1, wait=0):
            pass
    assert [e["event"] for e in logs] == ["cache.lock_unavailable"]
    await cache.aclose()
