"""Rate-limit counters in Redis: shared by servers, atomic, and never a blocking call on the event loop."""

from __future__ import annotations

import uuid

import pytest
import redis
from redis.asyncio import Redis

from sparky.cache_redis import RedisCache
from tests.conftest import SECRET, make_settings, running

WRONG = {"secret": "mistyped-secret", "exchange": "paper", "action": "buy", "symbol": "BTCUSDT", "price": 1}


@pytest.fixture
async def fresh_counters(redis_url: str) -> None:
    """The app's keys are not per test: forget counters an earlier test or run left."""
    raw = Redis.from_url(redis_url)
    for key in await raw.keys("sparky:rate:*"):
        await raw.delete(key)
    await raw.aclose()


async def test_a_counter_opens_with_its_first_hit_and_is_shared(redis_url: str, prefix: str) -> None:
    first, second = RedisCache(redis_url, prefix=prefix), RedisCache(redis_url, prefix=prefix)
    value, left = await first.incr("rate:k", 1, ttl=60)
    assert value == 1 and 59 < left <= 60
    raw = Redis.from_url(redis_url, decode_responses=True)
    await raw.pexpire(prefix + "rate:k", 30_000)  # as if 30 s had passed
    value, left = await second.incr("rate:k", 1, ttl=60)  # another server: same counter, window not extended
    assert value == 2 and 29 < left <= 30
    assert await first.incr("rate:k", -1, ttl=60) == (1, pytest.approx(30, abs=1))
    assert await raw.get(prefix + "rate:k") == "1"
    await raw.aclose()
    for cache in (first, second):
        await cache.aclose()


async def test_with_redis_down_counters_fall_back_in_process() -> None:
    cache = RedisCache("redis://127.0.0.1:1/0")  # nothing listens
    assert (await cache.incr("rate:k", 1, ttl=60))[0] == 1
    assert (await cache.incr("rate:k", 1, ttl=60))[0] == 2 and cache.degraded
    await cache.aclose()


async def test_failed_attempts_are_counted_across_servers(redis_url: str, tmp_path, fresh_counters) -> None:
    async with running(make_settings(tmp_path / "a", redis_url=redis_url, auth_failure_limit="2/minute")) as first, \
            running(make_settings(tmp_path / "b", redis_url=redis_url, auth_failure_limit="2/minute")) as second:
        codes = [(await first.client.post("/webhook", json=WRONG)).status_code,
                 (await second.client.post("/webhook", json=WRONG)).status_code,
                 (await first.client.post("/webhook", json=WRONG)).status_code]
        assert codes == [401, 401, 429]
        valid = await second.client.post("/webhook", json={**WRONG, "secret": SECRET, "symbol": "ETHUSDT",
                                                           "price": 1600, "alert_id": str(uuid.uuid4())})
        assert valid.status_code == 200 and valid.json()["action"] == "opened"


async def test_limits_make_no_synchronous_redis_call(redis_url: str, tmp_path, fresh_counters,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    blocking_calls = []
    original = redis.Redis.execute_command

    def record(client, *args, **options):
        blocking_calls.append(args[0])
        return original(client, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", record)
    async with running(make_settings(tmp_path / "a", redis_url=redis_url, rate_limit="100/minute")) as sparky:
        for i in range(5):
            response = await sparky.alert(action="buy", symbol=f"S{i}USDT", price=10, position_size_usd=50,
                                          alert_id=str(uuid.uuid4()))
            assert response.status_code == 200
        assert (await sparky.client.post("/webhook", json=WRONG)).status_code == 401
        keys = await Redis.from_url(redis_url).keys("sparky:rate:*")
    assert blocking_calls == []  # a synchronous call would stall every request on this server meanwhile
    assert len(keys) == 2  # the user's counter and the address's failure counter, both in Redis
