"""The indicators against published worked examples and against the `ta` library.

`ta` (0.11, with pandas) is not a dependency: its values for the random walk below were computed
once in a separate environment and are written here. `ta` seeds RSI, EMA and MACD with the first
value instead of an SMA, so it agrees with TradingView only once the seed has decayed: the walk is
300 bars long and only its last values are compared; its ATR and Bollinger bands are seeded as ours
and agree from their first value.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from sparky.ai.indicators import atr, bollinger, change_24h, ema, macd, rma, rsi, sma, true_range
from sparky.exchanges.candles import Candle

CENT = D("0.01")
T0 = datetime(2024, 3, 1, tzinfo=UTC)


def walk(n: int = 300) -> list[Candle]:
    """A deterministic random walk of hourly candles, prices in cents (an LCG, so `ta` saw the same)."""
    state, price, rows = 12345, 10000, []
    for i in range(n):
        state = (state * 1103515245 + 12345) % 2**31
        step = state % 201 - 100
        state = (state * 1103515245 + 12345) % 2**31
        up = state % 80
        state = (state * 1103515245 + 12345) % 2**31
        down = state % 80
        opened = price
        price = max(100, price + step)
        high = max(opened, price) + up
        low = max(1, min(opened, price) - down)
        rows.append(Candle(T0 + timedelta(hours=i), D(opened) * CENT, D(high) * CENT, D(low) * CENT,
                           D(price) * CENT, D(1)))
    return rows


def close_to(values: list[D | None], expected: list[str], tolerance: str = "1e-9") -> bool:
    return len(values) == len(expected) and all(
        v is not None and abs(v - D(e)) <= D(tolerance) for v, e in zip(values, expected, strict=True))


# ----------------------------------------------------------------------- published worked examples
#: StockCharts' RSI worked example (cs-rsi.xls, QQQQ Dec 2009 - Feb 2010), closes as in the sheet
STOCKCHARTS_CLOSES = [D(x) for x in (
    "44.3389 44.0902 44.1497 43.6124 44.3278 44.8264 45.0955 45.4245 45.8433 46.0826 45.8931 46.0328 45.614 "
    "46.282 46.282 46.0028 46.0328 46.4116 46.2222 45.6439 46.2122 46.2521 45.7137 46.4515 45.7835 45.3548 "
    "44.0288 44.1783 44.2181 44.5672 43.4205 42.6628 43.1314").split()]
STOCKCHARTS_RSI = ("70.53 66.32 66.55 69.41 66.36 57.97 62.93 63.26 56.06 62.38 54.71 50.42 39.99 41.46 41.87 "
                   "45.46 37.30 33.08 37.77").split()


def test_rsi_is_wilders_as_in_stockcharts_worked_example() -> None:
    values = rsi(STOCKCHARTS_CLOSES, 14)
    assert values[:14] == [None] * 14  # the first RSI needs 14 changes: 15 closes
    assert [str(v.quantize(CENT)) for v in values[14:]] == STOCKCHARTS_RSI


def test_bollinger_uses_the_population_deviation() -> None:
    # the 5-bar, 2-deviation example: SMA 26.6, variance 1.825 / 5 (not / 4)
    bands = bollinger([D("25.5"), D("26.75"), D("27.0"), D("26.5"), D("27.25")], 5, D(2))
    assert bands.basis == [None] * 4 + [D("26.6")]
    assert bands.upper[4] == D("26.6") + 2 * D("0.365").sqrt()
    assert bands.lower[4] == D("26.6") - 2 * D("0.365").sqrt()


def test_ema_and_rma_are_seeded_with_the_sma_of_their_first_values() -> None:
    values = [D(v) for v in (1, 2, 3, 4, 5)]
    assert ema(values, 3) == [None, None, D(2), D(3), D(4)]  # alpha 1/2 after the seed
    assert rma(values, 2) == [None, D("1.5"), D("2.25"), D("3.125"), D("4.0625")]  # alpha 1/2
    assert sma(values, 5) == [None] * 4 + [D(3)]


def test_true_range_reaches_to_the_previous_close() -> None:
    bars = [Candle(T0, D(10), D(11), D(9), D(10), D(0)),
            Candle(T0 + timedelta(hours=1), D(13), D(14), D(13), D(14), D(0)),  # gap up: from close 10
            Candle(T0 + timedelta(hours=2), D(12), D(12), D(11), D(11), D(0))]  # gap down: to close 14
    assert true_range(bars) == [D(2), D(4), D(3)]
    assert atr(bars, 2) == [None, D(3), D("3")]  # SMA(2, 4) = 3, then (3 + 3) / 2


# ------------------------------------------------------------------------------ against `ta` 0.11
@pytest.fixture(scope="module")
def bars() -> list[Candle]:
    return walk()


def test_sma_ema_rsi_match_ta(bars: list[Candle]) -> None:
    closes = [c.close for c in bars]
    assert [c.close for c in bars[-3:]] == [D("104.34"), D("104.33"), D("105.06")]  # the same walk as ta's
    assert sma(closes, 20)[-3:] == [D("103.2875"), D("103.359"), D("103.474")]
    assert close_to(ema(closes, 20)[-3:], ["103.58870822151876", "103.65930743851698", "103.79270673008679"])
    # ta's first-value seed still weighs (13/14)^286 after 300 bars: agreement to 1e-7, not 1e-9
    assert close_to(rsi(closes, 14)[-3:], ["57.370961235043104", "57.25301826681302", "63.20045604322245"], "1e-7")


def test_atr_matches_ta_from_its_first_value(bars: list[Candle]) -> None:
    values = atr(bars, 14)
    assert values[:13] == [None] * 13
    assert close_to(values[13:15], ["1.4357142857142873", "1.3795918367346949"])
    assert close_to(values[-3:], ["1.1764449327920234", "1.143841723306879", "1.1607101716421016"])


def test_bollinger_matches_ta(bars: list[Candle]) -> None:
    bands = bollinger([c.close for c in bars], 20, D(2))
    assert close_to(bands.upper[-3:], ["104.1367791060649", "104.30142028840551", "104.63252319786795"])
    assert close_to(bands.lower[-3:], ["102.43822089393508", "102.41657971159448", "102.31547680213205"])


def test_macd_matches_ta_and_starts_where_tradingview_does(bars: list[Candle]) -> None:
    result = macd([c.close for c in bars], 12, 26, 9)
    assert result.line[24] is None and result.line[25] is not None  # EMA(26) needs 26 closes
    assert result.signal[32] is None and result.signal[33] is not None  # then 9 MACD values
    assert result.histogram[33] == result.line[33] - result.signal[33]
    assert close_to(result.line[-3:], ["-0.018483250373705573", "0.04101840120512179", "0.1454026763599785"])
    assert close_to(result.signal[-3:], ["-0.16457347204453657", "-0.12345509739460489", "-0.06968354264368823"])
    assert close_to(result.histogram[-3:], ["0.146090221670831", "0.16447349859972668", "0.21508621900366673"])


# --------------------------------------------------------------------------------------- edges
def test_rsi_of_a_flat_market_is_neutral_and_one_way_markets_are_extremes() -> None:
    assert rsi([D(5)] * 20, 14)[-1] == D(50)  # no gains, no losses: TradingView would say 100
    assert rsi([D(i) for i in range(20)], 14)[-1] == D(100)  # no losses
    assert rsi([D(20 - i) for i in range(20)], 14)[-1] == D(0)  # no gains
    assert rsi([D(i) for i in range(14)], 14) == [None] * 14  # 13 changes: not enough


@pytest.mark.parametrize("length", [0, -3, True, 2.5])
def test_a_length_that_is_not_a_positive_whole_number_is_refused(length: object) -> None:
    with pytest.raises(ValueError, match="length must be a whole number of at least 1"):
        sma([D(1)], length)  # type: ignore[arg-type]


def candles_every(step: timedelta, closes: list[int], start: datetime = T0) -> list[Candle]:
    return [Candle(start + i * step, D(c), D(c), D(c), D(c), D(0)) for i, c in enumerate(closes)]


def test_change_24h_compares_closes_24_hours_apart_whatever_the_interval() -> None:
    hourly = candles_every(timedelta(hours=1), [100] + [90] * 23 + [110])  # 25 candles: 24 h apart
    assert change_24h(hourly) == D(10)
    assert change_24h(hourly[1:]) is None  # 24 candles reach back only 23 h
    minutes = candles_every(timedelta(minutes=1), [200] + [0] * 1439 + [150])  # 1,441 one-minute candles
    assert change_24h(minutes) == D(-25)
    assert change_24h(minutes[1:]) is None
    assert change_24h([]) is None


def test_change_24h_over_a_closed_market_takes_the_price_as_it_stood() -> None:
    friday = datetime(2024, 3, 1, tzinfo=UTC)
    daily = [Candle(friday, D(1), D(1), D(1), D(50), D(0)),
             Candle(friday + timedelta(days=3), D(1), D(1), D(1), D(55), D(0))]  # Monday
    assert change_24h(daily) == D(10)  # Monday against Friday, the last close before Sunday
