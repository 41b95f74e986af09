"""`GET /health` shows the background loops' state to the operator (admin token) and to nobody else."""

from __future__ import annotations

import asyncio
from datetime import datetime

from tests.conftest import ADMIN


async def until(condition, timeout: float = 5.0) -> None:
    """Wait (bounded) until `condition()` holds, looking every 10 ms."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_the_operator_sees_each_loop_its_runs_and_its_last_error(start) -> None:
    async with start(secret_refresh_sec=0.05) as sparky:
        runner = sparky.services.background

        async def check_venue() -> None:
            raise ConnectionError("venue unreachable: " + "x" * 400)

        runner.every("venue.check", 60, check_venue, first_after=0)  # as the monitor adds its loops
        await until(lambda: runner.state("venue.check").failures == 1 and runner.state("secrets.refresh").runs >= 2)
        response = await sparky.admin_get("/health")

    assert response.status_code == 200
    background = response.json()["background"]
    assert background["leaderLock"] == {"backend": "local", "ttlSec": None, "reachable": None}
    assert sorted(background["loops"]) == ["options.monitor", "positions.reconcile", "prices.refresh",
                                          "secrets.refresh", "store.watch", "venue.check"]
    refresh = background["loops"]["secrets.refresh"]
    assert (refresh["periodSec"], refresh["leaderOnly"], refresh["leader"]) == (0.05, False, None)
    assert refresh["runs"] >= 2 and refresh["failures"] == 0 and refresh["lastError"] is None
    assert datetime.fromisoformat(refresh["lastStartedAt"]).utcoffset().total_seconds() == 0  # UTC
    failing = background["loops"]["venue.check"]
    assert (failing["runs"], failing["failures"], failing["consecutiveFailures"]) == (1, 1, 1)
    assert failing["lastError"]["type"] == "ConnectionError"
    assert failing["lastError"]["message"].startswith("venue unreachable: xxx")
    assert len(failing["lastError"]["message"]) == 200  # cut: a venue may answer with a whole page
    # retried after twice the period, not at once
    assert (datetime.fromisoformat(failing["nextRunAt"]) - datetime.fromisoformat(failing["lastStartedAt"])
            ).total_seconds() >= 120


async def test_health_without_the_admin_token_shows_nothing_of_the_loops(start) -> None:
    async with start() as sparky:
        async def check_venue() -> None:
            raise ConnectionError("venue unreachable for user 42")

        sparky.services.background.every("venue.check", 60, check_venue, first_after=0)
        await until(lambda: sparky.services.background.state("venue.check").failures == 1)
        public = await sparky.client.get("/health")
        wrong = await sparky.client.get("/health", headers={"Authorization": f"Bearer {ADMIN}x"})
        ready = await sparky.client.get("/health/ready")

    for response in (public, wrong, ready):
        assert response.status_code == 200
        assert set(response.json()) == {"status", "version", "uptime", "uptimeFormatted", "apiStatus", "store",
                                        "cache", "exchanges", "inFlight", "timestamp"}
        assert "venue" not in response.text


async def test_a_run_in_flight_at_shutdown_finishes_before_the_store_closes(start) -> None:
    entered, release = asyncio.Event(), asyncio.Event()
    read: list[int] = []
    server = start()
    sparky = await server.__aenter__()
    runner = sparky.services.background

    async def reconcile() -> None:
        entered.set()
        await release.wait()
        read.append(len(await sparky.services.store.list_positions()))  # the store is still open

    runner.every("test.reconcile", 60, reconcile, first_after=0)
    await asyncio.wait_for(entered.wait(), 5)
    shutdown = asyncio.create_task(server.__aexit__(None, None, None))
    await until(lambda: runner.stopping)
    release.set()
    await asyncio.wait_for(shutdown, 10)

    assert read == [0]
    state = runner.state("test.reconcile")
    assert (state.runs, state.failures, state.last_error) == (1, 0, None)
