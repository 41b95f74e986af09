"""Calendar arithmetic for the limits: UTC weeks and months, trading windows, weekends.

Every function takes the current time as an argument (an aware datetime; naive ones are refused
with ValueError rather than guessed) and does no I/O. Zones come from `zoneinfo`, so daylight
saving time is right on both sides of the Atlantic: 09:30 in New York is 14:30 UTC in winter and
13:30 UTC in summer, and the US and UK switch on different Sundays (March 8 vs March 29 and
October 25 vs November 1 in 2026).

Presets (`trade_settings_exchange.trading_hours_preset`):

=================  =========================================================  ==================
preset             entries allowed                                            zone for weekends
=================  =========================================================  ==================
``24/7``           always                                                     UTC
``24/5``           the FX week: Sunday 17:00 → Friday 17:00 America/New_York  America/New_York
``forex-hours``    the same FX week as ``24/5`` (the dashboard's name for it)   America/New_York
``market-hours``   09:30 ≤ t < 16:00 America/New_York, Monday–Friday; with    America/New_York
                   `trading_window` ["07:00", "20:00"] (the dashboard's
                   "extended hours") 07:00 ≤ t < 20:00 America/New_York
``ny-session``     09:30 ≤ t < 16:00 America/New_York, Monday–Friday          America/New_York
``london-session`` 08:00 ≤ t < 14:00 Europe/London, Monday–Friday             Europe/London
``weekend``        Saturday and Sunday, UTC (whole days)                      (not applied)
``custom``         `trading_window` ["HH:MM", "HH:MM"] in UTC, every day      UTC
=================  =========================================================  ==================

- **24/5** follows the FX convention (the week opens Sunday 17:00 and closes Friday 17:00 New
  York time, which is 21:00/22:00 UTC depending on US DST), not "Monday–Friday in UTC": forex
  venues such as OANDA close on Friday afternoon New York time and reopen on Sunday evening.
- **market-hours** is the US equities session on trading days (Monday–Friday; exchange holidays
  are not modelled): the regular session, or pre-market to after-hours when `trading_window` is
  exactly ``["07:00", "20:00"]`` (New York time), which is how the dashboard stores its "extended
  hours" switch. Any other `trading_window` (the dashboard writes ``["09:30", "16:00"]``) means the
  regular session. Weekends are never in the session, whatever allow_weekends says.
- **Sessions** are half-open: 16:00:00 in New York is already closed.
- **custom** times are UTC, the start inclusive and the end minute inclusive (``"23:59"`` means up
  to 23:59:59.999…, so the dashboard's default ``["00:00", "23:59"]`` is the whole day, as in the
  original). A start later than the end crosses midnight: ``["22:00", "02:00"]`` allows
  22:00–02:00:59 UTC. The window applies every day; combine with `allow_weekends`.
- **allow_weekends = false** additionally refuses Saturday and Sunday in the preset's zone (UTC for
  ``24/7`` and ``custom``), except for the ``weekend`` preset itself. For ``24/5`` this means the
  Sunday-evening FX open (Sunday 17:00–24:00 New York) is only traded with allow_weekends = true;
  with false the week starts Monday 00:00 New York time.
- **Not set** (None, a NULL column): no preset means no trading window, no allow_weekends means
  weekends are not refused. Only what the user set is enforced.
- An unknown preset or a malformed custom window **refuses** with a reason; nothing the user set
  is ever silently ignored. Exchange holidays are not modelled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, tzinfo
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

NEW_YORK = "America/New_York"
LONDON = "Europe/London"

PRESETS = ("24/7", "24/5", "forex-hours", "market-hours", "ny-session", "london-session", "weekend", "custom")

#: the dashboard's equities "extended hours" window for market-hours, New York time
EXTENDED_HOURS = ("07:00", "20:00")
#: preset → (zone, start, end in minutes after midnight): sessions on Monday–Friday
_SESSIONS = {"ny-session": (NEW_YORK, 9 * 60 + 30, 16 * 60), "london-session": (LONDON, 8 * 60, 14 * 60),
             "market-hours": (NEW_YORK, 9 * 60 + 30, 16 * 60)}

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SATURDAY, _SUNDAY, _FRIDAY = 5, 6, 4
_HHMM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def require_aware(value: datetime, name: str = "now") -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value


@cache
def zone(name: str) -> tzinfo:
    """The zone called `name`. Raises zoneinfo.ZoneInfoNotFoundError when the system has no tz
    data (install the `tzdata` package); callers treat that as "limits cannot be checked"."""
    if name == "UTC":
        return UTC
    return ZoneInfo(name)


# --- UTC weeks and months ------------------------------------------------------------------------

def week_start(now: datetime) -> datetime:
    """Monday 00:00 UTC of the UTC week containing `now` (the weekly limits reset then)."""
    day = require_aware(now).astimezone(UTC).date()
    return datetime.combine(day - timedelta(days=day.weekday()), time(0), tzinfo=UTC)


def next_week_start(now: datetime) -> datetime:
    """The Monday 00:00 UTC after `now`: when the weekly limits reset."""
    return week_start(now) + timedelta(days=7)


def month_start(now: datetime) -> datetime:
    """The first day of `now`'s UTC month, 00:00 UTC."""
    utc = require_aware(now).astimezone(UTC)
    return datetime(utc.year, utc.month, 1, tzinfo=UTC)


