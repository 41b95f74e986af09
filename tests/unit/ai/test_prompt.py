"""The prompt for one strategy: its rules, its state, its markets at their own precision, the schema."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest

from sparky.ai.decision import DECISION_SCHEMA
from sparky.ai.prompt import RISK_RULES, AssetMarket, build_prompt, price
from sparky.exchanges.candles import Candle
from sparky.store.ai import AiStrategyRecord
from sparky.store.base import PositionRecord

NOW = datetime(2026, 12, 1, 16, 0, 30, tzinfo=UTC)


def candles(start: D, step: D, n: int = 60) -> list[Candle]:
    t0 = NOW.replace(minute=0, second=0) - timedelta(hours=n)
    out = []
    for i in range(n):
        close = start + step * (i % 7) - step * (i % 3)
        out.append(Candle(t0 + timedelta(hours=i), close, close + step, close - step, close, D("1500.5")))
    return out


def strategy(**changes) -> AiStrategyRecord:
    fields = dict(id="s1", user_id="u1", target_assets=["BTCUSDT", "PEPEUSDT"], risk_profile="conservative",
                  leverage_max=3, max_drawdown_percent=D(15), min_position_size_usd=D(20),
                  max_position_size_usd=D(500))
    return AiStrategyRecord(**{**fields, **changes})


def markets() -> list[AssetMarket]:
    return [
        AssetMarket("BTCUSDT", D("0.1"), "1h", candles(D("97000.0"), D("12.5"))),
        AssetMarket("PEPEUSDT", D("0.0000001"), "1h", candles(D("0.0000120"), D("0.0000001"))),
        AssetMarket("DOGEUSDT", D("0.00001"), "1h", candles(D("0.31"), D("0.001"))),
    ]


def position(symbol: str, **changes) -> PositionRecord:
    fields = dict(user_id="u1", exchange="bybit", symbol=symbol, side="BUY", entry_price=D("0.0000118"),
                  quantity=D(10_000_000), entry_time=datetime(2026, 12, 1, 9, 30, tzinfo=UTC),
                  position_size_usd=D(118), current_price=D("0.0000121"), unrealized_pnl_usd=D("3.00"),
                  unrealized_pnl_percent=D("2.54"), stop_loss_price=D("0.0000115"))
    return PositionRecord(**{**fields, **changes})


def build(**changes):
    args = dict(equity_usd=D("2500.75"), positions=[position("PEPE/USDT:USDT"), position("DOGEUSDT")],
                markets=markets(), now=NOW, candles=5)
    return build_prompt(changes.pop("strategy", strategy()), **{**args, **changes})


def test_a_sub_cent_price_keeps_its_full_precision():
    prompt = build()
    assert "Last close 0.0000121 " in prompt.user  # the last candle closes at start + step
    assert "0.0000118" in prompt.user and "0.0000121" in prompt.user  # the position's entry and current price
    assert "0.00" + " " not in prompt.user.split("## PEPEUSDT")[1].split("Last")[0]
    assert "Last close 97012.5 " in prompt.user


def test_prices_are_written_at_the_tick_never_a_fixed_two_decimals():
    assert price(D("0.000012"), D("0.000001")) == "0.000012"
    assert price(D("0.0000123456"), D("0.0000001")) == "0.0000123"
    assert price(D("1.2E-7"), D("1E-9")) == "0.000000120"
    assert price(D("97000.123"), D("0.5")) == "97000.1"
    assert price(D("1234567890123.5"), D("1E-30")).startswith("1234567890123.5000")
    assert price(D("27000"), D("10")) == "27000"


def test_the_risk_profile_rules_are_stated():
    for name, rules in RISK_RULES.items():
        system = build(strategy=strategy(risk_profile=name)).system
        assert f"Risk profile: {name}." in system
        assert f"confidence of at least {rules.min_confidence}" in system
        assert f"at most {rules.max_equity_percent}% of the account's equity" in system
        assert f"stop_loss_percent when opening, at most {rules.max_stop_loss_percent}%" in system
    system = build().system
    assert "Leverage is at most 3x." in system
    assert "drawdown of 15%" in system
    assert "size_usd is at least 20 USD." in system and "size_usd is at most 500 USD." in system


def test_the_decision_schema_is_given():
    assert DECISION_SCHEMA in build().system


def test_no_asset_outside_the_strategy_targets_appears():
    prompt = build()
    assert "DOGE" not in prompt.system + prompt.user
    assert "## BTCUSDT" in prompt.user and "## PEPEUSDT" in prompt.user
    assert "Assets you may trade: BTCUSDT, PEPEUSDT." in prompt.system


def test_the_state_equity_positions_and_times_in_utc():
    user = build().user
    assert "Time now: 2026-12-01T16:00:30Z" in user
    assert "Account equity: 2500.75 USD" in user
    assert ("- PEPE/USDT:USDT LONG quantity 10000000 entry 0.0000118 current 0.0000121 size 118.00 USD "
            "unrealized P&L 3.00 USD (2.54%) stop 0.0000115 since 2026-12-01T09:30:00Z") in user


def test_the_last_n_closed_candles_with_indicators():
    user = build().user
    pepe = user.split("## PEPEUSDT")[1]
    assert "Last 5 closed candles" in pepe
    rows = [line for line in pepe.splitlines() if line.startswith("2026-")]
    assert len(rows) == 5
    assert rows[-1].startswith("2026-12-01T15:00:00Z ")
    for label in ("RSI(14):", "EMA(20):", "Bollinger(20, 2):", "MACD(12, 26, 9):", "ATR(14):", "Change 24h:"):
        assert label in pepe


def test_no_positions_and_no_candles_are_said_plainly():
    prompt = build(positions=[], markets=[AssetMarket("BTCUSDT", D("0.1"), "1h", [])], equity_usd=None)
    assert "- none" in prompt.user
    assert "No closed candles: HOLD this asset." in prompt.user
    assert "Account equity: unknown USD" in prompt.user


def test_the_messages_are_system_then_user():
    prompt = build()
    assert prompt.messages() == [{"role": "system", "content": prompt.system},
                                 {"role": "user", "content": prompt.user}]


@pytest.mark.parametrize("tick", [D(0), D(-1), D("NaN")])
def test_a_tick_size_that_is_not_positive_is_refused(tick):
    with pytest.raises(ValueError, match="tick_size must be a positive number"):
        build(markets=[AssetMarket("BTCUSDT", tick, "1h", candles(D(100), D(1)))])


def test_a_built_prompt_keeps_none_of_its_candles():
    """A worker runs for months, fetching fresh candles every cycle: nothing may hold on to them."""
    series = candles(D("4321.7"), D("0.3"))  # candles no other test builds
    last = weakref.ref(series[-1])
    build(markets=[AssetMarket("BTCUSDT", D("0.1"), "1h", series)])
    del series
    gc.collect()
    assert last() is None
