"""Per-user risk limits for entries (`trade_settings_exchange`, original-sparky.md §6 and §8).

`check_entry_limits` answers "may this entry run now?" for one user and exchange. It is pure
logic: the only I/O goes through the three read methods of the store passed in, and the current
time is an argument (an aware datetime). Checks, in order, each with its `limitType`:

1. ``trading_window``       the preset's hours (see `trading_window` for every preset)
2. ``weekends``             allow_weekends = false refuses Saturday/Sunday in the preset's zone
3. ``signal_age``           the alert's timestamp older than max_signal_age_sec, or > 60 s ahead
4. ``max_trades_per_day``   trades entered since 00:00 UTC today ≥ the limit
5. ``max_trades_per_week``  trades entered since Monday 00:00 UTC ≥ the limit
6. ``max_loss_per_week_usd``  Σ |pnl_usd| of this week's losing trades ≥ the limit
7. ``max_open_positions``   the user's open positions on this exchange ≥ the limit

4–7 count entries, so the executor checks them again at the moment of entering, under the user's
lock (`counted_limit_refusal`, called by `execution.limits`): concurrent alerts cannot overshoot.

Only what the user set is enforced: a field that is None (NULL) limits nothing, and no settings
row means no limits. Numeric limits: 0 also means unlimited; otherwise blocked when current ≥
limit, so a negative limit blocks every entry rather than being ignored. Closes (close, close_long,
close_short, flat) are never checked: a limit must never keep a user in a position.

The server-wide MAX_SIGNAL_AGE_SEC is checked for every user by `signals.freshness` with the same
`signal_age_decision`; a user's max_signal_age_sec can only be stricter.

Unlike the original, which let trades through when its database query failed, a store error (or
missing time-zone data) raises `RiskCheckUnavailable`: the caller answers 503 and executes nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfoNotFoundError

from sparky.execution.outcome import cents
from sparky.signals.models import Signal
from sparky.signals.trading_window import (
    month_start,
    next_month_start,
    next_week_start,
    require_aware,
    trading_window_verdict,
    week_start,
    weekend_refusal,
    window_refusal,
)
from sparky.store.tenants import TradeSettings, WeeklyTradeStats

__all__ = [
    "MAX_FUTURE_SKEW_SEC",
    "RiskCheckUnavailable",
    "RiskDecision",
    "RiskReads",
    "check_entry_limits",
    "counted_limit_refusal",
    "counts_entries",
    "month_start",
    "next_month_start",
    "next_week_start",
    "signal_age_decision",
    "signal_age_verdict",
    "trading_window_verdict",
    "week_start",
]

#: a signal timestamp further than this in the future is refused (clock skew or a forged time)
MAX_FUTURE_SKEW_SEC = 60


class RiskCheckUnavailable(Exception):
    """The limits could not be checked (store down, no tz data): answer 503, execute nothing."""


@dataclass(frozen=True)
class RiskDecision:
    """An entry refused by a risk limit; the caller answers the original's 429 body
    ``{error: 'Risk limit exceeded', data: {limitType, current, limit}}`` (plus `message`).

    `current` and `limit` are numbers for the numeric limits (Decimal for USD), whole seconds for
    the signal age (negative when the timestamp is in the future), and short descriptions
    (the local clock, the window) for the trading window and weekends.
    """

    limit_type: str
    current: int | Decimal | str | None
    limit: int | Decimal | str | None
    message: str

    @property
    def data(self) -> dict[str, Any]:
        return {"limitType": self.limit_type, "current": self.current, "limit": self.limit}


class RiskReads(Protocol):
    """The part of `TenantStore` the checks read (a caching wrapper may stand in for it)."""

    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None: ...

    async def weekly_trade_stats(self, user_id: str, exchange: str, since: datetime) -> WeeklyTradeStats: ...

    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int: ...


# --- signal age ---------------------------------------------------------------------------------

def _age_seconds(signal_timestamp: datetime, now: datetime) -> float:
    stamp = signal_timestamp if signal_timestamp.tzinfo is not None else signal_timestamp.replace(tzinfo=UTC)
    return (now - stamp).total_seconds()


def signal_age_verdict(signal_timestamp: datetime | None, now: datetime, max_age_sec: Any,
                       setting: str = "max_signal_age_sec") -> str | None:
    """None when the signal is fresh enough, else the reason (naming `setting`).

    Not checked (None) without a timestamp or with max_age_sec 0 / None. Refused when older than
    max_age_sec (exactly max_age_sec old is allowed) or more than MAX_FUTURE_SKEW_SEC in the future.
    A naive timestamp is taken as UTC (as `Signal` does); a naive `now` raises ValueError.
    """
    require_aware(now)
    if signal_timestamp is None or max_age_sec is None or max_age_sec == 0:
        return None
    age = _age_seconds(signal_timestamp, now)
    if age < -MAX_FUTURE_SKEW_SEC:
        return (f"signal timestamp is {-age:.0f} s in the future (more than {MAX_FUTURE_SKEW_SEC} s of clock "
                "skew); check the alert's time and the sender's clock")
    if age > max_age_sec:
        return (f"signal is too old: {age:.1f} s, the maximum is {max_age_sec} s "
                f"({setting}); check the alert's timing")
    return None


def signal_age_decision(signal_timestamp: datetime | None, now: datetime, max_age_sec: Any,
                        setting: str = "max_signal_age_sec") -> RiskDecision | None:
    """The `signal_age` refusal (current = the age in whole seconds, negative in the future), or None."""
    reason = signal_age_verdict(signal_timestamp, now, max_age_sec, setting)
    if reason is None:
        return None
    age = _age_seconds(signal_timestamp, now)  # type: ignore[arg-type]  # a verdict implies a timestamp
    current = math.ceil(age) if age > 0 else -math.ceil(-age)
    return RiskDecision("signal_age", current, max_age_sec, reason)


# --- the entry check ----------------------------------------------------------------------------

class _InvalidSetting(Exception):
    pass


def _limit(value: Any, name: str) -> int | Decimal:
    """A numeric limit as int (whole) or Decimal; None (NULL) → 0, unlimited."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise _InvalidSetting(f"{name} must be a number, got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise _InvalidSetting(f"{name} must be a number, got {str(value)[:40]!r}") from None
    if not number.is_finite():
        raise _InvalidSetting(f"{name} must be a finite number, got {value!r}")
    return int(number) if number == number.to_integral_value() else number


