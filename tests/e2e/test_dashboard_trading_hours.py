"""The trading hours the dashboard saves (`market-hours`, `forex-hours`, equities extended hours)
are enforced as the user chose them, not refused as unknown. The gates get the instant to judge
(as the pipeline passes each alert's recording time), so the clock is fixed here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sparky.signals.models import Signal
from sparky.store.tenants import TradeSettings
from tests.e2e.test_multi_tenant import ALICE, add_user


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


async def verdict(sparky, exchange: str, when: datetime) -> dict | None:
    """None when an entry at `when` is admitted, else the 429 body's data."""
    entry = Signal.model_validate({"action": "buy", "symbol": "AAPL", "exchange": exchange,
                                   "timestamp": when - timedelta(seconds=2)})
    admission = await sparky.services.gates.admit(ALICE, entry, when)
    if admission.rejection is None:
        return None
    assert admission.rejection.http_status == 429
    return admission.rejection.body["data"]


async def saved_by_dashboard(sparky, exchange: str, **fields) -> None:
    await add_user(sparky, ALICE)
    await sparky.services.store.upsert_trade_settings(TradeSettings(ALICE, exchange, **fields))
    sparky.services.gates.reload()


# (UTC instant, admitted) for the regular New York session, across both DST regimes
REGULAR = [
    ("2026-03-06T14:29:59", False),  # Fri 09:29:59 EST
    ("2026-03-06T14:30:00", True),   # Fri 09:30 EST
    ("2026-03-06T20:59:59", True),   # Fri 15:59:59 EST
    ("2026-03-06T21:00:00", False),  # Fri 16:00 EST: closed
    ("2026-07-06T13:30:00", True),   # Mon 09:30 EDT
    ("2026-07-06T13:29:00", False),  # Mon 09:29 EDT
    ("2026-03-07T15:00:00", False),  # Saturday 10:00 New York: no session, allow_weekends or not
]


@pytest.mark.parametrize("exchange", ["tradier", "tradier_options", "paper"])
async def test_market_hours_admit_entries_in_the_new_york_session_only(start, exchange) -> None:
    async with start() as sparky:
        await saved_by_dashboard(sparky, exchange, trading_hours_preset="market-hours",
                                 trading_window=["09:30", "16:00"], allow_weekends=True)
        for instant, admitted in REGULAR:
            data = await verdict(sparky, exchange, at(instant))
            assert (data is None) is admitted, (instant, data)
        refused = await verdict(sparky, exchange, at("2026-03-06T21:00:00"))
        assert refused == {"limitType": "trading_window", "current": "Friday 16:00 America/New_York",
                           "limit": "market-hours: 09:30-16:00 America/New_York, Monday-Friday"}


async def test_market_hours_with_the_extended_hours_window_run_from_7_to_20_new_york(start) -> None:
    async with start() as sparky:
        await saved_by_dashboard(sparky, "tradier", trading_hours_preset="market-hours",
                                 trading_window=["07:00", "20:00"], allow_weekends=True)
        for instant, admitted in [("2026-03-06T11:59:59", False),  # Fri 06:59:59 EST
                                  ("2026-03-06T12:00:00", True),   # Fri 07:00 EST, pre-market
                                  ("2026-03-06T22:30:00", True),   # Fri 17:30 EST, after hours
                                  ("2026-03-07T01:00:00", False),  # Fri 20:00 EST: closed
                                  ("2026-07-06T11:00:00", True),   # Mon 07:00 EDT
                                  ("2026-07-11T14:00:00", False)]:  # Saturday
            data = await verdict(sparky, "tradier", at(instant))
            assert (data is None) is admitted, (instant, data)
        assert (await verdict(sparky, "tradier", at("2026-03-07T01:00:00")))["limit"] == (
            "market-hours: 07:00-20:00 America/New_York, Monday-Friday")


async def test_forex_hours_is_the_fx_week(start) -> None:
    async with start() as sparky:
        await saved_by_dashboard(sparky, "oanda", trading_hours_preset="forex-hours",
                                 trading_window=["00:00", "23:59"], allow_weekends=False)
        for instant, admitted in [("2026-03-04T03:00:00", True),   # Wednesday night
                                  ("2026-03-06T21:59:59", True),   # Fri 16:59:59 EST
                                  ("2026-03-06T22:00:00", False),  # Fri 17:00 EST: the FX week closed
                                  ("2026-03-07T12:00:00", False),  # Saturday
                                  ("2026-03-09T05:00:00", True)]:  # Monday 01:00 EDT
            data = await verdict(sparky, "oanda", at(instant))
            assert (data is None) is admitted, (instant, data)
        closed = await verdict(sparky, "oanda", at("2026-03-06T22:00:00"))
        assert closed["limitType"] == "trading_window"
        assert closed["limit"] == "forex-hours: Sunday 17:00 to Friday 17:00 America/New_York"
        # allow_weekends = false: the Sunday evening open waits for Monday, as with 24/5
        assert (await verdict(sparky, "oanda", at("2026-03-08T22:00:00")))["limitType"] == "weekends"


async def test_a_preset_sparky_does_not_know_is_still_refused_with_the_known_ones_listed(start) -> None:
    async with start() as sparky:
        await saved_by_dashboard(sparky, "tradier", trading_hours_preset="lunch-hours")
        data = await verdict(sparky, "tradier", at("2026-03-06T15:00:00"))
        assert data["limitType"] == "trading_window" and "market-hours" in data["limit"]
        assert "forex-hours" in data["limit"]
