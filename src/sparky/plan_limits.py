"""Webhooks per UTC month by plan: `PLAN_LIMITS` over the defaults, and what a plan it does not
name gets.

`PLAN_LIMITS` changes or adds plans; the plans it leaves out keep their defaults, so setting one
plan never unsets another. A plan with no entry — a name the dashboard or `sparky users` wrote that
no one configured — gets Free's limit, and Free must be a number: an unknown plan never means
unlimited. Names match without regard to case or surrounding spaces, as the SQL function
`check_webhook_limit` matches them (it reads the same limits from `public.sparky_plan_limits`,
which each server writes at start-up, see `publish`).
"""

from __future__ import annotations

from collections.abc import Mapping

import structlog

from sparky.store.tenants import DEFAULT_PLAN_LIMITS, TenantStore

log = structlog.get_logger("sparky.plan_limits")

#: the plan whose limit every plan without an entry gets
FALLBACK_PLAN = "Free"


def _key(plan: str) -> str:
    return plan.strip().lower()


def merged_plan_limits(configured: Mapping[str, int | None]) -> dict[str, int | None]:
    """The defaults with `configured` laid over them. ValueError (naming the plan) for an empty or
    twice-given name, a negative limit, or a Free without a number."""
    limits = dict(DEFAULT_PLAN_LIMITS)
    spelling = {_key(name): name for name in limits}
    given: set[str] = set()
    for name, limit in configured.items():
        key = _key(name)
        if not key:
            raise ValueError("a plan name is empty")
        if key in given:
            raise ValueError(f"{name.strip()!r} is given twice (plan names ignore case)")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise ValueError(f"{name.strip()}: must be a whole number of webhooks (0 or more) or null "
                             f"(unlimited), got {limit!r}")
        given.add(key)
        plan = spelling.setdefault(key, name.strip())
        limits[plan] = limit
    if limits[FALLBACK_PLAN] is None:
        raise ValueError(f"{FALLBACK_PLAN}: must be a number: plans without an entry and unknown plans get "
                         f"{FALLBACK_PLAN}'s limit, which is never unlimited (put users who should be "
                         "unlimited on a plan whose limit is null, such as Pro)")
    return limits


def monthly_limit(limits: Mapping[str, int | None], plan: str) -> int | None:
    """`plan`'s limit (None: unlimited). A plan without an entry gets Free's limit; were there no
    Free either, the smallest limit given (0 when none is): never unlimited."""
    by_key = {_key(name): limit for name, limit in limits.items()}
    if _key(plan) in by_key:
        return by_key[_key(plan)]
    fallback = by_key.get(_key(FALLBACK_PLAN))
    if fallback is not None:
        return fallback
    return min((limit for limit in by_key.values() if limit is not None), default=0)


async def publish(store: TenantStore, limits: Mapping[str, int | None]) -> None:
    """Write `limits` where the database's `check_webhook_limit` reads them, so the dashboard shows
    what this server enforces. Never fatal: the quota is enforced with `limits` either way."""
    try:
        await store.publish_plan_limits(dict(limits))
    except Exception as err:
        log.error("plan_limits.not_published", error=f"{type(err).__name__}: {err}",
                  hint="check_webhook_limit may answer other limits; apply the migrations (sparky migrate)")
