"""The background runner: failures logged and backed off, one run at a time, its state, shutdown.

Time is virtual (tests/stepped_time.py): each test says when loops wake, nothing sleeps for real.
"""

from __future__ import annotations

import asyncio

import pytest
from structlog.testing import capture_logs

from sparky.background import TaskRunner
from tests.stepped_time import SteppedTime


def runner_on(time: SteppedTime, **options) -> TaskRunner:
    return TaskRunner(sleep=time.sleep, clock=time.clock, monotonic=time.monotonic, **options)


async def test_a_failing_run_is_logged_and_the_loop_goes_on_backing_off_until_a_success_resets_it() -> None:
    time = SteppedTime()
    runner = runner_on(time)
    outcomes = [RuntimeError("venue said no"), RuntimeError("venue said no"), None, RuntimeError("once more")]
    started: list[float] = []

    async def check_prices() -> None:
        started.append(time.now)
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome

    runner.every("prices.check", 10, check_prices)
    runner.start()
    with capture_logs() as logs:
        await time.advance(10 + 20 + 40 + 10, parked=1)
    await runner.aclose()

    assert started == [10, 30, 70, 80]  # waits of 20 then 40 after failures, the period after a success
    assert time.waits["background.prices.check"] == [10, 20, 40, 10, 20]
    failed = [entry for entry in logs if entry["event"] == "background.failed"]
    assert [(e["loop"], e["error"], e["consecutive_failures"]) for e in failed] == [
        ("prices.check", "RuntimeError: venue said no", 1), ("prices.check", "RuntimeError: venue said no", 2),
        ("prices.check", "RuntimeError: once more", 1)]
    state = runner.state("prices.check")
    assert (state.runs, state.failures, state.consecutive_failures) == (4, 3, 1)
    assert (state.last_error.type, state.last_error.message) == ("RuntimeError", "once more")


async def test_the_backoff_is_capped() -> None:
    time = SteppedTime()
    runner = runner_on(time, backoff_cap=30)

    async def always_fails() -> None:
        raise ConnectionError("store down")

    runner.every("store.check", 10, always_fails)
    runner.start()
    await time.advance(10 + 20 + 30 + 30, parked=1)
    await runner.aclose()
    assert time.waits["background.store.check"] == [10, 20, 30, 30, 30]
    assert runner.state("store.check").consecutive_failures == 4


async def test_a_run_longer_than_the_period_delays_the_next_to_a_later_tick_and_never_overlaps() -> None:
    time = SteppedTime()
    runner = runner_on(time)
    started: list[float] = []
    active, most_active = 0, 0

    async def slow_reconcile() -> None:
        nonlocal active, most_active
        started.append(time.now)
        active += 1
        most_active = max(most_active, active)
        await time.sleep(25)  # the venue answers slowly
        active -= 1

    runner.every("positions.reconcile", 10, slow_reconcile)
    runner.start()
    await time.advance(96, parked=1)  # the third run ends at 95
    await runner.aclose()
    assert started == [10, 40, 70]  # each run takes 25 s: the ticks at 20 and 30 (50, 60) are skipped
    assert most_active == 1


async def test_runs_start_on_the_period_ticks_whatever_each_run_takes() -> None:
    time = SteppedTime()
    runner = runner_on(time)
    started: list[float] = []

    async def snapshot() -> None:
        started.append(time.now)
        await time.sleep(4)

    runner.every("pnl.snapshot", 30, snapshot, first_after=0)
    runner.start()
    await time.advance(95, parked=1)
    await runner.aclose()
    assert started == [0, 30, 60, 90]


async def test_the_state_of_a_loop_says_what_it_did_and_when_it_runs_next() -> None:
    time = SteppedTime()
    runner = runner_on(time)

    async def fails_with_a_page() -> None:
        await time.sleep(0.25)
        raise ValueError("<html>" + "x" * 500)

    runner.every("venue.poll", 30, fails_with_a_page, first_after=5)
    assert runner.state("venue.poll").runs == 0
    runner.start()
    await time.advance(5.25, parked=1)
    view = runner.report()["loops"]["venue.poll"]
    await runner.aclose()

    message = view["lastError"].pop("message")
    assert len(message) == 200 and message.startswith("<html>xxx") and message.endswith("…")
    assert view == {
        "periodSec": 30, "leaderOnly": False, "leader": None, "leaderServer": None, "running": False,
        "runs": 1, "failures": 1, "consecutiveFailures": 1,
        "lastStartedAt": "2026-01-05T09:00:05+00:00", "lastDurationMs": 250.0,
        "lastError": {"type": "ValueError", "at": "2026-01-05T09:00:05.250000+00:00"},
        "nextRunAt": "2026-01-05T09:01:05.250000+00:00",  # 60 s: twice the period after one failure
    }
    assert runner.report()["leaderLock"] == {"backend": "local", "ttlSec": None, "reachable": None}