def next_month_start(now: datetime) -> datetime:
    """The first day of the next UTC month, 00:00 UTC (the webhook quota's `resetDate`)."""
    start = month_start(now)
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


# --- trading windows ----------------------------------------------------------------------------

@dataclass(frozen=True)
class WindowRefusal:
    """Why an entry is refused now, with what to show as `current` and `limit` in the 429 body."""

    reason: str
    current: str | None
    limit: str | None


def _clock(local: datetime, zone_name: str) -> str:
    return f"{_DAY_NAMES[local.weekday()]} {local:%H:%M} {zone_name}"


def _seconds_of_day(local: datetime) -> float:
    return local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6


def _parse_hhmm(text: Any) -> int | None:
    """Minutes after midnight for "HH:MM" (00:00–23:59), else None."""
    if not isinstance(text, str):
        return None
    match = _HHMM.match(text)
    if match is None:
        return None
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours > 23 or minutes > 59:
        return None
    return hours * 60 + minutes


def parse_custom_window(window: Any) -> tuple[int, int] | None:
    """["HH:MM", "HH:MM"] → (start, end) in minutes after midnight, else None (malformed)."""
    if not isinstance(window, list | tuple) or len(window) != 2:
        return None
    start, end = _parse_hhmm(window[0]), _parse_hhmm(window[1])
    if start is None or end is None:
        return None
    return start, end


def _in_custom_window(seconds: float, start_min: int, end_min: int) -> bool:
    start = start_min * 60
    end = end_min * 60 + 60  # the end minute is included
    if start < end:
        return start <= seconds < end
    return seconds >= start or seconds < end  # crosses midnight (or covers the whole day)


def _preset_key(preset: Any) -> str | None:
    return preset.strip().lower() if isinstance(preset, str) else None


def _is_extended_hours(trading_window: Any) -> bool:
    return isinstance(trading_window, list | tuple) and tuple(trading_window) == EXTENDED_HOURS


