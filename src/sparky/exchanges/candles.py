"""Candles: the port's type, the interval names every venue is asked in, and the closed-only rule.

Callers (the AI worker's market data) name intervals in one vocabulary, `INTERVALS`; each venue
maps them to its own words (`venue_interval`) and refuses the ones it has not with
`UnsupportedInterval`, naming the interval and what it has instead. A venue answers with the
candle still forming last (its close is only the latest price): `closed_only` drops it by its open
time + interval against now, so every venue returns closed candles only, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sparky.exchanges.errors import NotSupported

#: our interval names and their length, shortest first
INTERVALS: dict[str, timedelta] = {
    "1m": timedelta(minutes=1),
    "5m": timedelta(minutes=5),
    "15m": timedelta(minutes=15),
    "1h": timedelta(hours=1),
    "4h": timedelta(hours=4),
    "1d": timedelta(days=1),
}


class UnsupportedInterval(NotSupported):
    """An interval that is not one of ours, or one the venue does not offer."""


@dataclass(frozen=True)
class Candle:
    """One closed candle: prices and volume as the venue wrote them (its own precision)."""

    #: start of the candle's period, UTC
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal


def interval_length(interval: str) -> timedelta:
    """How long one candle of `interval` lasts; UnsupportedInterval for a name that is not ours."""
    try:
        return INTERVALS[interval]
    except (KeyError, TypeError):
        raise UnsupportedInterval(f"interval must be one of {' '.join(INTERVALS)}, got {interval!r}") from None


def venue_interval(mapping: Mapping[str, str], interval: str, *, venue: str) -> str:
    """The venue's own word for `interval` (its entry in `mapping`); a clear error when it has none."""
    interval_length(interval)
    if interval not in mapping:
        raise UnsupportedInterval(f"{venue}: no {interval} candles (has {' '.join(mapping)})", exchange=venue)
    return mapping[interval]


def check_limit(limit: int, maximum: int, *, venue: str) -> int:
    """`limit` as asked, when it is a whole number from 1 to what the venue serves in one request."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= maximum:
        raise ValueError(f"{venue}: limit must be a whole number from 1 to {maximum}, got {limit!r}")
    return limit


def utc_from_ms(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value) / 1000, UTC)


def decimal(value: Any) -> Decimal:
    """A vendor number as Decimal: strings as written; floats through their shortest repr, which
    is the venue's own decimal text (never the binary expansion)."""
    try:
        number = Decimal(value if isinstance(value, str | Decimal) else repr(value))
    except (InvalidOperation, TypeError, ValueError) as err:
        raise ValueError(f"not a number: {value!r}") from err
    if not number.is_finite():
        raise ValueError(f"not a number: {value!r}")
    return number


def closed_only(candles: Iterable[Candle], interval: str, now: datetime, limit: int) -> list[Candle]:
    """The last `limit` candles that have closed by `now`, oldest first (a candle whose period ends
    after now is still forming: its close would move)."""
    length = interval_length(interval)
    closed = sorted((c for c in candles if c.open_time + length <= now), key=lambda c: c.open_time)
    return closed[-limit:]
