"""Risk limits and trading windows: UTC weeks and months, presets across DST, limits at the edge."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

import pytest

from sparky.signals import trading_window
from sparky.signals.models import Signal
from sparky.signals.risk import (
    MAX_FUTURE_SKEW_SEC,
    RiskCheckUnavailable,
    RiskDecision,
    check_entry_limits,
    month_start,
    next_month_start,
    next_week_start,
    signal_age_verdict,
    trading_window_verdict,
    week_start,
)
from sparky.store.tenants import TradeSettings, WeeklyTradeStats


def utc(text: str) -> datetime:
    """'2026-03-09T13:30' or with seconds/fractions → an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def settings(preset: str | None = "24/7", **overrides: Any) -> TradeSettings:
    """Settings with nothing limited unless asked: allow_weekends on, numeric limits 0, no age check."""
    base = dict(user_id="u1", exchange="aster", trading_hours_preset=preset, allow_weekends=True,
                max_trades_per_week=0, max_loss_per_week_usd=Decimal(0), max_open_positions=0,
                max_signal_age_sec=0)
    base.update(overrides)
    return TradeSettings(**base)


def signal(action: str = "buy", timestamp: datetime | None = None) -> Signal:
    return Signal.model_validate({"action": action, "symbol": "BTCUSDT", "exchange": "aster",
                                  "timestamp": timestamp})


class FakeReads:
    """An in-memory stand-in for the three TenantStore reads the checks make."""

    def __init__(self, found: TradeSettings | None = None, *, trades: int = 0, loss: Decimal = Decimal(0),
                 open_positions: int = 0, fail: set[str] | None = None) -> None:
        self.found = found
        self.stats = WeeklyTradeStats(trades=trades, loss_usd=loss)
        self.open_positions = open_positions
        self.fail = fail or set()
        self.calls: list[tuple[Any, ...]] = []

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail or "all" in self.fail:
            raise ConnectionError(f"{name}: connection refused")

    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None:
        self.calls.append(("get_trade_settings", user_id, exchange))
        self._maybe_fail("get_trade_settings")
        return self.found

    async def weekly_trade_stats(self, user_id: str, exchange: str, since: datetime) -> WeeklyTradeStats:
        self.calls.append(("weekly_trade_stats", user_id, exchange, since))
        self._maybe_fail("weekly_trade_stats")
        return self.stats

    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int:
        self.calls.append(("count_open_positions", user_id, exchange))
        self._maybe_fail("count_open_positions")
        return self.open_positions


# --- weeks and months ---------------------------------------------------------------------------

def test_week_starts_monday_midnight_utc() -> None:
    assert week_start(utc("2026-03-15T23:59:59.999999")) == utc("2026-03-09T00:00")  # Sunday, last instant
    assert week_start(utc("2026-03-16T00:00:00")) == utc("2026-03-16T00:00")         # Monday, first instant
    assert week_start(utc("2026-03-18T12:34:56")) == utc("2026-03-16T00:00")
    assert next_week_start(utc("2026-03-15T23:59:59.999999")) == utc("2026-03-16T00:00")
    assert week_start(utc("2026-01-01T10:00")) == utc("2025-12-29T00:00")            # across a year


def test_week_start_uses_the_utc_day_of_an_offset_time() -> None:
    # Monday 01:00 at +05:00 is still Sunday 20:00 UTC: the previous week
    monday_in_karachi = datetime(2026, 3, 16, 1, 0, tzinfo=timezone(timedelta(hours=5)))
    assert week_start(monday_in_karachi) == utc("2026-03-09T00:00")
    assert week_start(monday_in_karachi).tzinfo is UTC


def test_month_boundaries_are_utc() -> None:
    last = utc("2026-11-30T23:59:59.999999")
    first = utc("2026-12-01T00:00")
    assert (month_start(last), next_month_start(last)) == (utc("2026-11-01T00:00"), utc("2026-12-01T00:00"))
    assert (month_start(first), next_month_start(first)) == (utc("2026-12-01T00:00"), utc("2027-01-01T00:00"))
    # 00:30 on Dec 1 in Paris is still November in UTC
    paris = datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    assert next_month_start(paris) == utc("2026-12-01T00:00")


@pytest.mark.parametrize("fn", [week_start, next_week_start, month_start, next_month_start])
def test_naive_times_are_refused(fn: Any) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        fn(datetime(2026, 3, 9, 12, 0))


