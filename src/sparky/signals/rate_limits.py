"""Rate limits on POST /webhook: per user once the sender is known, per source address for failures.

TradingView sends every user's alerts from the same four addresses, so a limit per address would
make all users share one budget. Authenticated alerts are therefore limited per user (and plan);
the source address only counts failed attempts (unreadable bodies, wrong secrets or signatures):
past its limit an address's further failures are answered 429, while valid alerts from it still
pass — one user's mistyped secret never blocks another user's alerts.

Exits (close, close_long, close_short) are never limited nor counted: refusing one could leave a
user stuck in a position, and TradingView never resends a 4xx.

Counters are fixed windows on the `Cache` port (opened by their first hit, one atomic round trip
per limit): in process, or in Redis and shared by every server (`REDIS_URL`). No thread, no timer,
no blocking call on the event loop.
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

import structlog

from sparky.cache import Cache
from sparky.errors import SparkyError, TooManyRequests
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.gates import Rejection
from sparky.signals.models import Signal
from sparky.signals.source_ips import parse_address

log = structlog.get_logger("sparky.webhook")

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^(\d+)\s*(?:/|\s+per\s+)\s*(\d+)?\s*(second|minute|hour|day)s?$", re.IGNORECASE)
EXAMPLE = "e.g. '60/minute' or '60/minute;500/hour' (units: second, minute, hour, day)"


@dataclass(frozen=True)
class Rate:
    """At most `count` requests per `seconds`."""

    count: int
    seconds: int

    def __str__(self) -> str:
        for unit, size in reversed(_UNITS.items()):
            if self.seconds % size == 0:
                n = self.seconds // size
                return f"{self.count}/{unit}" if n == 1 else f"{self.count}/{n} {unit}s"
        raise AssertionError("unreachable: seconds is a multiple of 1")


def parse_rates(text: str, *, setting: str) -> tuple[Rate, ...]:
    """'60/minute;500/hour' → its rates; '' → none (the limit is off). Anything else is refused
    with a message naming `setting` — a typo must never switch the limit off."""
    if not (text or "").strip():
        return ()
    rates = []
    for part in re.split(r"[;,]", text):
        item = part.strip()
        match = _RATE.match(item)
        if match is None:
            raise ValueError(f"{setting}: {item!r} is not a rate limit; write {EXAMPLE}, or leave it empty "
                             "to switch the limit off")
        count, multiple, unit = int(match[1]), int(match[2] or 1), match[3].lower()
        if count < 1 or multiple < 1:
            raise ValueError(f"{setting}: {item!r} must allow at least 1 request in at least 1 {unit}")
        if multiple * _UNITS[unit] > 7 * 86400:
            raise ValueError(f"{setting}: {item!r}: windows longer than 7 days are not supported")
        rates.append(Rate(count, multiple * _UNITS[unit]))
    return tuple(rates)


@dataclass(frozen=True)
class Exceeded:
    rate: Rate
    retry_after: int  # whole seconds until the window that refused reopens


class FixedWindows:
    """Counts hits per key against several rates at once; a refused hit is not counted, so a
    sender over the limit gets through again as soon as the window reopens."""

    def __init__(self, cache: Cache) -> None:
        self._cache = cache

    async def hit(self, key: str, rates: tuple[Rate, ...]) -> Exceeded | None:
        counted: list[str] = []
        for rate in rates:
            window = f"rate:{key}:{rate.count}/{rate.seconds}"
            value, left = await self._cache.incr(window, 1, rate.seconds)
            counted.append(window)
            if value > rate.count:
                for taken in counted:  # not counted: neither in this window nor in the others
                    await self._cache.incr(taken, -1, rate.seconds)
                return Exceeded(rate, max(1, math.ceil(left)))
        return None


class RateLimits:
    """The per-user limit (by plan) and the per-address limit on failed attempts."""

    def __init__(self, cache: Cache, *, per_user: tuple[Rate, ...], failures_per_address: tuple[Rate, ...],
                 by_plan: Mapping[str, tuple[Rate, ...]] | None = None,
                 plan_of: Callable[[str], Awaitable[str]] | None = None) -> None:
        self._windows = FixedWindows(cache)
        self._per_user = per_user
        self._by_plan = {plan.lower(): rates for plan, rates in (by_plan or {}).items()}
        self._plan_of = plan_of
        self._failures = failures_per_address

    async def for_user(self, user_id: str, signal: Signal) -> Rejection | None:
        """Count an authenticated alert against its user's limit; a Rejection (429) past it.
        Exits are neither limited nor counted. Raises ServiceUnavailable if the plan cannot be read."""
        if not signal.action.is_entry:
            return None
        plan, rates = await self._rates_for(user_id)
        if not rates:
            return None
        exceeded = await self._windows.hit(f"user:{user_id}", rates)
        if exceeded is None:
            return None
        scope = f"on the {plan} plan" if plan else "per user"
        message = (f"Rate limit exceeded: {exceeded.rate} entries {scope}; retry in {exceeded.retry_after} s "
                   "(exits are never limited)")
        data = {"limit": str(exceeded.rate), "retry_after": exceeded.retry_after}
        body = {"success": False, "error": "Rate limit exceeded", "message": message,
                "data": {**data, "plan": plan} if plan else data}
        return Rejection(429, body, message)

    async def _rates_for(self, user_id: str) -> tuple[str | None, tuple[Rate, ...]]:
        if not self._by_plan or self._plan_of is None or user_id == LOCAL_USER_ID:  # the local user has no plan
            return None, self._per_user
        plan = await self._plan_of(user_id)
        return plan, self._by_plan.get(plan.lower(), self._per_user)

    async def failed_attempt(self, source_ip: str | None, error: SparkyError) -> SparkyError:
        """Count a failed attempt from `source_ip` and return what to answer: the error itself, or,
        past the address's limit, a 429 that still says what was wrong."""
        if not self._failures:
            return error
        address = str(parse_address(source_ip) or source_ip or "unknown")  # ::ffff:a.b.c.d counts as a.b.c.d
        exceeded = await self._windows.hit(f"failed:{address}", self._failures)
        if exceeded is None:
            return error
        log.info("webhook.rejected", stage="failed_attempts", reason=error.message, source_ip=address,
                 limit=str(exceeded.rate))
        return TooManyRequests(
            f"Too many failed attempts from {address}: {error.message}", field=error.field,
            hint=error.hint or "Fix the alert; valid alerts from this address are still accepted",
            data={"limit": str(exceeded.rate), "retry_after": exceeded.retry_after},
        )
