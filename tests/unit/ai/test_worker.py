"""The AI worker's cycles on a real SQLite store, with a stand-in step (the worker's contract is the
`Step` protocol): the concurrency bound, cycles that never overlap, failures counted, the
heartbeat, a store outage, and stopping on a signal."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from sparky.ai.claims import RedisClaims
from sparky.ai.contracts import StepOutcome
from sparky.ai.worker import AiWorker, StopOnSignal
from sparky.logging import configure_logging
from sparky.store.ai import PAUSED, AiStrategyRecord, AiWorkerHeartbeat
from sparky.store.sqlite.store import SqliteStore
from tests.ai_worker_doubles import USER, MarketFactory, StandInStep, add_running, open_store
from tests.stepped_time import EPOCH, SteppedTime

WAIT = 5.0


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await open_store(tmp_path / "sparky.sqlite3")
    yield store
    await store.aclose()


@pytest.fixture
def info_logs() -> None:
    """`ai.cycle` is an info event: let it through whatever level an earlier test configured."""
    configure_logging("INFO", "console")


def worker(store: SqliteStore, step: Any, *, time: SteppedTime | None = None, cycle_sec: float = 10,
           concurrency: int = 10, market: MarketFactory | None = None, **options: Any) -> AiWorker:
    time = time or SteppedTime()
    return AiWorker(store, step, market or MarketFactory(), cycle_sec=cycle_sec, concurrency=concurrency,
                    worker_id="worker-1", clock=time.clock, monotonic=time.monotonic, sleep=time.sleep, **options)


async def test_at_most_ai_concurrency_steps_run_at_once_and_share_the_cycle_market_data(store: SqliteStore) -> None:
    ids = await add_running(store, 12)
    released = asyncio.Event()

    async def slow(strategy: AiStrategyRecord) -> StepOutcome:
        await released.wait()
        return StepOutcome(str(strategy.id), decision_id=str(uuid.uuid4()))

    step, market = StandInStep(slow), MarketFactory()
    cycle = asyncio.create_task(worker(store, step, concurrency=3, market=market).run_cycle())
    await step.wait_for_calls(3)
    released.set()
    figures = await asyncio.wait_for(cycle, WAIT)

    assert step.most_active == 3
    assert sorted(step.done) == sorted(ids)
    assert len(market.made) == 1 and {id(m) for _, m in step.calls} == {id(market.made[0])}
    assert (figures.strategies, figures.decisions, figures.errors) == (12, 12, 0)


async def test_a_cycle_longer_than_the_interval_delays_the_next_which_never_overlaps_it(store: SqliteStore) -> None:
    await add_running(store, 3)
    time = SteppedTime()
    released = asyncio.Event()
    started_at: list[float] = []

    async def first_cycle_blocks(strategy: AiStrategyRecord) -> StepOutcome:
        started_at.append(time.now)
        if len(started_at) <= 3:
            await released.wait()
        return StepOutcome(str(strategy.id), decision_id=str(uuid.uuid4()))

    step = StandInStep(first_cycle_blocks)
    ai = worker(store, step, time=time, cycle_sec=10)
    running = asyncio.create_task(ai.run())
    await step.wait_for_calls(3)
    await time.advance(35, parked=0)  # three intervals pass while the first cycle's steps hang
    assert len(step.calls) == 3  # no second cycle beside the first
    released.set()
    await step.wait_for_calls(6)  # the first cycle ended at 35 s: the next starts at once
    await time.parked(1)  # then waits a whole interval
    await time.advance(10, parked=1)
    ai.stop()
    await asyncio.wait_for(running, WAIT)

    assert started_at == [0, 0, 0, 35, 35, 35, 45, 45, 45]
    [beat] = await store.ai_worker_heartbeats()
    assert (beat.last_cycle_at, beat.strategies) == (EPOCH.replace(second=45), 3)


async def test_a_failing_step_is_counted_logged_and_the_others_still_run(store: SqliteStore, info_logs: None) -> None:
    ids = await add_running(store, 5)
    await add_running(store, 1, exchange=None)  # no exchange chosen: left alone
    paused = await store.add_ai_strategy(AiStrategyRecord(user_id=USER, status=PAUSED, exchange="aster"))
    time = SteppedTime()
    raises, reports_error, holds = ids[1], ids[2], ids[3]

    async def outcomes(strategy: AiStrategyRecord) -> StepOutcome:
        time.now += 0.5  # each step takes half a second
        if strategy.id == raises:
            raise RuntimeError("model client bug")
        if strategy.id == reports_error:
            return StepOutcome(reports_error, error="model timed out")
        action = "HOLD" if strategy.id == holds else "LONG"
        return StepOutcome(str(strategy.id), decision_id=str(uuid.uuid4()), action=action, signal_sent=action != "HOLD")

    step = StandInStep(outcomes)
    with capture_logs() as logs:
        figures = await worker(store, step, time=time, concurrency=2).run_cycle()

    assert sorted(step.done) == sorted(i for i in ids if i != raises)
    assert sorted(s for s, _ in step.calls) == sorted(ids)  # neither the exchange-less nor the paused one
    assert paused.id not in {s for s, _ in step.calls}
    assert (figures.strategies, figures.decisions, figures.errors, figures.duration_ms) == (5, 3, 2, 2500)
    failed = [e for e in logs if e["event"] == "ai.step_failed"]
    assert [(e["strategy_id"], e["log_level"]) for e in failed] == [(raises, "error")]
    [cycle] = [e for e in logs if e["event"] == "ai.cycle"]
    assert {k: cycle[k] for k in ("worker_id", "duration_ms", "strategies", "decisions", "errors")} == {
        "worker_id": "worker-1", "duration_ms": 2500, "strategies": 5, "decisions": 3, "errors": 2}


async def test_the_heartbeat_row_holds_the_cycles_figures(store: SqliteStore) -> None:
    await add_running(store, 4)
    time = SteppedTime()
    time.now = 30.0

    async def one_errs(strategy: AiStrategyRecord) -> StepOutcome:
        time.now += 0.25
        if step.calls[0][0] == strategy.id:
            return StepOutcome(str(strategy.id), error="venue down")
        return StepOutcome(str(strategy.id), decision_id=str(uuid.uuid4()))

    step = StandInStep(one_errs)
    await worker(store, step, time=time, concurrency=1).run_cycle()

    assert await store.ai_worker_heartbeats() == [
        AiWorkerHeartbeat("worker-1", last_cycle_at=EPOCH.replace(second=31), cycle_duration_ms=1000,
                          strategies=4, decisions=3, errors=1)]


async def test_a_store_outage_at_the_start_of_a_cycle_skips_it_and_the_next_interval_runs(
        store: SqliteStore) -> None:
    ids = await add_running(store, 2)
    await store.aclose()  # the store is down when the first cycle starts
    time = SteppedTime()
    step = StandInStep()
    ai = worker(store, step, time=time, cycle_sec=10)
    with capture_logs() as logs:
        running = asyncio.create_task(ai.run())
        await time.parked(1)  # skipped, and waiting for the next interval: the worker goes on
        assert step.calls == [] and [e["event"] for e in logs if e["event"].startswith("ai.cycle")] == [
            "ai.cycle_skipped"]
        await store.open()
        await time.advance(10, parked=1)
        ai.stop()
        await asyncio.wait_for(running, WAIT)

    assert sorted(step.done) == sorted(ids)
    [beat] = await store.ai_worker_heartbeats()
    assert (beat.last_cycle_at, beat.strategies, beat.decisions) == (EPOCH.replace(second=10), 2, 2)


async def test_the_first_stop_signal_lets_the_cycle_in_flight_finish_and_record_then_the_worker_ends(
        store: SqliteStore) -> None:
    ids = await add_running(store, 4)
    released = asyncio.Event()

    async def blocks(strategy: AiStrategyRecord) -> StepOutcome:
        await released.wait()
        return StepOutcome(str(strategy.id), decision_id=str(uuid.uuid4()))

    step = StandInStep(blocks)
    ai = worker(store, step, cycle_sec=10)
    running = asyncio.create_task(ai.run())
    await step.wait_for_calls(4)
    StopOnSignal(ai, running)(signal.SIGTERM)  # what the SIGTERM handler does
    await asyncio.sleep(0)
    assert not running.done()  # the steps in flight are not cut short
    released.set()
    await asyncio.wait_for(running, WAIT)

    assert sorted(step.done) == sorted(ids) and len(step.calls) == 4  # finished, and no new cycle
    [beat] = await store.ai_worker_heartbeats()
    assert (beat.strategies, beat.decisions, beat.errors) == (4, 4, 0)


async def test_a_stop_between_cycles_ends_the_worker_without_waiting_for_the_interval(store: SqliteStore) -> None:
    await add_running(store, 1)
    time = SteppedTime()
    ai = worker(store, StandInStep(), time=time, cycle_sec=3600)
    running = asyncio.create_task(ai.run())
    await time.parked(1)
    StopOnSignal(ai, running)(signal.SIGINT)
    await asyncio.wait_for(running, WAIT)
    assert time.now == 0


async def test_a_second_stop_signal_aborts_the_cycle_in_flight_at_once(store: SqliteStore) -> None:
    await add_running(store, 2)
    never = asyncio.Event()

    async def hangs(strategy: AiStrategyRecord) -> StepOutcome:
        await never.wait()
        raise AssertionError("never released")

    step = StandInStep(hangs)
    ai = worker(store, step)
    running = asyncio.create_task(ai.run())
    await step.wait_for_calls(2)
    stop = StopOnSignal(ai, running)
    stop(signal.SIGTERM)
    stop(signal.SIGTERM)
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(running, WAIT)
    assert running.cancelled() and step.done == []
    assert await store.ai_worker_heartbeats() == []  # a cut-short cycle reports nothing


async def test_with_redis_configured_but_unreachable_no_strategy_runs_and_each_counts_as_an_error(
        store: SqliteStore, unused_tcp_port: int) -> None:
    await add_running(store, 3)
    step = StandInStep()
    claims = RedisClaims(f"redis://127.0.0.1:{unused_tcp_port}/0", "worker-1", cycle_sec=10)
    try:
        with capture_logs() as logs:
            figures = await worker(store, step, claims=claims).run_cycle()
    finally:
        await claims.aclose()

    assert step.calls == []  # nobody can tell which worker runs them: none does
    assert (figures.strategies, figures.decisions, figures.errors) == (3, 0, 3)
    assert sum(e["event"] == "ai.claim_failed" for e in logs) == 3
    [beat] = await store.ai_worker_heartbeats()
    assert beat.errors == 3


def test_claims_are_kept_under_the_strategy_key() -> None:
    claims = RedisClaims("redis://127.0.0.1:6379/0", "worker-1", cycle_sec=45)
    assert claims.key("4f0c") == "sparky:ai:strategy:4f0c"


@pytest.mark.parametrize(("options", "says"), [
    ({"cycle_sec": 0}, "cycle_sec must be a positive number"),
    ({"cycle_sec": float("nan")}, "cycle_sec must be a positive number"),
    ({"concurrency": 0}, "concurrency must be at least 1"),
    ({"worker_id": ""}, "needs a worker id"),
])
def test_a_worker_with_impossible_figures_is_refused(tmp_path: Path, options: dict[str, Any], says: str) -> None:
    values: dict[str, Any] = {"cycle_sec": 45, "concurrency": 10, "worker_id": "w", **options}
    with pytest.raises(ValueError, match=says):
        AiWorker(SqliteStore(tmp_path / "s.sqlite3"), StandInStep(), MarketFactory(), **values)
