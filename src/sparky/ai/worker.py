"""The AI worker's cycles: every AI_CYCLE_SEC, one step per running strategy, then a heartbeat.

A cycle loads the running strategies from the store (a change made with `sparky ai` or in the
dashboard applies from the next cycle), leaves out those with no `exchange`, and runs one `Step`
per strategy, at most AI_CONCURRENCY at once, all sharing one `MarketData` (candles fetched once
per venue and symbol per cycle). Each step runs only if this worker claims its strategy
(claims.py: with Redis, one worker per strategy per interval). Then the cycle's figures are written
as the worker's heartbeat (`ai_worker_heartbeats`, read by GET /health/ai-worker) and logged as
`ai.cycle`.

Cycles never overlap: the next starts AI_CYCLE_SEC after the previous one started, or at once
when the previous one took longer. A step that raises is logged (`ai.step_failed`) and counted as
an error; the other steps and the next cycles go on. A store that does not answer at the start of
a cycle skips that cycle (`ai.cycle_skipped`); the next interval tries again.

Stopping (SIGTERM, SIGINT: `StopOnSignal`): the cycle in flight finishes (its steps complete and
are recorded, the heartbeat is written), then `run` returns; a second signal cancels it at once.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import structlog

from sparky.ai.claims import ClaimUnavailable, LocalClaims
from sparky.ai.contracts import MarketData, Step, StepOutcome
from sparky.store.ai import AiStore, AiStrategyRecord, AiWorkerHeartbeat
from sparky.store.base import utcnow

log = structlog.get_logger("sparky.ai")


@dataclass(frozen=True)
class CycleFigures:
    """What one cycle did: the heartbeat's figures."""

    ended_at: datetime
    duration_ms: int
    #: strategies this worker took on: running, with an exchange, and claimed by this worker (or not
    #: claimable: Redis down, counted in `errors` too)
    strategies: int
    #: decisions recorded (steps that wrote an `ai_trade_decisions` row)
    decisions: int
    #: strategies whose step failed (raised, reported an error, or could not be claimed)
    errors: int


class AiWorker:
    def __init__(self, store: AiStore, step: Step, new_market_data: Callable[[], MarketData], *,
                 cycle_sec: float, concurrency: int, worker_id: str, claims: LocalClaims | None = None,
                 clock: Callable[[], datetime] = utcnow, monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> None:
        """`clock` (UTC: the heartbeat's time), `monotonic` (durations) and `sleep` (the wait
        between cycles) are what tests move."""
        if not (math.isfinite(cycle_sec) and cycle_sec > 0):
            raise ValueError(f"cycle_sec must be a positive number of seconds, got {cycle_sec!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        if not worker_id:
            raise ValueError("the AI worker needs a worker id")
        self._store = store
        self._step = step
        self._new_market_data = new_market_data
        self.cycle_sec = cycle_sec
        self.concurrency = concurrency
        self.worker_id = worker_id
        self._claims = claims or LocalClaims()
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self._stop = asyncio.Event()
        self._cycle = asyncio.Lock()  # one cycle at a time, whoever calls run_cycle

    def stop(self) -> None:
        """Finish the cycle in flight (if any), then make `run` return."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> None:
        """Cycles until `stop()`: the first at once, then one every cycle_sec (start to start)."""
        log.info("ai.worker_started", worker_id=self.worker_id, cycle_sec=self.cycle_sec,
                 concurrency=self.concurrency)
        while not self._stop.is_set():
            started = self._monotonic()
            await self.run_cycle()
            await self._wait(self.cycle_sec - (self._monotonic() - started))
        log.info("ai.worker_stopped", worker_id=self.worker_id)

    async def run_cycle(self) -> CycleFigures | None:
        """One cycle; None when it was skipped (the store did not answer)."""
        async with self._cycle:
            return await self._run_cycle()

    async def _run_cycle(self) -> CycleFigures | None:
        started = self._monotonic()
        try:
            strategies = await self._store.running_ai_strategies()
            market = self._new_market_data()
        except Exception as err:  # a store (or market data) outage: this cycle is skipped, never the worker
            log.warning("ai.cycle_skipped", worker_id=self.worker_id, error=f"{type(err).__name__}: {err}")
            return None
        gate = asyncio.Semaphore(self.concurrency)
        steps = [self._run_step(s, market, gate) for s in strategies if s.exchange]
        ran = [outcome for outcome in await asyncio.gather(*steps) if outcome is not None]
        figures = CycleFigures(
            ended_at=self._clock(),
            duration_ms=max(0, round((self._monotonic() - started) * 1000)),
            strategies=len(ran),
            decisions=sum(1 for o in ran if o.decision_id is not None),
            errors=sum(1 for o in ran if o.error is not None),
        )
        await self._report(figures, market)
        return figures

    async def _run_step(self, strategy: AiStrategyRecord, market: MarketData,
                        gate: asyncio.Semaphore) -> StepOutcome | None:
        """The strategy's outcome; None when another worker has it this cycle."""
        strategy_id = str(strategy.id)
        async with gate:
            try:
                claim = await self._claims.claim(strategy_id)
            except ClaimUnavailable as err:
                log.warning("ai.claim_failed", strategy_id=strategy_id, error=str(err))
                return StepOutcome(strategy_id, error=f"claim unavailable: {err}")
            if claim is None:
                return None
            try:
                return await self._step(strategy, market)
            except Exception as err:  # a bug in the step: counted, never the end of the cycle
                log.exception("ai.step_failed", strategy_id=strategy_id, user_id=strategy.user_id)
                return StepOutcome(strategy_id, error=f"{type(err).__name__}: {err}")
            finally:
                await self._claims.finish(claim)

    async def _report(self, figures: CycleFigures, market: MarketData) -> None:
        log.info("ai.cycle", worker_id=self.worker_id, duration_ms=figures.duration_ms,
                 strategies=figures.strategies, decisions=figures.decisions, errors=figures.errors,
                 market_requests=market.requests())
        heartbeat = AiWorkerHeartbeat(self.worker_id, figures.ended_at, figures.duration_ms, figures.strategies,
                                      figures.decisions, figures.errors)
        try:
            await self._store.record_ai_worker_heartbeat(heartbeat)
        except Exception as err:  # the health endpoint will show the worker late; the next cycle retries
            log.warning("ai.heartbeat_failed", worker_id=self.worker_id, error=f"{type(err).__name__}: {err}")

    async def _wait(self, seconds: float) -> None:
        """Sleep until the next cycle is due, or until `stop()`."""
        if seconds <= 0 or self._stop.is_set():
            return
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopped = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait((sleeper, stopped), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopped):
                task.cancel()
            await asyncio.gather(sleeper, stopped, return_exceptions=True)


class StopOnSignal:
    """What SIGTERM and SIGINT do to a running worker: the first lets the cycle in flight finish,
    then `run` returns; the second cancels `run` at once (the cycle in flight is cut short)."""

    def __init__(self, worker: AiWorker, task: asyncio.Task[None]) -> None:
        self._worker = worker
        self._task = task
        #: the signals received so far
        self.received: list[int] = []

    def __call__(self, signum: int) -> None:
        self.received.append(signum)
        name = signal.Signals(signum).name
        if len(self.received) == 1:
            log.info("ai.worker_stopping", worker_id=self._worker.worker_id, signal=name)
            self._worker.stop()
        else:
            log.warning("ai.worker_aborted", worker_id=self._worker.worker_id, signal=name)
            self._task.cancel()

    def install(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self, signum)

    def uninstall(self, loop: asyncio.AbstractEventLoop) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