# --- trading windows ----------------------------------------------------------------------------

WINDOW_CASES = [
    # 24/7
    ("24/7", "2026-03-07T12:00", True),                 # Saturday
    ("24/7", "2026-03-08T07:00", True),                 # US DST switch day
    # 24/5: Sunday 17:00 → Friday 17:00 New York
    ("24/5", "2026-03-06T21:59:59.999999", True),       # Fri 16:59:59 EST
    ("24/5", "2026-03-06T22:00", False),                # Fri 17:00 EST
    ("24/5", "2026-03-07T12:00", False),                # Saturday
    ("24/5", "2026-03-08T20:59:59", False),             # Sun 16:59:59 EDT (DST started 02:00 that day)
    ("24/5", "2026-03-08T21:00", True),                 # Sun 17:00 EDT
    ("24/5", "2026-03-08T21:30", True),                 # a fixed -05:00 offset would still say closed
    ("24/5", "2026-03-11T03:00", True),                 # midweek night
    ("24/5", "2026-10-30T20:59:59", True),              # Fri 16:59:59 EDT
    ("24/5", "2026-10-30T21:00", False),                # Fri 17:00 EDT
    ("24/5", "2026-11-01T21:59:59", False),             # Sun 16:59:59 EST (DST ended 02:00 that day)
    ("24/5", "2026-11-01T22:00", True),                 # Sun 17:00 EST
    # ny-session: 09:30-16:00 New York, Mon-Fri; 14:30 UTC in winter, 13:30 UTC in summer
    ("ny-session", "2026-03-06T14:29:59", False),       # Fri, EST
    ("ny-session", "2026-03-06T14:30", True),
    ("ny-session", "2026-03-06T20:59:59", True),
    ("ny-session", "2026-03-06T21:00", False),          # 16:00 EST: closed (half-open)
    ("ny-session", "2026-03-09T13:29:59", False),       # Mon after the US switch, EDT
    ("ny-session", "2026-03-09T13:30", True),
    ("ny-session", "2026-03-09T19:59:59", True),
    ("ny-session", "2026-03-09T20:00", False),
    ("ny-session", "2026-03-08T15:00", False),          # the switch Sunday itself
    ("ny-session", "2026-10-30T13:30", True),           # Fri, still EDT (the UK already switched back)
    ("ny-session", "2026-11-02T13:30", False),          # Mon after the US switch, EST
    ("ny-session", "2026-11-02T14:29:59", False),
    ("ny-session", "2026-11-02T14:30", True),
    ("ny-session", "2026-03-07T15:00", False),          # Saturday during the session hours
    # london-session: 08:00-14:00 London, Mon-Fri
    ("london-session", "2026-03-27T07:59:59", False),   # Fri, GMT
    ("london-session", "2026-03-27T08:00", True),
    ("london-session", "2026-03-27T13:59:59", True),
    ("london-session", "2026-03-27T14:00", False),
    ("london-session", "2026-03-29T09:00", False),      # the UK switch Sunday
    ("london-session", "2026-03-30T06:59:59", False),   # Mon, BST
    ("london-session", "2026-03-30T07:00", True),
    ("london-session", "2026-03-30T12:59:59", True),
    ("london-session", "2026-03-30T13:00", False),
    ("london-session", "2026-03-16T07:30", False),      # US already on DST, UK not: still GMT
    ("london-session", "2026-10-23T07:00", True),       # Fri, BST
    ("london-session", "2026-10-26T07:00", False),      # Mon, GMT again
    ("london-session", "2026-10-26T07:59:59", False),
    ("london-session", "2026-10-26T08:00", True),
    ("london-session", "2026-03-28T10:00", False),      # Saturday
    # weekend: Saturday and Sunday UTC
    ("weekend", "2026-03-06T23:59:59.999999", False),   # Friday
    ("weekend", "2026-03-07T00:00", True),              # Saturday
    ("weekend", "2026-03-08T23:59:59.999999", True),    # Sunday
    ("weekend", "2026-03-09T00:00", False),             # Monday
]


@pytest.mark.parametrize(("preset", "when", "allowed"), WINDOW_CASES)
def test_preset_windows(preset: str, when: str, allowed: bool) -> None:
    verdict = trading_window_verdict(settings(preset, allow_weekends=True), utc(when))
    assert (verdict is None) is allowed, verdict
    if not allowed:
        assert verdict.startswith("outside the trading window")


