"""With REDIS_URL set but Redis unreachable, no server can tell it is alone: leader-only loops do
not run anywhere (two servers reconciling the same positions is the worse failure); every other
loop goes on."""

from __future__ import annotations

import socket

from structlog.testing import capture_logs

from sparky.background import RedisLeadership, TaskRunner
from tests.stepped_time import SteppedTime


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_leader_only_loops_wait_for_redis_while_local_loops_go_on() -> None:
    time = SteppedTime()
    leadership = RedisLeadership(f"redis://127.0.0.1:{closed_port()}/0", "server-a", ttl=30,
                                 sleep=time.sleep, monotonic=time.monotonic)
    runner = TaskRunner(leadership=leadership, sleep=time.sleep, clock=time.clock, monotonic=time.monotonic)
    ran: list[str] = []

    async def reconcile() -> None:
        ran.append("positions.reconcile")

    async def refresh() -> None:
        ran.append("secrets.refresh")

    runner.every("positions.reconcile", 10, reconcile, leader_only=True)
    runner.every("secrets.refresh", 10, refresh)
    with capture_logs() as logs:
        runner.start()
        await time.advance(60, parked=3)  # two loops and the leader lock's keeper
    report = runner.report()
    await runner.aclose()

    assert ran == ["secrets.refresh"] * 6
    assert report["leaderLock"] == {"backend": "redis", "ttlSec": 30, "reachable": False}
    assert report["loops"]["positions.reconcile"]["leader"] is False
    assert report["loops"]["positions.reconcile"]["runs"] == 0
    warnings = [e for e in logs if e["event"] == "background.leader_lock_unavailable"]
    assert len(warnings) == 1 and warnings[0]["loop"] == "positions.reconcile"  # once per outage
    assert "ConnectionError" in warnings[0]["error"]
