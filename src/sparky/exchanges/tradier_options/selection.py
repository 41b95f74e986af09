"""Which listed contract an alert buys (pure): the expiration, then the strike. Refusals are 400s
naming the alert's field; the OCC symbol is always the chain's own, never built here."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from sparky.errors import BadRequest
from sparky.exchanges.tradier_options.wire import OptionContract


def _some(dates: Sequence[date], today: date) -> str:
    upcoming = [d.isoformat() for d in sorted(dates) if d >= today][:4]
    return ", ".join(upcoming) if upcoming else "none"


def choose_expiration(listed: Sequence[date], *, underlying: str, requested: date | None, today: date,
                      min_days: int) -> date:
    """The requested expiration when listed; else the nearest at least `min_days` days away."""
    if requested is not None:
        if requested not in listed:
            raise BadRequest(f"{requested.isoformat()} is not a listed {underlying} expiration "
                             f"(next listed: {_some(listed, today)})", field="expiration")
        return requested
    for candidate in sorted(listed):
        if (candidate - today).days >= min_days:
            return candidate
    raise BadRequest(f"No {underlying} expiration at least {min_days} day(s) away is listed "
                     f"(listed: {_some(listed, today)})", field="expiration")


def choose_contract(chain: Sequence[OptionContract], *, right: str, expiration: date, strike: Decimal | None,
                    underlying_price: Decimal | None, tolerance_percent: Decimal,
                    underlying: str) -> OptionContract:
    """The listed `right` contract whose strike is nearest the one asked for (or the underlying's
    price: at the money), within `tolerance_percent` of it; the lower strike on a tie."""
    listed = [c for c in chain if c.option_type == right and c.expiration_date == expiration]
    if not listed:
        raise BadRequest(f"Tradier lists no {underlying} {right}s expiring {expiration.isoformat()}",
                         field="expiration")
    target = strike if strike is not None else underlying_price
    if target is None or target <= 0:
        raise BadRequest(f"No price quoted for {underlying} to pick an at-the-money strike; give a strike",
                         field="strike")
    best = min(listed, key=lambda c: (abs(c.strike - target), c.strike))
    allowed = target * tolerance_percent / 100
    if abs(best.strike - target) > allowed:
        asked = f"strike {target}" if strike is not None else f"the {underlying} price {target}"
        raise BadRequest(f"No listed {underlying} {right} strike within {tolerance_percent}% of {asked} "
                         f"(nearest: {best.strike})", field="strike")
    return best