CUSTOM_CASES = [
    (["09:00", "17:00"], "2026-07-01T08:59:59", False),
    (["09:00", "17:00"], "2026-07-01T09:00", True),
    (["09:00", "17:00"], "2026-07-01T17:00:59.999999", True),   # the end minute is included
    (["09:00", "17:00"], "2026-07-01T17:01", False),
    (["09:00", "17:00"], "2026-01-14T09:00", True),             # UTC: no DST shift in winter
    (["00:00", "23:59"], "2026-07-01T00:00", True),             # the dashboard default: whole day
    (["00:00", "23:59"], "2026-07-01T23:59:59.999999", True),
    (["22:00", "02:00"], "2026-07-01T21:59:59", False),         # crossing midnight
    (["22:00", "02:00"], "2026-07-01T22:00", True),
    (["22:00", "02:00"], "2026-07-01T23:59:59.999999", True),
    (["22:00", "02:00"], "2026-07-02T00:00", True),
    (["22:00", "02:00"], "2026-07-02T02:00:59", True),
    (["22:00", "02:00"], "2026-07-02T02:01", False),
    (["22:00", "02:00"], "2026-07-02T12:00", False),
    (["10:00", "09:59"], "2026-07-02T09:59:30", True),          # wraps to the whole day
    (["12:00", "12:00"], "2026-07-02T12:00:30", True),          # one minute
    (["12:00", "12:00"], "2026-07-02T12:01", False),
    (("9:05", "9:10"), "2026-07-02T09:07", True),               # one-digit hours, a tuple
]


@pytest.mark.parametrize(("window", "when", "allowed"), CUSTOM_CASES)
def test_custom_window_in_utc(window: Any, when: str, allowed: bool) -> None:
    verdict = trading_window_verdict(settings("custom", trading_window=window), utc(when))
    assert (verdict is None) is allowed, verdict


@pytest.mark.parametrize("window", [["9am", "17:00"], ["24:00", "01:00"], ["12:60", "13:00"], ["09:00"],
                                    None, "09:00-17:00", [900, 1700], ["09:00", "17:00", "18:00"]])
def test_malformed_custom_window_refuses(window: Any) -> None:
    verdict = trading_window_verdict(settings("custom", trading_window=window), utc("2026-07-01T12:00"))
    assert verdict is not None and verdict.startswith("invalid trading_window")


@pytest.mark.parametrize("preset", ["forex-week", "us-market", "", "24x7"])
def test_unknown_preset_refuses(preset: Any) -> None:
    verdict = trading_window_verdict(settings(preset), utc("2026-03-11T14:00"))
    assert verdict == f"unknown trading_hours_preset {preset!r}"


def test_preset_names_ignore_case_and_spaces() -> None:
    assert trading_window_verdict(settings(" NY-Session "), utc("2026-03-09T14:00")) is None


def test_windows_refuse_naive_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        trading_window_verdict(settings("24/7"), datetime(2026, 3, 9, 12, 0))


# --- weekends -----------------------------------------------------------------------------------

WEEKEND_CASES = [
    # preset, window, when, allowed with allow_weekends = false
    ("24/7", None, "2026-03-06T23:59:59.999999", True),   # Friday UTC
    ("24/7", None, "2026-03-07T00:00", False),            # Saturday UTC
    ("24/7", None, "2026-03-08T23:59:59.999999", False),  # Sunday UTC
    ("24/7", None, "2026-03-09T00:00", True),             # Monday UTC
    # 24/5: the weekend is New York's; the Sunday-evening FX open needs allow_weekends
    ("24/5", None, "2026-03-08T21:00", False),            # Sun 17:00 EDT
    ("24/5", None, "2026-03-09T03:59:59", False),         # Sun 23:59:59 EDT (Monday in UTC)
    ("24/5", None, "2026-03-09T04:00", True),             # Mon 00:00 EDT
    ("24/5", None, "2026-11-02T04:59:59", False),         # Sun 23:59:59 EST
    ("24/5", None, "2026-11-02T05:00", True),             # Mon 00:00 EST
    ("weekend", None, "2026-03-07T12:00", True),          # the weekend preset ignores allow_weekends
    ("weekend", None, "2026-03-08T23:00", True),
    ("custom", ["22:00", "02:00"], "2026-03-06T23:00", True),   # Friday night UTC
    ("custom", ["22:00", "02:00"], "2026-03-07T01:00", False),  # same window, now Saturday UTC
    ("custom", ["22:00", "02:00"], "2026-03-08T23:00", False),  # Sunday UTC
    ("custom", ["22:00", "02:00"], "2026-03-09T01:00", True),   # Monday UTC
    ("ny-session", None, "2026-03-09T14:00", True),
    ("london-session", None, "2026-03-30T08:00", True),
]


