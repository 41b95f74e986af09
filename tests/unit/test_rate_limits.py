"""Rate-limit strings and fixed-window counting (the in-process cache, on a clock the test moves)."""

from __future__ import annotations

import pytest

from sparky.cache import InProcessCache
from sparky.signals.rate_limits import Exceeded, FixedWindows, Rate, parse_rates


@pytest.mark.parametrize(("text", "rates"), [
    ("", ()),
    ("  ", ()),
    ("30/minute", (Rate(30, 60),)),
    ("60/minute;500/hour", (Rate(60, 60), Rate(500, 3600))),
    ("10 per second, 2/5 minutes", (Rate(10, 1), Rate(2, 300))),
    ("100/Days", (Rate(100, 86400),)),
])
def test_parse_rates(text: str, rates: tuple[Rate, ...]) -> None:
    assert parse_rates(text, setting="RATE_LIMIT") == rates


@pytest.mark.parametrize(("rate", "text"), [
    (Rate(30, 60), "30/minute"), (Rate(500, 3600), "500/hour"), (Rate(2, 300), "2/5 minutes"),
    (Rate(5, 90), "5/90 seconds"), (Rate(9, 86400), "9/day"),
])
def test_rates_read_as_written(rate: Rate, text: str) -> None:
    assert str(rate) == text and parse_rates(text, setting="X") == (rate,)


async def test_a_window_opens_with_its_first_hit_and_refused_hits_are_not_counted() -> None:
    now = [1000.0]
    windows = FixedWindows(InProcessCache(clock=lambda: now[0]))
    rates = (Rate(2, 60),)
    now[0] = 1010  # the first hit opens the window: it closes at 1070
    assert [await windows.hit("user:a", rates) for _ in range(2)] == [None, None]
    now[0] = 1050
    assert await windows.hit("user:a", rates) == Exceeded(Rate(2, 60), retry_after=20)
    assert await windows.hit("user:b", rates) is None  # keys are independent
    now[0] = 1069.5
    assert (await windows.hit("user:a", rates)).retry_after == 1
    now[0] = 1070
    assert [await windows.hit("user:a", rates) for _ in range(3)] == [None, None, Exceeded(Rate(2, 60), 60)]


async def test_a_hit_refused_by_one_rate_is_counted_by_none() -> None:
    now = [0.0]
    cache = InProcessCache(clock=lambda: now[0])
    windows = FixedWindows(cache)
    rates = (Rate(3, 60), Rate(4, 3600))
    assert [await windows.hit("k", rates) for _ in range(4)] == [None, None, None, Exceeded(Rate(3, 60), 60)]
    assert await cache.get("rate:k:4/3600") == "3"  # refused by the minute: not counted for the hour
    now[0] = 60
    assert await windows.hit("k", rates) is None
    assert [await windows.hit("k", rates) for _ in range(2)] == [Exceeded(Rate(4, 3600), 3540)] * 2
    assert await cache.get("rate:k:3/60") == "1"  # refused by the hour: not counted for the minute
