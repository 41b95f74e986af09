"""Stage 3 of the life of a webhook for a tenant: strategy, risk limits, plan quota.

The quota itself is checked and counted atomically by the store when the request is recorded
(`record_counted_webhook_request`); this module knows the plan's limit and tells the user when
they near or reach it. Exits (close, close_long, close_short, flat) are never refused by the quota,
the risk limits or their strategy's status: nothing may keep a user in a position.
Everything read here is cached briefly; `reload()` clears it (also when another process changed
the store, see `sparky.store_watch`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sparky.cache import Cache
from sparky.errors import ServiceUnavailable
from sparky.execution.outcome import jsonable
from sparky.notifications import LIMIT_EVENTS, Notifier
from sparky.plan_limits import merged_plan_limits, monthly_limit
from sparky.signals.models import Signal
from sparky.signals.risk import RiskCheckUnavailable, RiskDecision, check_entry_limits, next_month_start
from sparky.store.tenants import StrategyRecord, TenantStore, TradeSettings, WeeklyTradeStats


@dataclass(frozen=True)
class Rejection:
    """A signal refused by a gate: recorded, answered, never executed."""

    http_status: int
    body: dict[str, Any]
    message: str


@dataclass(frozen=True)
class Admission:
    """What the gates decided about one signal, and what recording it needs.

    `rejection` set: refuse it. Otherwise record and dispatch it; with `counted`, the store counts
    the request against the plan's monthly quota as it records it (atomically; refusing it past
    `limit` when there is one: entries), `counted` then tells the user when they near or reach the
    plan's limit, and `over_quota` answers a refused count. Exits are counted without a `limit`:
    never refused, but the warnings see them like any request that counts."""

    rejection: Rejection | None = None
    plan: str = ""
    limit: int | None = None
    counted: Callable[[int], None] | None = None
    over_quota: Callable[[int, int], Rejection] | None = None
    #: the id of the strategy the alert named (by name or id): its position and trade carry it
    strategy_id: str | None = None


#: recorded without a quota check (the local user, a server without tenants, exits)
UNGATED = Admission()


def risk_rejection(decision: RiskDecision) -> Rejection:
    """The original's 429 answer to an entry a risk limit refused."""
    body = {"success": False, "action": "rejected", "error": "Risk limit exceeded", "message": decision.message,
            "data": jsonable({"limitType": decision.limit_type, "current": decision.current,
                              "limit": decision.limit})}
    return Rejection(429, body, f"Risk limit exceeded: {decision.message}")


class _TtlCache:
    """Values read from the store, kept `ttl` seconds. `clear()` starts a new generation: a value
    read before it (it may predate the change that caused the clear) is not kept."""

    def __init__(self, ttl: float, clock: Callable[[], float]) -> None:
        self._ttl, self._clock = ttl, clock
        self._data: dict[Any, Any] = {}
        self.generation = 0

    def get(self, key: Any) -> Any:
        hit = self._data.get(key)
        return hit[1] if hit is not None and hit[0] > self._clock() else None

    def put(self, key: Any, value: Any, generation: int) -> Any:
        """Keep `value` (read during `generation`) unless the cache was cleared since."""
        if generation == self.generation:
            self._data[key] = (self._clock() + self._ttl, value)
        return value

    def clear(self) -> None:
        self._data.clear()
        self.generation += 1


class CachedTenantReads:
    """The reads the risk checks make, with trade settings cached (they change rarely)."""

    def __init__(self, store: TenantStore, settings_cache: _TtlCache) -> None:
        self._store = store
        self._settings = settings_cache

    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None:
        key = ("settings", user_id, exchange)
        cached = self._settings.get(key)
        if cached is not None:
            return cached or None  # False marks "no row"
        generation = self._settings.generation
        found = await self._store.get_trade_settings(user_id, exchange)
        self._settings.put(key, found or False, generation)
        return found

    async def weekly_trade_stats(self, user_id: str, exchange: str, since: datetime) -> WeeklyTradeStats:
        return await self._store.weekly_trade_stats(user_id, exchange, since)

    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int:
        return await self._store.count_open_positions(user_id, exchange)