@pytest.mark.parametrize(("preset", "window", "when", "allowed"), WEEKEND_CASES)
def test_allow_weekends_false(preset: str, window: Any, when: str, allowed: bool) -> None:
    extra = {"trading_window": window} if window is not None else {}
    verdict = trading_window_verdict(settings(preset, allow_weekends=False, **extra), utc(when))
    assert (verdict is None) is allowed, verdict
    if not allowed:
        assert verdict.startswith("weekend trading is disabled")


def test_allow_weekends_true_opens_the_weekend_only_where_the_preset_does() -> None:
    assert trading_window_verdict(settings("24/7", allow_weekends=True), utc("2026-03-07T12:00")) is None
    saturday_fx = trading_window_verdict(settings("24/5", allow_weekends=True), utc("2026-03-07T12:00"))
    assert saturday_fx is not None and saturday_fx.startswith("outside the trading window")


# --- signal age ---------------------------------------------------------------------------------

NOW = utc("2026-03-11T14:00")  # a Wednesday


@pytest.mark.parametrize(("stamp", "max_age", "refused"), [
    (None, 10, None),
    (NOW - timedelta(hours=5), 0, None),                       # 0: not checked
    (NOW - timedelta(hours=5), None, None),
    (NOW + timedelta(hours=5), 0, None),                       # not checked at all with 0
    (NOW, 10, None),
    (NOW - timedelta(seconds=10), 10, None),                   # exactly the maximum
    (NOW - timedelta(seconds=10, microseconds=1), 10, "signal is too old"),
    (NOW - timedelta(minutes=3), 10, "signal is too old"),
    (NOW + timedelta(seconds=MAX_FUTURE_SKEW_SEC), 10, None),  # clock skew tolerated
    (NOW + timedelta(seconds=MAX_FUTURE_SKEW_SEC, microseconds=1), 10, "signal timestamp is"),
    (NOW + timedelta(hours=2), 10, "signal timestamp is"),
])
def test_signal_age(stamp: datetime | None, max_age: Any, refused: str | None) -> None:
    verdict = signal_age_verdict(stamp, NOW, max_age)
    if refused is None:
        assert verdict is None
    else:
        assert verdict is not None and verdict.startswith(refused)


def test_signal_age_takes_naive_timestamps_as_utc_and_refuses_naive_now() -> None:
    assert signal_age_verdict(datetime(2026, 3, 11, 13, 59, 55), NOW, 10) is None
    assert signal_age_verdict(datetime(2026, 3, 11, 13, 59, 0), NOW, 10) is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        signal_age_verdict(NOW, datetime(2026, 3, 11, 14, 0), 10)


def test_signal_age_compares_instants_not_wall_clocks() -> None:
    new_york = datetime(2026, 3, 11, 9, 59, 55, tzinfo=timezone(timedelta(hours=-4)))  # 13:59:55 UTC
    assert signal_age_verdict(new_york, NOW, 10) is None


# --- check_entry_limits -------------------------------------------------------------------------

async def check(reads: FakeReads, sig: Signal | None = None, now: datetime = NOW) -> RiskDecision | None:
    return await check_entry_limits(reads, "u1", "aster", sig or signal(), now)


async def test_no_settings_row_means_no_limits() -> None:
    reads = FakeReads(None, trades=10**6, open_positions=10**6)
    assert await check(reads) is None
    assert reads.calls == [("get_trade_settings", "u1", "aster")]


async def test_zero_means_unlimited_and_skips_the_reads() -> None:
    reads = FakeReads(settings("24/7"), trades=10**6, loss=Decimal("1e9"), open_positions=10**6)
    assert await check(reads) is None
    assert reads.calls == [("get_trade_settings", "u1", "aster")]


