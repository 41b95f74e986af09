"""The candle rules every venue shares: interval names, the closed-only cut, vendor numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from sparky.exchanges.candles import Candle, UnsupportedInterval, closed_only, decimal, venue_interval
from sparky.exchanges.errors import NotSupported

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def at(minutes: int) -> Candle:
    return Candle(T0 + timedelta(minutes=minutes), D(1), D(1), D(1), D(1), D(0))


def test_a_candle_ending_exactly_now_is_closed_and_the_next_is_not() -> None:
    candles = [at(10), at(0), at(5)]  # any order in, oldest first out
    assert closed_only(candles, "5m", T0 + timedelta(minutes=10), 10) == [at(0), at(5)]
    assert closed_only(candles, "5m", T0 + timedelta(minutes=15), 2) == [at(5), at(10)]  # the newest `limit`


def test_an_interval_the_venue_lacks_names_what_it_has() -> None:
    with pytest.raises(UnsupportedInterval, match=r"^tradier: no 4h candles \(has 1m 1d\)$") as caught:
        venue_interval({"1m": "1min", "1d": "daily"}, "4h", venue="tradier")
    assert isinstance(caught.value, NotSupported) and caught.value.exchange == "tradier"


def test_vendor_numbers_keep_the_decimals_the_venue_wrote() -> None:
    assert decimal("0.00001234") == D("0.00001234")
    assert decimal(0.1) == D("0.1")  # a float through its shortest repr, not 0.1000000000000000055…
    assert decimal(37088.8) == D("37088.8")
    assert decimal(D("1.50")) == D("1.50")
    for bad in ("NaN", "x", None, float("inf")):
        with pytest.raises(ValueError, match="not a number"):
            decimal(bad)