def _invalid(limit_type: str, err: _InvalidSetting) -> RiskDecision:
    return RiskDecision(limit_type, None, None, f"{err}; fix it in Trade Settings (0 means unlimited)")


def _negative_note(limit: int | Decimal, name: str) -> str:
    return f" ({name} is negative, which blocks every entry; 0 means unlimited)" if limit < 0 else ""


async def _read(what: str, method: Any, *args: Any) -> Any:
    try:
        return await method(*args)
    except Exception as err:  # any store failure: never let an entry through unchecked
        raise RiskCheckUnavailable(f"could not read {what}: {type(err).__name__}: {err}") from err


async def check_entry_limits(store: RiskReads, user_id: str, exchange: str, signal: Signal,
                             now: datetime, *, open_positions: bool = True) -> RiskDecision | None:
    """The first limit that refuses this entry, or None (allowed, or not an entry).

    `open_positions=False` leaves max_open_positions to a caller that checks it where it cannot
    race (the executor, under the user's lock).

    Raises RiskCheckUnavailable when the store fails or tz data is missing, ValueError for a naive
    `now`. Store calls: get_trade_settings, then weekly_trade_stats(since=week_start(now)) only if a
    weekly limit is set, then count_open_positions(user_id, exchange) only if that limit is set.
    """
    if not signal.action.is_entry:
        return None  # before anything else, even argument checks: nothing may block a close
    require_aware(now)
    settings: TradeSettings | None = await _read("trade settings", store.get_trade_settings, user_id, exchange)
    if settings is None:
        return None

    try:
        refusal = window_refusal(settings.trading_hours_preset, settings.trading_window, now)
        if refusal is not None:
            return RiskDecision("trading_window", refusal.current, refusal.limit, refusal.reason)
        refusal = weekend_refusal(settings.trading_hours_preset, settings.allow_weekends, now)
        if refusal is not None:
            return RiskDecision("weekends", refusal.current, refusal.limit, refusal.reason)
    except ZoneInfoNotFoundError as err:
        raise RiskCheckUnavailable(f"time zone data is missing ({err}); install the tzdata package") from err

    stale = signal_age_decision(signal.timestamp, now, settings.max_signal_age_sec)
    if stale is not None:
        return stale

    return await counted_limit_refusal(store, user_id, exchange, settings, now, open_positions=open_positions)