async def test_null_limits_mean_unlimited() -> None:
    reads = FakeReads(settings("24/7", max_trades_per_week=None, max_loss_per_week_usd=None,
                               max_open_positions=None, max_signal_age_sec=None),
                      trades=99, loss=Decimal(99), open_positions=99)
    assert await check(reads, signal(timestamp=NOW - timedelta(days=1))) is None


async def test_trades_per_week_at_limit_minus_one_and_at_limit() -> None:
    limited = settings("24/7", max_trades_per_week=5)
    reads = FakeReads(limited, trades=4)
    assert await check(reads) is None
    assert reads.calls[1] == ("weekly_trade_stats", "u1", "aster", utc("2026-03-09T00:00"))

    assert await check(FakeReads(limited, trades=5)) == RiskDecision(
        "max_trades_per_week", 5, 5,
        "Maximum trades per week reached on aster: 5 of 5 this week; resets 2026-03-16 00:00 UTC "
        "(weeks start Monday 00:00 UTC)")


async def test_loss_per_week_at_limit_minus_one_and_at_limit() -> None:
    limited = settings("24/7", max_loss_per_week_usd=Decimal("1000.00"))
    assert await check(FakeReads(limited, loss=Decimal("999"))) is None
    assert await check(FakeReads(limited, loss=Decimal("999.99"))) is None
    decision = await check(FakeReads(limited, loss=Decimal("1000.00")))
    assert decision == RiskDecision(
        "max_loss_per_week_usd", Decimal("1000.00"), 1000,
        "Maximum loss per week reached on aster: $1000.00 lost this week, the limit is $1000; "
        "resets 2026-03-16 00:00 UTC (weeks start Monday 00:00 UTC)")
    assert decision.data == {"limitType": "max_loss_per_week_usd", "current": Decimal("1000.00"), "limit": 1000}


async def test_fractional_loss_limit() -> None:
    limited = settings("24/7", max_loss_per_week_usd=Decimal("250.50"))
    assert await check(FakeReads(limited, loss=Decimal("250.49"))) is None
    decision = await check(FakeReads(limited, loss=Decimal("250.50")))
    assert decision is not None and (decision.current, decision.limit) == (Decimal("250.50"), Decimal("250.50"))


async def test_a_loss_is_compared_exactly_and_shown_in_cents() -> None:
    limited = settings("24/7", max_loss_per_week_usd=Decimal("100"))
    assert await check(FakeReads(limited, loss=Decimal("99.99744"))) is None  # below the limit, even if it rounds up
    decision = await check(FakeReads(limited, loss=Decimal("-102.82744")))
    assert decision is not None and decision.current == Decimal("102.83")
    assert "$102.83 lost this week" in decision.message


async def test_open_positions_at_limit_minus_one_and_at_limit() -> None:
    limited = settings("24/7", max_open_positions=3)
    reads = FakeReads(limited, open_positions=2)
    assert await check(reads) is None
    assert reads.calls == [("get_trade_settings", "u1", "aster"), ("count_open_positions", "u1", "aster")]

    assert await check(FakeReads(limited, open_positions=3)) == RiskDecision(
        "max_open_positions", 3, 3, "Maximum open positions reached on aster: 3 open, the limit is 3")


async def test_open_positions_can_be_left_to_the_caller_without_counting_them() -> None:
    reads = FakeReads(settings("24/7", max_open_positions=3), open_positions=3)
    assert await check_entry_limits(reads, "u1", "aster", signal(), NOW, open_positions=False) is None
    assert reads.calls == [("get_trade_settings", "u1", "aster")]  # no count was made


async def test_the_week_used_for_the_counts_is_the_utc_week_of_now() -> None:
    limited = settings("24/7", max_trades_per_week=5)
    sunday_last_instant = utc("2026-03-15T23:59:59.999999")
    reads = FakeReads(limited)
    await check(reads, now=sunday_last_instant)
    await check(reads, now=sunday_last_instant + timedelta(microseconds=1))
    assert [call[3] for call in reads.calls if call[0] == "weekly_trade_stats"] == [
        utc("2026-03-09T00:00"), utc("2026-03-16T00:00")]


async def test_negative_limit_blocks_every_entry() -> None:
    decision = await check(FakeReads(settings("24/7", max_trades_per_week=-1), trades=0))
    assert decision is not None and (decision.limit_type, decision.current, decision.limit) == (
        "max_trades_per_week", 0, -1)
    assert "negative" in decision.message


