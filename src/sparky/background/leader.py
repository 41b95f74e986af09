"""Which server runs a `leader_only` loop: one leader lock per loop, held in Redis and renewed.

Servers sharing `REDIS_URL` each contend for `sparky:leader:<loop>`: `SET key token NX PX ttl`
takes it, the holder renews it every ttl/3 with a compare-and-set script (a holder that lost the
key never extends the new holder's), and releases it at shutdown with a compare-and-delete. A
server that is not the leader tries again when the current key could lapse (its PTTL, at most
ttl/3 away), so a leader killed without releasing is replaced within one lock period.

A server counts itself leader only until `ttl` after it last SENT a successful take or renewal:
from then on another server may hold the key. So with Redis configured but unreachable, the
leader keeps its loops until that moment and then stops them, and nobody takes them: a loop that
reconciles positions must never run on two servers at once, and without Redis no server can tell
it is alone. They resume once Redis answers again. Without `REDIS_URL` there is one server
(docs: several servers need Redis), which leads every loop (`LocalLeadership`).

The one case left: a Redis that restarts without its data forgets the key, and another server can
take it before the old holder's next renewal finds it gone (at most ttl/3); work that must never
overlap (reconciling a position) also holds the position's own lock.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError

log = structlog.get_logger("sparky.background")

#: extend the key only if it still holds our token
RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
#: delete the key only if it still holds our token
RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""
#: after the key's PTTL, try a little later (Redis expires keys by the millisecond)
AFTER_EXPIRY_SEC = 0.005


class Leadership:
    """Every loop led here: one server, nothing shared (no `REDIS_URL`)."""

    backend = "local"
    ttl_sec: float | None = None

    @property
    def reachable(self) -> bool | None:
        return None

    def contend(self, name: str) -> None:
        """Start contending for `name` (a leader_only loop)."""

    def holds(self, name: str) -> bool:
        return True

    def holder(self, name: str) -> str | None:
        return None

    async def aclose(self) -> None:
        return None


LocalLeadership = Leadership


@dataclass
class _Claim:
    key: str
    token: str
    #: monotonic time until which this server may count itself leader; None: not held
    valid_until: float | None = None
    #: the server id in the token last seen on the key
    holder: str | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class RedisLeadership(Leadership):
    backend = "redis"

    def __init__(self, url: str, server_id: str, *, ttl: float, prefix: str = "sparky:",
                 sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._redis = Redis.from_url(url, decode_responses=True, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._renew = self._redis.register_script(RENEW)
        self._release = self._redis.register_script(RELEASE)
        self._server_id = server_id
        self.ttl_sec = ttl
        self._ttl_sec = ttl  # `ttl_sec` as a plain float, for the arithmetic below
        self._ttl_ms = max(1, int(ttl * 1000))
        self._prefix = prefix
        self._sleep = sleep
        self._monotonic = monotonic
        self._claims: dict[str, _Claim] = {}
        self._reachable: bool | None = None

    @property
    def reachable(self) -> bool | None:
        """Whether Redis answered the last attempt (None before the first)."""
        return self._reachable

    def contend(self, name: str) -> None:
        claim = _Claim(key=f"{self._prefix}leader:{name}", token=f"{self._server_id}/{uuid.uuid4().hex}")
        self._claims[name] = claim
        claim.task = asyncio.create_task(self._keep(name, claim), name=f"background.leader.{name}")

    def holds(self, name: str) -> bool:
        claim = self._claims.get(name)
        return claim is not None and claim.valid_until is not None and self._monotonic() < claim.valid_until

    def holder(self, name: str) -> str | None:
        claim = self._claims.get(name)
        if claim is None:
            return None
        return self._server_id if self.holds(name) else claim.holder

    async def _keep(self, name: str, claim: _Claim) -> None:
        """Take or renew the key, then wait for the next moment that matters, until cancelled."""
        while True:
            try:
                wait = await self._step(name, claim)
            except (RedisError, OSError) as err:
                if self._reachable is not False:
                    log.warning("background.leader_lock_unavailable", loop=name, error=f"{type(err).__name__}: {err}",
                                leader=self.holds(name))
                self._reachable = False
                if claim.valid_until is not None and self._monotonic() >= claim.valid_until:
                    claim.valid_until = None  # another server may hold it by now: the loop stops here
                    log.warning("background.leader_lapsed", loop=name)
                wait = self._ttl_sec / 3
            else:
                if self._reachable is False:
                    log.info("background.leader_lock_recovered", loop=name)
                self._reachable = True
            await self._sleep(wait)

    async def _step(self, name: str, claim: _Claim) -> float:
        """One attempt; returns how long to wait before the next."""
        sent = self._monotonic()
        if claim.valid_until is not None:  # held (or held until renewals failed): renew if still ours
            if await self._renew(keys=[claim.key], args=[claim.token, self._ttl_ms]):
                claim.valid_until, claim.holder = sent + self._ttl_sec, self._server_id
                return self._ttl_sec / 3
            claim.valid_until = None
            log.warning("background.leader_lost", loop=name)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(claim.key, claim.token, px=self._ttl_ms, nx=True, get=True)
            pipe.pttl(claim.key)
            previous, left_ms = await pipe.execute()
        if previous is None:
            claim.valid_until, claim.holder = sent + self._ttl_sec, self._server_id
            log.info("background.leader_acquired", loop=name, server=self._server_id)
            return self._ttl_sec / 3
        claim.holder = str(previous).partition("/")[0]
        if left_ms < 0:  # -2: gone meanwhile, try again at once; -1: set without expiry by hand
            return AFTER_EXPIRY_SEC if left_ms == -2 else self._ttl_sec / 3
        return min(left_ms / 1000 + AFTER_EXPIRY_SEC, self._ttl_sec / 3)

    async def aclose(self) -> None:
        """Stop renewing and release every key still ours (after the loops stopped)."""
        claims = list(self._claims.values())
        tasks = [c.task for c in claims if c.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for name, claim in self._claims.items():
            if claim.valid_until is None:
                continue
            claim.valid_until = None
            try:
                await self._release(keys=[claim.key], args=[claim.token])
            except (RedisError, OSError) as err:  # it lapses by itself within one lock period
                log.warning("background.leader_release_failed", loop=name, error=f"{type(err).__name__}: {err}")
        await self._redis.aclose()
