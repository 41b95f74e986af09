"""Leader-only background loops on servers sharing one real Redis: one server runs them, a server
killed without releasing its lock is replaced within one lock period, a holder that lost its key
never extends the new holder's, and a leader cut off from Redis stops once its lock could lapse."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import textwrap
import time as wall
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from redis.asyncio import Redis
from redis.exceptions import RedisError
from structlog.testing import capture_logs

from sparky.background import RedisLeadership, TaskRunner
from tests.stepped_time import SteppedTime

SOURCES = Path(__file__).resolve().parents[2] / "src"
LOOP = "positions.reconcile"


def stepped_runner(time: SteppedTime, url: str, server_id: str, prefix: str, *, ttl: float = 30) -> TaskRunner:
    leadership = RedisLeadership(url, server_id, ttl=ttl, prefix=prefix, sleep=time.sleep, monotonic=time.monotonic)
    return TaskRunner(leadership=leadership, sleep=time.sleep, clock=time.clock, monotonic=time.monotonic)


def counting(runs: list[str], who: str):
    async def reconcile() -> None:
        runs.append(who)

    return reconcile


async def test_two_servers_run_a_leader_only_loop_once_per_period_in_total(redis_url: str, prefix: str) -> None:
    time = SteppedTime()
    runs: list[str] = []
    a = stepped_runner(time, redis_url, "server-a", prefix)
    b = stepped_runner(time, redis_url, "server-b", prefix)
    a.every(LOOP, 1, counting(runs, "a"), leader_only=True)
    b.every(LOOP, 1, counting(runs, "b"), leader_only=True)
    a.start()
    await time.parked(2)  # a took the lock first
    b.start()
    await time.advance(40, parked=4)  # four renewals of a's lock (every ttl/3) on the way

    assert runs == ["a"] * 40
    assert (a.state(LOOP).leader, a.state(LOOP).leader_server) == (True, "server-a")
    assert (b.state(LOOP).leader, b.state(LOOP).leader_server) == (False, "server-a")
    raw = Redis.from_url(redis_url, decode_responses=True)
    key = f"{prefix}leader:{LOOP}"
    assert (await raw.get(key)).startswith("server-a/")
    await a.aclose()
    assert await raw.exists(key) == 0  # released at shutdown, not left to lapse
    await b.aclose()
    await raw.aclose()


async def test_a_holder_whose_key_was_taken_over_does_not_renew_it(redis_url: str, prefix: str) -> None:
    time = SteppedTime()
    runs: list[str] = []
    a = stepped_runner(time, redis_url, "server-a", prefix)
    a.every(LOOP, 1, counting(runs, "a"), leader_only=True)
    with capture_logs() as logs:
        a.start()
        await time.advance(5, parked=2)
        raw = Redis.from_url(redis_url, decode_responses=True)
        key = f"{prefix}leader:{LOOP}"
        # a's renewals failed for a whole lock period meanwhile, and server-b took the key
        await raw.set(key, "server-b/its-token", px=20_000)
        await time.advance(10, parked=2)  # a's renewal is due at 10

    assert runs == ["a"] * 9  # 1..9: at 10 the renewal found the key gone to server-b
    assert await raw.get(key) == "server-b/its-token"
    assert 0 < await raw.pttl(key) <= 20_000  # not extended to a's 30 s
    assert (a.state(LOOP).leader, a.state(LOOP).leader_server) == (False, "server-b")
    assert [e["loop"] for e in logs if e["event"] == "background.leader_lost"] == [LOOP]
    await a.aclose()
    assert await raw.get(key) == "server-b/its-token"  # shutdown releases only its own key
    await raw.aclose()


CRASHING_SERVER = textwrap.dedent("""
    import asyncio, sys
    from sparky.background import RedisLeadership, TaskRunner

    async def main():
        url, prefix, ttl = sys.argv[1], sys.argv[2], float(sys.argv[3])
        runner = TaskRunner(leadership=RedisLeadership(url, "server-a", ttl=ttl, prefix=prefix))

        async def reconcile():
            print("ran", flush=True)

        runner.every("positions.reconcile", 0.05, reconcile, leader_only=True, first_after=0)
        runner.start()
        await asyncio.Event().wait()

    asyncio.run(main())