def counts_entries(settings: TradeSettings | None, *, open_positions: bool = True) -> bool:
    """Whether a limit that counts entries (weekly trades or losses, open positions when
    `open_positions`) is set: only then must entries of the user be made one at a time."""
    if settings is None:
        return False
    counted = [settings.max_trades_per_day, settings.max_trades_per_week, settings.max_loss_per_week_usd]
    if open_positions:
        counted.append(settings.max_open_positions)
    return any(value is not None and value != 0 for value in counted)


async def counted_limit_refusal(store: RiskReads, user_id: str, exchange: str, settings: TradeSettings,
                                now: datetime, *, open_positions: bool = True) -> RiskDecision | None:
    """The limits that count what the user did: trades entered today (UTC) and this week, this week's losses and
    (with `open_positions`) the open positions. The executor checks them again under the user's
    lock, where concurrent entries cannot race (`execution.limits`).

    Raises RiskCheckUnavailable when the store fails.
    """
    try:
        day_refusal = await _day_refusal(store, user_id, exchange, settings, now)
    except _InvalidSetting as err:
        return _invalid("max_trades_per_day", err)
    if day_refusal is not None:
        return day_refusal
    try:
        max_trades = _limit(settings.max_trades_per_week, "max_trades_per_week")
    except _InvalidSetting as err:
        return _invalid("max_trades_per_week", err)
    try:
        max_loss = _limit(settings.max_loss_per_week_usd, "max_loss_per_week_usd")
    except _InvalidSetting as err:
        return _invalid("max_loss_per_week_usd", err)
    if max_trades != 0 or max_loss != 0:
        since = week_start(now)
        stats = await _read("this week's trades", store.weekly_trade_stats, user_id, exchange, since)
        try:
            trades = int(stats.trades)
            loss = abs(Decimal(str(stats.loss_usd)))
        except Exception as err:
            raise RiskCheckUnavailable(f"the store returned unusable weekly stats {stats!r}") from err
        resets = f"resets {next_week_start(now):%Y-%m-%d} 00:00 UTC (weeks start Monday 00:00 UTC)"
        if max_trades != 0 and trades >= max_trades:
            return RiskDecision(
                "max_trades_per_week", trades, max_trades,
                f"Maximum trades per week reached on {exchange}: {trades} of {max_trades} this week; {resets}"
                + _negative_note(max_trades, "max_trades_per_week"))
        if max_loss != 0 and loss >= max_loss:  # compared exactly, shown in cents
            return RiskDecision(
                "max_loss_per_week_usd", cents(loss), max_loss,
                f"Maximum loss per week reached on {exchange}: ${cents(loss)} lost this week, "
                f"the limit is ${max_loss}; "
                f"{resets}" + _negative_note(max_loss, "max_loss_per_week_usd"))

    if not open_positions:
        return None
    try:
        max_open = _limit(settings.max_open_positions, "max_open_positions")
    except _InvalidSetting as err:
        return _invalid("max_open_positions", err)
    if max_open != 0:
        count = await _read("open positions", store.count_open_positions, user_id, exchange)
        try:
            held = int(count)
        except Exception as err:
            raise RiskCheckUnavailable(f"the store returned an unusable position count {count!r}") from err
        if held >= max_open:
            return RiskDecision(
                "max_open_positions", held, max_open,
                f"Maximum open positions reached on {exchange}: {held} open, the limit is {max_open}"
                + _negative_note(max_open, "max_open_positions"))
    return None


async def _day_refusal(store: RiskReads, user_id: str, exchange: str, settings: TradeSettings,
                       now: datetime) -> RiskDecision | None:
    """max_trades_per_day: trades entered since 00:00 UTC today (closed and still open), counted
    exactly as the weekly limit counts them. Raises _InvalidSetting for an unusable value."""
    max_day = _limit(settings.max_trades_per_day, "max_trades_per_day")
    if max_day == 0:
        return None
    since = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    stats = await _read("today's trades", store.weekly_trade_stats, user_id, exchange, since)
    try:
        trades = int(stats.trades)
    except Exception as err:
        raise RiskCheckUnavailable(f"the store returned unusable trade stats {stats!r}") from err
    if trades < max_day:
        return None
    resets = f"{since + timedelta(days=1):%Y-%m-%d} 00:00 UTC"
    return RiskDecision("max_trades_per_day", trades, max_day,
                        f"Maximum trades per day reached on {exchange}: {trades} of {max_day} today; "
                        f"resets {resets} (days are UTC)" + _negative_note(max_day, "max_trades_per_day"))