async def test_unusable_limit_value_refuses() -> None:
    decision = await check(FakeReads(settings("24/7", max_open_positions="three")))
    assert decision == RiskDecision(
        "max_open_positions", None, None,
        "max_open_positions must be a number, got 'three'; fix it in Trade Settings (0 means unlimited)")


async def test_trading_window_decision() -> None:
    saturday = utc("2026-03-07T15:00")
    decision = await check(FakeReads(settings("ny-session")), now=saturday)
    assert decision == RiskDecision(
        "trading_window", "Saturday 10:00 America/New_York",
        "ny-session: 09:30-16:00 America/New_York, Monday-Friday",
        "outside the trading window (ny-session: 09:30-16:00 America/New_York, Monday-Friday); "
        "it is Saturday 10:00 America/New_York")


async def test_unknown_preset_decision() -> None:
    decision = await check(FakeReads(settings("forex-week")))
    assert decision is not None and decision.limit_type == "trading_window"
    assert decision.message == "unknown trading_hours_preset 'forex-week'"


async def test_weekend_decision() -> None:
    decision = await check(FakeReads(settings("24/7", allow_weekends=False)), now=utc("2026-03-08T09:15"))
    assert decision == RiskDecision(
        "weekends", "Sunday 09:15 UTC", "Monday-Friday UTC",
        "weekend trading is disabled (allow_weekends is off); it is Sunday 09:15 UTC")


async def test_signal_age_decisions() -> None:
    aged = settings("24/7", max_signal_age_sec=10)
    old = await check(FakeReads(aged), signal(timestamp=NOW - timedelta(seconds=15, milliseconds=200)))
    assert old == RiskDecision("signal_age", 16, 10,
                               "signal is too old: 15.2 s, the maximum is 10 s (max_signal_age_sec); "
                               "check the alert's timing")
    future = await check(FakeReads(aged), signal(timestamp=NOW + timedelta(seconds=90)))
    assert future == RiskDecision("signal_age", -90, 10,
                                  "signal timestamp is 90 s in the future (more than 60 s of clock skew); "
                                  "check the alert's time and the sender's clock")
    assert await check(FakeReads(aged), signal(timestamp=NOW - timedelta(seconds=3))) is None
    assert await check(FakeReads(aged), signal(timestamp=None)) is None


def everything_exceeded(**overrides: Any) -> TradeSettings:
    values = dict(allow_weekends=False, max_signal_age_sec=10, max_trades_per_week=5,
                  max_loss_per_week_usd=Decimal(100), max_open_positions=3)
    values.update(overrides)
    return settings("ny-session", **values)


async def test_checks_run_in_order() -> None:
    saturday, weekday = utc("2026-03-07T15:00"), utc("2026-03-11T15:00")
    stale = signal(timestamp=weekday - timedelta(minutes=5))
    exceeded = {"trades": 5, "loss": Decimal(100), "open_positions": 3}

    async def first(found: TradeSettings, now: datetime) -> str | None:
        decision = await check(FakeReads(found, **exceeded), stale, now)
        return None if decision is None else decision.limit_type

    assert await first(everything_exceeded(), saturday) == "trading_window"
    assert await first(everything_exceeded(trading_hours_preset="24/7"), saturday) == "weekends"
    assert await first(everything_exceeded(), weekday) == "signal_age"
    assert await first(everything_exceeded(max_signal_age_sec=0), weekday) == "max_trades_per_week"
    assert await first(everything_exceeded(max_signal_age_sec=0, max_trades_per_week=0),
                       weekday) == "max_loss_per_week_usd"
    assert await first(everything_exceeded(max_signal_age_sec=0, max_trades_per_week=0,
                                           max_loss_per_week_usd=Decimal(0)), weekday) == "max_open_positions"
    assert await first(everything_exceeded(max_signal_age_sec=0, max_trades_per_week=0,
                                           max_loss_per_week_usd=Decimal(0), max_open_positions=0),
                       weekday) is None


