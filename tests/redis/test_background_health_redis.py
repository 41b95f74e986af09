"""Two real servers sharing Redis: a leader-only loop runs on one of them, and each server's admin
`/health` says which."""

from __future__ import annotations

import asyncio
import uuid

from tests.conftest import make_settings, running


async def until(condition, timeout: float = 5.0) -> None:
    """Wait (bounded) until `condition()` holds, looking every 10 ms."""
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


async def test_two_servers_on_one_redis_run_a_leader_only_loop_on_one_and_say_so(redis_url: str, tmp_path) -> None:
    loop = f"positions.reconcile-{uuid.uuid4().hex[:8]}"  # its own lock key in the shared Redis
    runs = {"a": 0, "b": 0}

    def reconcile(server: str):
        async def work() -> None:
            runs[server] += 1

        return work

    async with running(make_settings(tmp_path / "a", redis_url=redis_url)) as a, \
            running(make_settings(tmp_path / "b", redis_url=redis_url)) as b:
        a.services.background.every(loop, 0.02, reconcile("a"), leader_only=True)
        b.services.background.every(loop, 0.02, reconcile("b"), leader_only=True)
        await until(lambda: runs["a"] + runs["b"] >= 5)
        health = {"a": (await a.admin_get("/health")).json(), "b": (await b.admin_get("/health")).json()}
        public = (await a.client.get("/health")).json()

    leader = "a" if runs["a"] else "b"
    follower = "b" if leader == "a" else "a"
    assert runs[follower] == 0
    assert health[leader]["background"]["loops"][loop]["leader"] is True
    assert health[follower]["background"]["loops"][loop]["leader"] is False
    leader_id = health[leader]["background"]["loops"][loop]["leaderServer"]
    assert leader_id == (tmp_path / leader / "server_id").read_text().strip()
    assert health[follower]["background"]["loops"][loop]["leaderServer"] == leader_id
    for server in ("a", "b"):
        assert health[server]["background"]["leaderLock"] == {"backend": "redis", "ttlSec": 30, "reachable": True}
        # per-server loops run on both
        assert health[server]["background"]["loops"]["secrets.refresh"]["leaderOnly"] is False
    assert "background" not in public
