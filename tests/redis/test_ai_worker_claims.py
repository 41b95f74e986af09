"""AI workers sharing one real Redis: each strategy runs on one worker per cycle, and a worker
whose cycle starts later in the same interval does not run it again."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from sparky.ai.claims import HOLD_FACTOR, RedisClaims
from sparky.ai.contracts import StepOutcome
from sparky.ai.worker import AiWorker
from sparky.store.ai import AiStrategyRecord
from sparky.store.sqlite.store import SqliteStore
from tests.ai_worker_doubles import MarketFactory, StandInStep, add_running, open_store
from tests.stepped_time import SteppedTime

CYCLE_SEC = 45


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_store(tmp_path / "sparky.sqlite3")
    yield store
    await store.aclose()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


class Workers:
    def __init__(self, store: SqliteStore, redis_url: str, prefix: str) -> None:
        self.store, self.url, self.prefix = store, redis_url, prefix
        self.claims: list[RedisClaims] = []

    def make(self, name: str, step: Any, time: SteppedTime | None = None) -> AiWorker:
        time = time or SteppedTime()
        claims = RedisClaims(self.url, name, cycle_sec=CYCLE_SEC, prefix=self.prefix, monotonic=time.monotonic)
        self.claims.append(claims)
        return AiWorker(self.store, step, MarketFactory(), cycle_sec=CYCLE_SEC, concurrency=5, worker_id=name,
                        claims=claims, clock=time.clock, monotonic=time.monotonic, sleep=time.sleep)

    async def aclose(self) -> None:
        for claims in self.claims:
            await claims.aclose()


@pytest.fixture
async def workers(store: SqliteStore, redis_url: str, prefix: str) -> AsyncIterator[Workers]:
    made = Workers(store, redis_url, prefix)
    yield made
    await made.aclose()


def yielding_step() -> StandInStep:
    """A step that gives the other worker a turn, as a model call would."""
    async def answer(strategy: AiStrategyRecord) -> StepOutcome:
        await asyncio.sleep(0)
        return StepOutcome(str(strategy.id), decision_id=f"d-{strategy.id}")

    return StandInStep(answer)


async def test_two_workers_on_the_same_strategies_run_each_once_per_cycle(store: SqliteStore, workers: Workers) -> None:
    ids = await add_running(store, 20)
    step_a, step_b = yielding_step(), yielding_step()
    a, b = workers.make("worker-a", step_a), workers.make("worker-b", step_b)

    first_a, first_b = await asyncio.gather(a.run_cycle(), b.run_cycle())

    ran = Counter(s for s, _ in step_a.calls + step_b.calls)
    assert ran == Counter(ids)  # every strategy once, none twice
    assert first_a.strategies + first_b.strategies == 20
    assert first_a.strategies > 0 and first_b.strategies > 0  # both did share of the work
    beats = {beat.worker_id: beat for beat in await store.ai_worker_heartbeats()}
    assert beats["worker-a"].decisions + beats["worker-b"].decisions == 20


async def test_a_worker_whose_cycle_starts_later_in_the_interval_does_not_run_them_again(
        store: SqliteStore, workers: Workers, raw: Redis, prefix: str) -> None:
    ids = await add_running(store, 3)
    step_a, step_b = yielding_step(), yielding_step()
    a, b = workers.make("worker-a", step_a), workers.make("worker-b", step_b)

    await a.run_cycle()
    later = await b.run_cycle()  # b's cycle starts after a's steps ended, in the same interval

    assert sorted(s for s, _ in step_a.calls) == sorted(ids)
    assert step_b.calls == [] and later.strategies == 0
    for strategy_id in ids:  # kept until most of a cycle after a took it, then free for the next cycle
        assert (await raw.get(f"{prefix}ai:strategy:{strategy_id}")).startswith("worker-a/")
        assert 0 < await raw.pttl(f"{prefix}ai:strategy:{strategy_id}") <= HOLD_FACTOR * CYCLE_SEC * 1000


async def test_a_step_longer_than_the_hold_frees_its_strategy_for_the_next_cycle_at_once(
        store: SqliteStore, workers: Workers, raw: Redis, prefix: str) -> None:
    [strategy_id] = await add_running(store, 1)
    time = SteppedTime()

    async def slow(strategy: AiStrategyRecord) -> StepOutcome:
        time.now += HOLD_FACTOR * CYCLE_SEC + 1  # a slow model
        return StepOutcome(str(strategy.id), decision_id="d")

    a, b = workers.make("worker-a", StandInStep(slow), time), workers.make("worker-b", yielding_step())
    await a.run_cycle()
    assert await raw.exists(f"{prefix}ai:strategy:{strategy_id}") == 0
    assert (await b.run_cycle()).strategies == 1