""")


async def until(condition, timeout: float) -> None:
    """Wait (bounded) until `condition()` holds, looking every 10 ms."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def first_run(server: asyncio.subprocess.Process) -> None:
    """Read the server's output (its log lines too) until its loop ran."""
    while (line := await server.stdout.readline()) != b"ran\n":
        assert line, "the server exited before its loop ran"


async def test_a_leader_killed_without_releasing_is_replaced_within_one_lock_period(redis_url: str,
                                                                                    prefix: str) -> None:
    ttl = 2.0
    server_a = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_SERVER, redis_url, prefix, str(ttl), stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(SOURCES)})
    try:
        await asyncio.wait_for(first_run(server_a), 20)  # a leads
        runs: list[str] = []
        b = TaskRunner(leadership=RedisLeadership(redis_url, "server-b", ttl=ttl, prefix=prefix))
        b.every(LOOP, 0.05, counting(runs, "b"), leader_only=True)
        b.start()
        await until(lambda: b.leadership.reachable, 5)
        await until(lambda: b.state(LOOP).leader_server == "server-a", 5)
        assert runs == [] and b.state(LOOP).leader is False
        server_a.send_signal(signal.SIGKILL)  # no shutdown, no release: its key stays until it lapses
        await server_a.wait()
        killed = wall.monotonic()
        await until(lambda: runs, ttl + 2)
        took_over = wall.monotonic() - killed
        assert took_over <= ttl + 0.3  # the key's life (≤ ttl), one period of the loop, scheduling
        assert b.state(LOOP).leader is True
        await b.aclose()
    finally:
        if server_a.returncode is None:
            server_a.kill()
            await server_a.wait()


@asynccontextmanager
async def own_redis_server(tmp_path: Path) -> AsyncIterator[tuple[str, asyncio.subprocess.Process]]:
    """A redis-server of this test's own, so the test can take it away."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await asyncio.create_subprocess_exec(
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
        "--dir", str(tmp_path), stdout=asyncio.subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    raw = Redis.from_url(url)
    try:
        for _ in range(1000):
            try:
                if await raw.ping():
                    break
            except (RedisError, OSError):
                await asyncio.sleep(0.01)  # bounded: at most 10 s for the server to listen (a loaded machine)
        yield url, server
    finally:
        await raw.aclose()
        if server.returncode is None:
            server.kill()
            await server.wait()


async def test_a_leader_cut_off_from_redis_stops_once_its_lock_could_have_lapsed(redis_url: str, prefix: str,
                                                                                 tmp_path: Path) -> None:
    time = SteppedTime()
    runs: list[float] = []

    async def reconcile() -> None:
        runs.append(time.now)

    async with own_redis_server(tmp_path) as (url, server):
        a = stepped_runner(time, url, "server-a", prefix)
        a.every(LOOP, 5, reconcile, leader_only=True)
        a.start()
        await time.advance(1, parked=2)
        assert a.state(LOOP).leader is True  # took the lock at 0
        server.kill()
        await server.wait()
        with capture_logs() as logs:
            await time.advance(59, parked=2)  # renewals at 10, 20, ... fail

    assert runs == [5, 10, 15, 20, 25]  # until 30: ttl after the last take another server could hold it
    assert a.state(LOOP).leader is False and a.report()["leaderLock"]["reachable"] is False
    assert [(e["event"], e["loop"]) for e in logs if e["event"].startswith("background.leader")] == [
        ("background.leader_lock_unavailable", LOOP), ("background.leader_lapsed", LOOP)]
    with capture_logs() as logs:
        await a.aclose()  # nothing left to release: the key lapsed in Redis too
    assert logs == []


async def test_a_leader_that_cannot_release_at_shutdown_says_so_and_stops(prefix: str, redis_url: str,
                                                                         tmp_path: Path) -> None:
    time = SteppedTime()
    async with own_redis_server(tmp_path) as (url, server):
        a = stepped_runner(time, url, "server-a", prefix)
        a.every(LOOP, 5, counting([], "a"), leader_only=True)
        a.start()
        await time.advance(1, parked=2)
        server.kill()
        await server.wait()
        with capture_logs() as logs:
            await a.aclose()  # the key lapses in Redis by itself within one lock period
    assert [(e["event"], e["loop"]) for e in logs] == [("background.leader_release_failed", LOOP)]
    assert a.state(LOOP).leader is False