async def test_without_redis_a_leader_only_loop_runs_here() -> None:
    time = SteppedTime()
    runner = runner_on(time)
    runs: list[float] = []

    async def reconcile() -> None:
        runs.append(time.now)

    runner.every("positions.reconcile", 30, reconcile, leader_only=True)
    runner.start()
    await time.advance(60, parked=1)
    assert runs == [30, 60]
    assert runner.state("positions.reconcile").leader is True
    await runner.aclose()


async def test_a_loop_added_after_start_starts_at_once() -> None:
    time = SteppedTime()
    runner = runner_on(time)
    runner.start()
    runs: list[float] = []

    async def work() -> None:
        runs.append(time.now)

    runner.every("late", 5, work)
    await time.advance(10, parked=1)
    await runner.aclose()
    assert runs == [5, 10]
    assert runner.names == ["late"]


async def test_aclose_cancels_waiting_loops_at_once() -> None:
    time = SteppedTime()
    runner = runner_on(time)
    ran: list[str] = []

    async def work() -> None:
        ran.append("ran")

    runner.every("a", 30, work)
    runner.every("b", 60, work)
    runner.start()
    await time.parked(2)
    await asyncio.wait_for(runner.aclose(), 1)  # nobody advances time: it must not wait for a tick
    assert ran == []
    assert runner.state("a").next_run_at is None and runner.state("b").next_run_at is None


async def test_aclose_lets_a_run_in_flight_finish_and_starts_no_other() -> None:
    time = SteppedTime()
    runner = runner_on(time)
    entered, release = asyncio.Event(), asyncio.Event()
    finished: list[bool] = []

    async def reconcile() -> None:
        entered.set()
        await release.wait()
        finished.append(True)

    runner.every("positions.reconcile", 10, reconcile)
    runner.start()
    await time.parked(1)
    await time.advance(10, parked=0)
    await asyncio.wait_for(entered.wait(), 1)
    closing = asyncio.create_task(runner.aclose())
    await asyncio.sleep(0)  # let aclose begin waiting for the run (a yield, not a wait for time)
    assert not closing.done() and runner.state("positions.reconcile").running
    release.set()
    await asyncio.wait_for(closing, 1)
    assert finished == [True]
    assert runner.state("positions.reconcile").runs == 1 and not runner.state("positions.reconcile").running


async def test_aclose_cancels_a_run_that_outlasts_the_grace() -> None:
    time = SteppedTime()
    runner = runner_on(time, stop_grace=0)
    entered = asyncio.Event()
    cancelled: list[bool] = []

    async def stuck() -> None:
        entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    runner.every("venue.stuck", 10, stuck)
    runner.start()
    await time.parked(1)
    await time.advance(10, parked=0)
    await asyncio.wait_for(entered.wait(), 1)
    with capture_logs() as logs:
        await asyncio.wait_for(runner.aclose(), 1)
    assert cancelled == [True]
    assert [(e["event"], e["loop"]) for e in logs] == [("background.cancelled_at_shutdown", "venue.stuck")]


@pytest.mark.parametrize(("name", "seconds", "first_after", "says"), [
    ("", 10, None, "name must be unique and non-empty"),
    ("prices.check", 0, None, "period must be a positive number of seconds"),
    ("prices.check", float("nan"), None, "period must be a positive number of seconds"),
    ("prices.check", 10, -1, "first_after must be 0 or more seconds"),
])
def test_bad_loops_are_refused(name: str, seconds: float, first_after: float | None, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        TaskRunner().every(name, seconds, lambda: asyncio.sleep(0), first_after=first_after)


def test_a_loop_name_is_taken_once() -> None:
    runner = TaskRunner()
    runner.every("secrets.refresh", 10, lambda: asyncio.sleep(0))
    with pytest.raises(ValueError, match="'secrets.refresh'"):
        runner.every("secrets.refresh", 5, lambda: asyncio.sleep(0))