@pytest.mark.parametrize("action", ["close", "close_long", "close_short", "exit", "flat"])
async def test_closes_are_never_blocked(action: str) -> None:
    reads = FakeReads(everything_exceeded(trading_hours_preset="nonsense"), trades=99, loss=Decimal(10**6),
                      open_positions=99, fail={"all"})
    stale = signal(action, timestamp=utc("2020-01-01T00:00"))
    assert await check(reads, stale, utc("2026-03-07T15:00")) is None
    assert reads.calls == []  # not even the settings are read: a store outage cannot block a close


@pytest.mark.parametrize("action", ["buy", "sell", "long", "short"])
async def test_every_entry_action_is_checked(action: str) -> None:
    decision = await check(FakeReads(settings("24/7", max_open_positions=1), open_positions=1), signal(action))
    assert decision is not None and decision.limit_type == "max_open_positions"


@pytest.mark.parametrize(("failing", "found"), [
    ("get_trade_settings", settings("24/7")),
    ("weekly_trade_stats", settings("24/7", max_trades_per_week=5)),
    ("weekly_trade_stats", settings("24/7", max_loss_per_week_usd=Decimal(100))),
    ("count_open_positions", settings("24/7", max_open_positions=3)),
])
async def test_store_failure_raises_unavailable(failing: str, found: TradeSettings) -> None:
    with pytest.raises(RiskCheckUnavailable) as caught:
        await check(FakeReads(found, fail={failing}))
    assert isinstance(caught.value.__cause__, ConnectionError)


async def test_store_failing_synchronously_or_timing_out_raises_unavailable() -> None:
    class Broken(FakeReads):
        def get_trade_settings(self, user_id: str, exchange: str) -> Any:  # not even a coroutine
            raise RuntimeError("pool exhausted")

    with pytest.raises(RiskCheckUnavailable):
        await check(Broken(settings("24/7")))

    class Slow(FakeReads):
        async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int:
            raise TimeoutError

    with pytest.raises(RiskCheckUnavailable):
        await check(Slow(settings("24/7", max_open_positions=3)))


@pytest.mark.parametrize("stats", [None, WeeklyTradeStats(trades="many", loss_usd=Decimal(0))])  # type: ignore[arg-type]
async def test_unusable_stats_raise_unavailable(stats: Any) -> None:
    reads = FakeReads(settings("24/7", max_trades_per_week=5))
    reads.stats = stats
    with pytest.raises(RiskCheckUnavailable):
        await check(reads)


async def test_missing_time_zone_data_raises_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_zones(name: str) -> Any:
        raise ZoneInfoNotFoundError(f"No time zone found with key {name}")

    monkeypatch.setattr(trading_window, "zone", no_zones)
    with pytest.raises(RiskCheckUnavailable, match="tzdata"):
        await check(FakeReads(settings("ny-session")), now=utc("2026-03-11T15:00"))
    # presets that need no zone still work
    assert await check(FakeReads(settings("custom", trading_window=["00:00", "23:59"]))) is None


async def test_naive_now_is_refused_for_entries_but_never_blocks_a_close() -> None:
    naive = datetime(2026, 3, 11, 14, 0)
    with pytest.raises(ValueError, match="timezone-aware"):
        await check(FakeReads(settings("24/7")), signal("buy"), naive)
    assert await check(FakeReads(settings("24/7")), signal("close"), naive) is None


@pytest.mark.parametrize("when", [
    "2026-03-07T12:00",  # Saturday
    "2026-03-06T22:30",  # Friday 17:30 in New York: outside 24/5
    "2026-03-11T03:00",  # Wednesday night in New York: outside both sessions
])
async def test_settings_nobody_set_limit_nothing(when: str) -> None:
    only_weekly = TradeSettings(user_id="u1", exchange="aster", max_trades_per_week=10)
    reads = FakeReads(only_weekly, trades=3, open_positions=50)
    old_alert = signal("buy", timestamp=utc(when) - timedelta(minutes=30))
    assert await check(reads, old_alert, utc(when)) is None
    assert [call[0] for call in reads.calls] == ["get_trade_settings", "weekly_trade_stats"]  # no count: no limit


def test_only_allow_weekends_set_refuses_the_utc_weekend() -> None:
    only_weekends = TradeSettings(user_id="u1", exchange="aster", allow_weekends=False)
    assert trading_window_verdict(only_weekends, utc("2026-03-06T23:00")) is None  # Friday, no window set
    assert trading_window_verdict(only_weekends, utc("2026-03-07T00:00")).startswith("weekend trading is disabled")