def window_refusal(preset: Any, trading_window: Any, now: datetime) -> WindowRefusal | None:
    """The trading-window check alone (not allow_weekends). None when entries are allowed."""
    require_aware(now)
    key = _preset_key(preset)
    if preset is None or key == "24/7":  # None: no trading window was set
        return None
    if key in ("24/5", "forex-hours"):
        local = now.astimezone(zone(NEW_YORK))
        day, seconds = local.weekday(), _seconds_of_day(local)
        open_ = day < _FRIDAY or (day == _FRIDAY and seconds < 17 * 3600) or (day == _SUNDAY and seconds >= 17 * 3600)
        if open_:
            return None
        limit = f"{key}: Sunday 17:00 to Friday 17:00 America/New_York"
        return WindowRefusal(f"outside the trading window ({limit}); it is {_clock(local, NEW_YORK)}",
                             _clock(local, NEW_YORK), limit)
    if key in _SESSIONS:
        zone_name, start, end = _SESSIONS[key]
        if key == "market-hours" and _is_extended_hours(trading_window):
            start, end = 7 * 60, 20 * 60
        local = now.astimezone(zone(zone_name))
        seconds = _seconds_of_day(local)
        if local.weekday() < _SATURDAY and start * 60 <= seconds < end * 60:
            return None
        limit = f"{key}: {start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d} {zone_name}, Monday-Friday"
        return WindowRefusal(f"outside the trading window ({limit}); it is {_clock(local, zone_name)}",
                             _clock(local, zone_name), limit)
    if key == "weekend":
        local = now.astimezone(UTC)
        if local.weekday() >= _SATURDAY:
            return None
        limit = "weekend: Saturday and Sunday UTC"
        return WindowRefusal(f"outside the trading window ({limit}); it is {_clock(local, 'UTC')}",
                             _clock(local, "UTC"), limit)
    if key == "custom":
        parsed = parse_custom_window(trading_window)
        if parsed is None:
            shown = repr(trading_window)[:60]
            return WindowRefusal(f"invalid trading_window {shown} for the custom preset: expected "
                                 '["HH:MM", "HH:MM"] in UTC', shown, 'custom ["HH:MM", "HH:MM"] UTC')
        local = now.astimezone(UTC)
        if _in_custom_window(_seconds_of_day(local), *parsed):
            return None
        opens, closes = (f"{m // 60:02d}:{m % 60:02d}" for m in parsed)
        limit = f"custom: {opens}-{closes} UTC"
        return WindowRefusal(f"outside the trading window ({limit}); it is {_clock(local, 'UTC')}",
                             _clock(local, "UTC"), limit)
    shown = repr(preset)[:60]
    return WindowRefusal(f"unknown trading_hours_preset {shown}", shown, "one of " + ", ".join(PRESETS))


def _weekend_zone(preset: Any) -> str | None:
    """The zone whose Saturday and Sunday allow_weekends=false refuses; None for `weekend`."""
    key = _preset_key(preset)
    if key == "weekend":
        return None
    if key in ("24/5", "forex-hours", "market-hours", "ny-session"):
        return NEW_YORK
    if key == "london-session":
        return LONDON
    return "UTC"  # 24/7, custom (unknown presets were refused by the window check already)


def weekend_refusal(preset: Any, allow_weekends: Any, now: datetime) -> WindowRefusal | None:
    """allow_weekends=false refuses Saturday and Sunday in the preset's zone. None when allowed."""
    require_aware(now)
    if allow_weekends is None or (isinstance(allow_weekends, int) and allow_weekends == 1):
        return None  # not set, or True (SQLite's 1): weekends are allowed
    zone_name = _weekend_zone(preset)
    if zone_name is None:
        return None
    local = now.astimezone(zone(zone_name))
    if local.weekday() < _SATURDAY:
        return None
    return WindowRefusal(
        f"weekend trading is disabled (allow_weekends is off); it is {_clock(local, zone_name)}",
        _clock(local, zone_name), f"Monday-Friday {zone_name}")


def trading_window_verdict(settings: Any, now: datetime) -> str | None:
    """None when `settings` (a TradeSettings) allow an entry at `now`, else the reason.

    Checks the preset's window, then allow_weekends (see the module docstring for every preset's
    definition). Raises ValueError for a naive `now`, ZoneInfoNotFoundError without tz data.
    """
    refusal = (window_refusal(settings.trading_hours_preset, settings.trading_window, now)
               or weekend_refusal(settings.trading_hours_preset, settings.allow_weekends, now))
    return None if refusal is None else refusal.reason
