"""Which AI worker runs a strategy in a cycle: a claim per strategy, in Redis when workers share it.

Several `sparky ai-worker` processes sharing `REDIS_URL` each load every running strategy each
cycle; before a strategy's step a worker takes `sparky:ai:strategy:<id>` with `SET NX`, and only
the worker that took it runs the step. The key expires by itself after `CLAIM_TTL_FACTOR` cycles,
so a worker killed mid-step never holds a strategy for long.

When the step ends the key is not deleted at once: it is kept until `HOLD_FACTOR` of a cycle after
it was taken (deleted at once if the step took longer). Workers' cycles do not start together: a
claim deleted the moment its step ended would let a worker whose cycle starts a few seconds later
run the same strategy again in the same interval (a second decision, maybe a second order). Kept
for most of a cycle, it gives each strategy one step per interval across workers, and still lapses
before the next cycle of the worker that ran it.

Without `REDIS_URL` one worker is assumed (docs/AI_WORKER.md): `LocalClaims` grants every claim.
With Redis configured but unreachable, nobody can tell which worker runs a strategy, so no worker
runs it: the claim fails (`ClaimUnavailable`) and the worker counts an error for the strategy.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("sparky.ai")

#: a claim lapses by itself this many cycles after it was taken (a worker that died mid-step)
CLAIM_TTL_FACTOR = 1.5
#: a finished step's claim is kept until this much of a cycle after it was taken
HOLD_FACTOR = 0.8

#: keep the key until ARGV[2] ms from now (delete it when that is not positive), if still ours
FINISH = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  local left = tonumber(ARGV[2])
  if left > 0 then
    return redis.call('pexpire', KEYS[1], left)
  end
  return redis.call('del', KEYS[1])
end
return 0
"""


class ClaimUnavailable(Exception):
    """The claim could not be asked for (Redis unreachable): the strategy is not run this cycle."""


@dataclass(frozen=True)
class Claim:
    strategy_id: str
    key: str
    token: str
    #: monotonic time it was taken
    taken_at: float


class LocalClaims:
    """One worker (no `REDIS_URL`): every strategy is this worker's."""

    async def claim(self, strategy_id: str) -> Claim | None:
        return Claim(strategy_id, key="", token="", taken_at=0.0)

    async def finish(self, claim: Claim) -> None:
        return None

    async def aclose(self) -> None:
        return None


class RedisClaims(LocalClaims):
    def __init__(self, url: str, worker_id: str, *, cycle_sec: float, prefix: str = "sparky:",
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._redis = Redis.from_url(url, decode_responses=True, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._finish = self._redis.register_script(FINISH)
        self._worker_id = worker_id
        self._prefix = prefix
        self._ttl_ms = max(1, int(cycle_sec * CLAIM_TTL_FACTOR * 1000))
        self._hold_sec = cycle_sec * HOLD_FACTOR
        self._monotonic = monotonic

    def key(self, strategy_id: str) -> str:
        return f"{self._prefix}ai:strategy:{strategy_id}"

    async def claim(self, strategy_id: str) -> Claim | None:
        """The claim when this worker took it; None when another worker holds the strategy."""
        key, token = self.key(strategy_id), f"{self._worker_id}/{uuid.uuid4().hex}"
        taken_at = self._monotonic()
        try:
            taken = await self._redis.set(key, token, nx=True, px=self._ttl_ms)
        except (RedisError, OSError) as err:
            raise ClaimUnavailable(f"{type(err).__name__}: {err}") from None
        return Claim(strategy_id, key, token, taken_at) if taken else None

    async def finish(self, claim: Claim) -> None:
        """The step ended: keep the claim until the hold ends (never fails: it lapses by itself)."""
        left_ms = int((claim.taken_at + self._hold_sec - self._monotonic()) * 1000)
        try:
            await self._finish(keys=[claim.key], args=[claim.token, left_ms])
        except (RedisError, OSError) as err:
            log.warning("ai.claim_finish_failed", strategy_id=claim.strategy_id, error=f"{type(err).__name__}: {err}")

    async def aclose(self) -> None:
        await self._redis.aclose()