class Gates:
    def __init__(self, store: TenantStore, cache: Cache, notifier: Notifier, *,
                 plan_limits: dict[str, int | None] | None = None, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._store = store
        self._cache = cache
        self._notifier = notifier
        self._limits = merged_plan_limits(plan_limits or {})
        self._cached = _TtlCache(ttl, clock)
        self._reads = CachedTenantReads(store, self._cached)

    @property
    def reads(self) -> CachedTenantReads:
        """Cached settings reads, shared with the executor's open-position limit."""
        return self._reads

    def reload(self) -> None:
        """Forget cached strategies, settings and plans (POST /strategies/reload)."""
        self._cached.clear()

    async def admit(self, user_id: str, signal: Signal, now: datetime) -> Admission:
        """Strategy, risk limits, then the plan's quota: one call, one decision for the pipeline.

        Raises ServiceUnavailable when any of them cannot be checked (nothing is recorded then)."""
        rejection, strategy = await self._check(user_id, signal, now)
        if rejection is not None:
            return Admission(rejection=rejection)
        if not signal.action.is_entry:
            return await self._exit_admission(user_id, now)
        plan, limit = await self._plan_and_limit(user_id)
        strategy_id = strategy.id if strategy is not None else None
        if limit is None:
            return Admission(plan=plan, strategy_id=strategy_id)
        return Admission(
            plan=plan, limit=limit, strategy_id=strategy_id,
            counted=lambda count: self._counted(user_id, plan, count, limit, now),
            over_quota=lambda current, full: self._quota_rejection(user_id, plan, current, full, now),
        )

    async def _exit_admission(self, user_id: str, now: datetime) -> Admission:
        """An exit counts like any executed request, so the 80 % and 100 % warnings see it, but a
        used-up quota never refuses it, and neither does a plan that cannot be read right now."""
        try:
            plan, limit = await self._plan_and_limit(user_id)
        except ServiceUnavailable:
            return UNGATED
        if limit is None:
            return UNGATED
        return Admission(plan=plan, counted=lambda count: self._counted(user_id, plan, count, limit, now))

    async def _check(self, user_id: str, signal: Signal,
                     now: datetime) -> tuple[Rejection | None, StrategyRecord | None]:
        """Strategy, then risk limits: a refusal, or the active strategy the signal named (if any).
        Raises ServiceUnavailable when they cannot be checked."""
        try:
            if not signal.action.is_entry:
                return None, None  # a paused or deleted strategy never keeps the user in its positions
            rejection, strategy = await self._strategy(user_id, signal)
            if rejection is not None:
                return rejection, None
            # max_open_positions is the executor's: under the user's lock it cannot race, and there
            # a reversal (which adds no position) is told apart from a new position
            decision = await check_entry_limits(self._reads, user_id, signal.exchange, signal, now,
                                                open_positions=False)
        except RiskCheckUnavailable as err:
            raise ServiceUnavailable("Risk limits could not be checked; nothing was executed") from err
        except ServiceUnavailable:
            raise
        except Exception as err:  # the store is down: refuse rather than trade unchecked
            raise ServiceUnavailable("Risk limits could not be checked; nothing was executed") from err
        return (None, strategy) if decision is None else (self._risk_rejection(user_id, decision), None)

    async def _strategy(self, user_id: str, signal: Signal) -> tuple[Rejection | None, StrategyRecord | None]:
        if signal.strategy is None and signal.strategy_id is None:
            return None, None
        key = ("strategy", user_id, (signal.strategy or "").lower(), signal.strategy_id)
        strategy: StrategyRecord | None = self._cached.get(key)
        if strategy is None:
            generation = self._cached.generation
            strategy = await self._store.find_strategy(user_id, name=signal.strategy, strategy_id=signal.strategy_id)
            if strategy is not None:
                self._cached.put(key, strategy, generation)
        if strategy is not None and strategy.status == "active":
            return None, strategy
        name = signal.strategy or signal.strategy_id
        message = f"Strategy '{name}' not found or inactive"
        return Rejection(200, {"success": False, "action": "rejected", "message": message}, message), None

    def _risk_rejection(self, user_id: str, decision: RiskDecision) -> Rejection:
        if decision.limit_type in LIMIT_EVENTS:
            self._notifier.notify(user_id, LIMIT_EVENTS[decision.limit_type], "Risk limit reached",
                                  decision.message, limitType=decision.limit_type)
        return risk_rejection(decision)

    async def plan(self, user_id: str) -> str:
        """The user's plan (cached); ServiceUnavailable when it cannot be read."""
        return (await self._plan_and_limit(user_id))[0]

    async def _plan_and_limit(self, user_id: str) -> tuple[str, int | None]:
        """The user's plan and monthly limit; ServiceUnavailable when the plan cannot be read."""
        key = ("plan", user_id)
        plan = self._cached.get(key)
        if plan is None:
            generation = self._cached.generation
            try:
                plan = self._cached.put(key, await self._store.subscription_plan(user_id), generation)
            except Exception as err:
                raise ServiceUnavailable("The plan's quota could not be checked; nothing was executed") from err
        return plan, monthly_limit(self._limits, plan)

    def _quota_rejection(self, user_id: str, plan: str, current: int, limit: int, now: datetime) -> Rejection:
        self._notify_once(user_id, now, "webhook_limit_reached", "Webhook limit reached",
                          f"You have used all {limit} webhooks of your {plan} plan this month.")
        reset = next_month_start(now)
        message = (f"Webhook limit exceeded: {current} of the {limit} webhooks of your {plan} plan used this "
                   f"month; nothing was executed. The count resets {reset:%Y-%m-%d} 00:00 UTC.")
        # the row's status is `rate_limited` (not counted against the quota): the action says the same
        body = {"success": False, "action": "rate_limited", "error": "Webhook limit exceeded", "message": message,
                "data": {"current": current, "limit": limit, "plan": plan, "resetDate": reset.isoformat()}}
        return Rejection(429, body, f"Webhook limit exceeded: {current}/{limit} ({plan})")

    def _counted(self, user_id: str, plan: str, count: int, limit: int | None, now: datetime) -> None:
        """After a request was counted: warn once at 80 % and once at 100 % of the month's quota
        (once a month each: a count at or past a threshold warns unless it already did)."""
        if not limit:
            return
        if count >= limit:
            self._notify_once(user_id, now, "webhook_limit_reached", "Webhook limit reached",
                              f"You have used all {limit} webhooks of your {plan} plan this month.")
        elif count >= math.ceil(limit * 0.8):
            self._notify_once(user_id, now, "webhook_limit_warning", "Webhook limit at 80 %",
                              f"{count} of {limit} webhooks of your {plan} plan used this month.")

    def _notify_once(self, user_id: str, now: datetime, event: str, title: str, message: str) -> None:
        key = f"notified:{user_id}:{now:%Y-%m}:{event}"
        notifier = self._notifier

        async def once() -> None:
            if await self._cache.add(key, "1", ttl=32 * 86400) is None:
                notifier.notify(user_id, event, title, message)

        notifier.spawn(once())

