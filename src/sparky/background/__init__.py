"""Background loops (`TaskRunner.every`) and the leader lock that keeps `leader_only` loops on one
server at a time."""

from __future__ import annotations

from sparky.background.leader import Leadership, LocalLeadership, RedisLeadership
from sparky.background.runner import TaskRunner
from sparky.background.state import LoopError, LoopState

__all__ = ["Leadership", "LocalLeadership", "LoopError", "LoopState", "RedisLeadership", "TaskRunner",
           "build_runner"]


def build_runner(redis_url: str | None, server_id: str, *, leader_ttl: float) -> TaskRunner:
    """The server's runner: leader locks in Redis when servers share one, else every loop is local."""
    if redis_url:
        return TaskRunner(leadership=RedisLeadership(redis_url, server_id, ttl=leader_ttl))
    return TaskRunner()
