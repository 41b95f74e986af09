"""Named background loops: one run at a time per loop, failures logged and backed off.

Each loop is one task (its reference kept) that sleeps, runs its work, and sleeps again; the work
is awaited, so a loop never runs twice at once. Runs start on the period's ticks (start to start);
a run that outlasts the period moves the next one to the first tick after it ends, never
overlapping it. A failed run is logged (`background.failed`, with the loop and the error) and the
loop waits `period * 2^consecutive failures` (at most BACKOFF_CAP_SEC, or the period when longer)
before the next; a success resets it. `leader_only` loops run only on the server holding their
leader lock (leader.py); the others run on every server.

Loops start with `start()` (the app lifespan, once start-up recovery is done; a loop added later
starts at once) and stop with `aclose()`, before the clients their work uses are closed. At
shutdown a waiting loop is cancelled at once; a run in flight is given STOP_GRACE_SEC to finish —
a reconcile half done would leave its record for the next run to redo — and cancelled past it, so
shutdown stays bounded. The loops' work must survive being cut short anyway (a crash does that).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from sparky.background.leader import Leadership, LocalLeadership
from sparky.background.state import LoopError, LoopState
from sparky.store.base import utcnow

log = structlog.get_logger("sparky.background")

#: the longest wait after failures, unless the loop's period is longer
BACKOFF_CAP_SEC = 120.0
#: how long shutdown waits for a run in flight before cancelling it
STOP_GRACE_SEC = 5.0

Work = Callable[[], Awaitable[object]]
#: told of every run: the loop's name, its duration (s), its error (None: it succeeded), failures in a row
RunObserver = Callable[[str, float, "BaseException | None", int], None]


@dataclass
class _Loop:
    work: Work
    first_after: float | None
    state: LoopState
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class TaskRunner:
    def __init__(self, *, leadership: Leadership | None = None,
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 clock: Callable[[], datetime] = utcnow, monotonic: Callable[[], float] = time.monotonic,
                 stop_grace: float = STOP_GRACE_SEC, backoff_cap: float = BACKOFF_CAP_SEC) -> None:
        """`sleep`, `clock` (UTC, for the state) and `monotonic` (durations) are what tests move."""
        self.leadership = leadership or LocalLeadership()
        self._sleep = sleep
        self._clock = clock
        self._monotonic = monotonic
        self._stop_grace = stop_grace
        self._backoff_cap = backoff_cap
        self._loops: dict[str, _Loop] = {}
        self._observers: list[RunObserver] = []
        self._started = False
        self._stopping = False

    def every(self, name: str, seconds: float, work: Work, *, leader_only: bool = False,
              first_after: float | None = None) -> None:
        """Run `work` every `seconds` until `aclose()`, the first time `first_after` seconds after
        the start (default: one period). `leader_only`: on one server at a time (see leader.py)."""
        if not name or name in self._loops:
            raise ValueError(f"background loop name must be unique and non-empty, got {name!r}")
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError(f"background loop {name!r}: period must be a positive number of seconds, got {seconds!r}")
        if first_after is not None and not (math.isfinite(first_after) and first_after >= 0):
            raise ValueError(f"background loop {name!r}: first_after must be 0 or more seconds, got {first_after!r}")
        loop = _Loop(work, first_after, LoopState(name, seconds, leader_only))
        self._loops[name] = loop
        if self._started and not self._stopping:
            self._launch(loop)

    def observe(self, observer: RunObserver) -> None:
        """Tell `observer` of every run once it ended (metrics, operator alerts); it must not block."""
        self._observers.append(observer)

    def start(self) -> None:
        """Start every loop added so far (later ones start as they are added)."""
        if self._started:
            return
        self._started = True
        for loop in self._loops.values():
            self._launch(loop)

    def _launch(self, loop: _Loop) -> None:
        if loop.state.leader_only:
            self.leadership.contend(loop.state.name)
        loop.task = asyncio.create_task(self._run_forever(loop), name=f"background.{loop.state.name}")

    @property
    def stopping(self) -> bool:
        """True once `aclose()` began: long work may cut itself short (it gets STOP_GRACE_SEC)."""
        return self._stopping

    @property
    def names(self) -> list[str]:
        return sorted(self._loops)

    def state(self, name: str) -> LoopState:
        """A snapshot of loop `name` (KeyError if there is none)."""
        loop = self._loops[name]
        if not loop.state.leader_only:
            return replace(loop.state)
        return replace(loop.state, leader=self.leadership.holds(name), leader_server=self.leadership.holder(name))

    def report(self) -> dict[str, Any]:
        """The loops' state and the leader lock's, for `GET /health` (admin)."""
        return {
            "leaderLock": {"backend": self.leadership.backend, "ttlSec": self.leadership.ttl_sec,
                           "reachable": self.leadership.reachable},
            "loops": {name: self.state(name).view() for name in self.names},
        }

    async def _run_forever(self, loop: _Loop) -> None:
        state = loop.state
        wait = loop.first_after if loop.first_after is not None else state.period_sec
        try:
            while True:
                state.next_run_at = self._clock() + timedelta(seconds=wait)
                await self._sleep(wait)  # the loop's period, not a stand-in for synchronisation
                if self._stopping:
                    return
                if state.leader_only and not self.leadership.holds(state.name):
                    wait = state.period_sec  # another server leads (or none may): look again next tick
                    continue
                wait = await self._run_once(loop)
                if self._stopping:  # shutdown waited for this run: no next one
                    return
        finally:
            state.next_run_at = None

    async def _run_once(self, loop: _Loop) -> float:
        """Run the work once; return the wait before the next run."""
        state = loop.state
        started = self._monotonic()
        state.last_started_at, state.running = self._clock(), True
        error: BaseException | None = None
        try:
            await loop.work()
        except Exception as err:
            error = err
            state.failures += 1
            state.consecutive_failures += 1
            state.last_error = LoopError.of(err, self._clock())
            wait = min(state.period_sec * 2 ** state.consecutive_failures, max(state.period_sec, self._backoff_cap))
            log.exception("background.failed", loop=state.name, error=f"{type(err).__name__}: {err}",
                          consecutive_failures=state.consecutive_failures, retry_in_sec=wait)
            return wait
        else:
            state.consecutive_failures = 0
            elapsed = self._monotonic() - started
            return state.period_sec - elapsed % state.period_sec  # the next tick after this run
        finally:
            state.runs += 1
            state.running = False
            elapsed = self._monotonic() - started
            state.last_duration_ms = round(elapsed * 1000, 1)
            self._tell_observers(state.name, elapsed, error, state.consecutive_failures)

    def _tell_observers(self, name: str, seconds: float, error: BaseException | None, in_a_row: int) -> None:
        for observer in self._observers:
            try:
                observer(name, seconds, error, in_a_row)
            except Exception:  # watching a loop never stops it
                log.exception("background.observer_failed", loop=name)

    async def aclose(self) -> None:
        """Stop every loop (a run in flight gets `stop_grace` seconds), then release leader locks."""
        self._stopping = True
        loops = [loop for loop in self._loops.values() if loop.task is not None]
        busy = {loop.task: loop.state.name for loop in loops if loop.state.running and loop.task is not None}
        for loop in loops:
            if loop.task is not None and not loop.state.running:
                loop.task.cancel()
        if busy:
            _, late = await asyncio.wait(busy, timeout=self._stop_grace)
            for task in late:
                log.warning("background.cancelled_at_shutdown", loop=busy[task], grace_sec=self._stop_grace)
                task.cancel()
        await asyncio.gather(*(loop.task for loop in loops if loop.task is not None), return_exceptions=True)
        await self.leadership.aclose()
