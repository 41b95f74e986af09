"""Technical indicators over closed candles, each matching the TradingView function it is named for.

Pure functions over `Decimal`, never float: candles arrive in Decimal at the venue's precision, and
exact arithmetic keeps a value below 1 USD (or a pip) meaningful and the results reproducible to
the digit in tests against published worked examples. Series are a few hundred values, so the cost
over float does not matter. Results are NOT rounded: writing one at the instrument's precision
(its tick) is the caller's job.

Every series function returns a list aligned with its input, `None` where TradingView gives `na`
(not enough history yet). Seeding follows TradingView (and Wilder, and StockCharts' examples):
- `ema` (`ta.ema`): alpha 2/(length+1), the first value the SMA of the first `length` values.
- `rma` (`ta.rma`, Wilder's smoothing): alpha 1/length, seeded the same way.
- `rsi` (`ta.rsi`): RMA of gains over RMA of losses; first value at the `length`-th change.
  No losses → 100, no gains → 0, as TradingView; neither (a flat series) → 50, where TradingView
  says 100: a market that has not moved is neither overbought nor oversold.
- `atr` (`ta.atr`): RMA of the true range; the first bar's true range is its high − low.
- `bollinger` (`ta.bb`): SMA ± mult × the population standard deviation of the same window.
- `macd` (`ta.macd`): EMA(fast) − EMA(slow), its signal the EMA of that line, the histogram their
  difference.
`change_24h` compares closes by timestamp, whatever the interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from sparky.exchanges.candles import Candle

Series = list[Decimal | None]

ZERO = Decimal(0)
HUNDRED = Decimal(100)
FIFTY = Decimal(50)
DAY = timedelta(hours=24)


def _check_length(length: int) -> None:
    if isinstance(length, bool) or not isinstance(length, int) or length < 1:
        raise ValueError(f"length must be a whole number of at least 1, got {length!r}")


def sma(values: Sequence[Decimal | None], length: int) -> Series:
    """`ta.sma`: the mean of the last `length` values; None while any of them is missing. One pass
    with a running sum (exact: the values are the venue's prices or series derived from them, far
    inside Decimal's 28 digits)."""
    _check_length(length)
    out: Series = []
    total, missing = ZERO, 0
    for i, value in enumerate(values):
        if value is None:
            missing += 1
        else:
            total += value
        if i >= length:
            leaving = values[i - length]
            if leaving is None:
                missing -= 1
            else:
                total -= leaving
        out.append(total / length if i + 1 >= length and missing == 0 else None)
    return out


def _smoothed(values: Sequence[Decimal | None], length: int, alpha: Decimal) -> Series:
    """An exponential average seeded with the SMA of its first `length` values (`ta.ema`,
    `ta.rma`); leading missing values (another indicator's warm-up) are skipped."""
    seeds = sma(values, length)
    out: Series = []
    previous: Decimal | None = None
    for value, seed in zip(values, seeds, strict=True):
        if previous is None:
            previous = seed
        elif value is not None:
            previous = alpha * value + (1 - alpha) * previous
        out.append(previous)
    return out


def ema(values: Sequence[Decimal | None], length: int) -> Series:
    """`ta.ema`: alpha 2/(length+1), seeded with the SMA of the first `length` values."""
    _check_length(length)
    return _smoothed(values, length, Decimal(2) / (length + 1))


def rma(values: Sequence[Decimal | None], length: int) -> Series:
    """`ta.rma`, Wilder's smoothing: alpha 1/length, seeded with the SMA of the first `length`."""
    _check_length(length)
    return _smoothed(values, length, Decimal(1) / length)


def rsi(closes: Sequence[Decimal], length: int = 14) -> Series:
    """`ta.rsi`, Wilder's RSI (see the module docstring for the flat market)."""
    _check_length(length)
    changes: Series = [None] + [b - a for a, b in zip(closes, closes[1:], strict=False)]
    ups = rma([None if c is None else max(c, ZERO) for c in changes], length)
    downs = rma([None if c is None else max(-c, ZERO) for c in changes], length)
    out: Series = []
    for up, down in zip(ups, downs, strict=True):
        if up is None or down is None:
            out.append(None)
        elif down == 0:
            out.append(FIFTY if up == 0 else HUNDRED)
        elif up == 0:
            out.append(ZERO)
        else:
            out.append(HUNDRED - HUNDRED / (1 + up / down))
    return out


def true_range(candles: Sequence[Candle]) -> list[Decimal]:
    """`ta.tr(true)`: the bar's range widened to the previous close; the first bar's high − low."""
    out = []
    for i, c in enumerate(candles):
        if i == 0:
            out.append(c.high - c.low)
        else:
            before = candles[i - 1].close
            out.append(max(c.high - c.low, abs(c.high - before), abs(c.low - before)))
    return out


def atr(candles: Sequence[Candle], length: int = 14) -> Series:
    """`ta.atr`: Wilder's RMA of the true range."""
    return rma(true_range(candles), length)


@dataclass(frozen=True)
class Bands:
    basis: Series
    upper: Series
    lower: Series


def stdev(values: Sequence[Decimal], length: int) -> Series:
    """`ta.stdev` (biased, the default): the population standard deviation of the last `length`."""
    means = sma(values, length)
    out: Series = []
    for i, mean in enumerate(means):
        if mean is None:
            out.append(None)
        else:
            window = values[i - length + 1:i + 1]
            out.append((sum(((v - mean) ** 2 for v in window), ZERO) / length).sqrt())
    return out


def bollinger(closes: Sequence[Decimal], length: int = 20, mult: Decimal = Decimal(2)) -> Bands:
    """`ta.bb`: basis SMA(length), bands at ± mult × the population standard deviation."""
    _check_length(length)
    basis = sma(closes, length)
    deviations = stdev(closes, length)
    upper: Series = [None if b is None or d is None else b + mult * d for b, d in zip(basis, deviations, strict=True)]
    lower: Series = [None if b is None or d is None else b - mult * d for b, d in zip(basis, deviations, strict=True)]
    return Bands(basis, upper, lower)


@dataclass(frozen=True)
class Macd:
    line: Series
    signal: Series
    histogram: Series


def macd(closes: Sequence[Decimal], fast: int = 12, slow: int = 26, signal: int = 9) -> Macd:
    """`ta.macd`: EMA(fast) − EMA(slow); the signal EMA(signal) of that line (seeded with the SMA of
    its first `signal` values); the histogram line − signal."""
    line: Series = [None if f is None or s is None else f - s
                    for f, s in zip(ema(closes, fast), ema(closes, slow), strict=True)]
    signals = ema(line, signal)
    histogram: Series = [None if m is None or s is None else m - s for m, s in zip(line, signals, strict=True)]
    return Macd(line, signals, histogram)


def change_24h(candles: Sequence[Candle]) -> Decimal | None:
    """Percent change of the last close against the close 24 hours before it, by timestamp: the
    candle that opened 24 h before the last one, or the latest before that when the market was shut
    then (the price as it stood). None when the history does not reach back 24 h (or that close is
    zero). Any interval: 1m candles need 1,441 of them, 1h candles 25, 1d candles 2."""
    if not candles:
        return None
    last = candles[-1]
    target = last.open_time - DAY
    earlier = next((c for c in reversed(candles) if c.open_time <= target), None)
    if earlier is None or earlier.close == 0:
        return None
    return (last.close - earlier.close) / earlier.close * HUNDRED


@dataclass(frozen=True)
class Summary:
    """The last value of each indicator the prompt shows and the decision row keeps."""

    change_24h: Decimal | None
    rsi_14: Decimal | None
    ema_20: Decimal | None
    ema_50: Decimal | None
    bb_lower: Decimal | None
    bb_basis: Decimal | None
    bb_upper: Decimal | None
    macd_line: Decimal | None
    macd_signal: Decimal | None
    macd_histogram: Decimal | None
    atr_14: Decimal | None


def _last(series: Series) -> Decimal | None:
    return series[-1] if series else None


def summary(candles: Sequence[Candle]) -> Summary:
    """The indicators of one series of candles. The worker computes them once per series and
    cycle (`CycleMarketData.indicators`): every strategy trading the same symbol in a cycle gets
    the same candles, so the prompts and decision rows of all of them share one computation."""
    closes = [c.close for c in candles]
    bands, lines = bollinger(closes), macd(closes)
    return Summary(change_24h(candles), _last(rsi(closes)), _last(ema(closes, 20)), _last(ema(closes, 50)),
                   _last(bands.lower), _last(bands.basis), _last(bands.upper), _last(lines.line),
                   _last(lines.signal), _last(lines.histogram), _last(atr(candles)))
