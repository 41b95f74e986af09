"""The prompt for one AI strategy's decision: a pure function of what the worker read (no I/O).

The system message states the rules: the strategy's risk profile (what it allows), its limits, and
the decision schema (`DECISION_SCHEMA`, the one the parser holds the answer to). The user message
gives the state: the account's equity, the strategy's open positions with their unrealized P&L,
and for each target asset its indicators and last closed candles. Every price is written at the
instrument's own precision (its tick size, passed in), never at a fixed number of decimals, so a
price of 0.000012 reaches the model as 0.000012; times are UTC ISO 8601. Only the strategy's
target assets appear: a market or position of any other symbol given in is left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from functools import cached_property

from sparky.ai.decision import DECISION_SCHEMA, canonical
from sparky.ai.indicators import Summary, summary
from sparky.ai.risk_profiles import RISK_RULES
from sparky.exchanges.candles import Candle
from sparky.store.ai import AiStrategyRecord
from sparky.store.base import PositionRecord

#: closed candles of each asset written into the prompt (the indicators use all those given)
DEFAULT_CANDLES = 20


@dataclass(frozen=True)
class AssetMarket:
    """One target asset as the worker read it: closed candles oldest first, and its tick size."""

    symbol: str
    tick_size: Decimal
    interval: str
    candles: Sequence[Candle]
    #: the candles' indicators when the cycle computed them already (MarketData.indicators)
    known_indicators: Summary | None = None

    @cached_property
    def indicators(self) -> Summary:
        """The candles' indicators, computed at most once for the prompt and the decision row."""
        return self.known_indicators or summary(self.candles)


@dataclass(frozen=True)
class Prompt:
    system: str
    user: str

    def messages(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.system}, {"role": "user", "content": self.user}]


def price(value: Decimal | None, tick: Decimal, *, extra_places: int = 0) -> str:
    """`value` at the tick's precision (plus `extra_places` for values finer than a price, like
    ATR); plain digits, never an exponent. `-` for a value not known yet."""
    places = max(0, -tick.normalize().as_tuple().exponent) + extra_places  # type: ignore[operator]
    return fixed(value, places)


def fixed(value: Decimal | None, places: int = 2) -> str:
    """`value` at `places` decimals; plain digits, never an exponent. `-` for a value not known yet."""
    if value is None:
        return "-"
    with localcontext() as context:
        context.prec = 80  # quantize must not run out of digits for a large price at a fine tick
        return format(value.quantize(Decimal(1).scaleb(-places)), "f")


def utc(moment: datetime) -> str:
    """ISO 8601 in UTC; a naive time is taken as UTC (every time Sparky handles is)."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


def _system(strategy: AiStrategyRecord) -> str:
    rules = RISK_RULES[strategy.risk_profile]
    limits = [f"- Risk profile: {strategy.risk_profile}. {rules.summary}",
              f"- Open a position (LONG or SHORT) only with a confidence of at least {rules.min_confidence}.",
              f"- A position is at most {rules.max_equity_percent}% of the account's equity, and never more "
              "than the equity itself.",
              f"- Always give stop_loss_percent when opening, at most {rules.max_stop_loss_percent}%.",
              f"- Leverage is at most {strategy.leverage_max}x.",
              f"- The strategy stops opening positions at a drawdown of {strategy.max_drawdown_percent}%."]
    if strategy.min_position_size_usd is not None:
        limits.append(f"- size_usd is at least {strategy.min_position_size_usd} USD.")
    if strategy.max_position_size_usd is not None:
        limits.append(f"- size_usd is at most {strategy.max_position_size_usd} USD.")
    profiles = "\n".join(f"- {name}: confidence at least {r.min_confidence}, a position at most "
                         f"{r.max_equity_percent}% of equity, stop loss at most {r.max_stop_loss_percent}%"
                         for name, r in RISK_RULES.items())
    return "\n".join([
        "You are the trading model of one automated strategy. Decide one action for one of the assets listed.",
        f"Assets you may trade: {', '.join(strategy.target_assets)}. Never name any other symbol.",
        "",
        "Rules of this strategy:",
        *limits,
        "- CLOSE closes the whole open position of the symbol. HOLD when nothing meets these rules.",
        "",
        "Risk profiles, for reference:",
        profiles,
        "",
        "Answer with exactly one JSON object and nothing else, following this JSON schema "
        "(numbers as JSON numbers):",
        DECISION_SCHEMA,
    ])


def _position(record: PositionRecord, tick: Decimal | None) -> str:
    def at(value: Decimal | None) -> str:
        if value is None:
            return "-"
        return price(value, tick) if tick is not None else format(value, "f")

    pnl = "unknown" if record.unrealized_pnl_usd is None else f"{fixed(record.unrealized_pnl_usd)} USD"
    if record.unrealized_pnl_percent is not None:
        pnl += f" ({fixed(record.unrealized_pnl_percent)}%)"
    side = "LONG" if record.side.upper() == "BUY" else "SHORT"
    return (f"- {record.symbol} {side} quantity {format(record.quantity, 'f')} entry {at(record.entry_price)} "
            f"current {at(record.current_price)} size {fixed(record.position_size_usd)} USD unrealized P&L {pnl} "
            f"stop {at(record.stop_loss_price)} since {utc(record.entry_time)}")


def _market(market: AssetMarket, count: int) -> list[str]:
    candles, tick = list(market.candles), market.tick_size
    last = candles[-1] if candles else None
    out = [f"## {market.symbol} (tick {format(tick.normalize(), 'f')}, {market.interval} candles)"]
    if last is None:
        return [*out, "No closed candles: HOLD this asset."]
    now = market.indicators
    out += [
        f"Last close {price(last.close, tick)} (candle opened {utc(last.open_time)})",
        f"Change 24h: {fixed(now.change_24h)}%",
        f"RSI(14): {fixed(now.rsi_14)}",
        f"EMA(20): {price(now.ema_20, tick)}  EMA(50): {price(now.ema_50, tick)}",
        f"Bollinger(20, 2): lower {price(now.bb_lower, tick)} basis {price(now.bb_basis, tick)} "
        f"upper {price(now.bb_upper, tick)}",
        f"MACD(12, 26, 9): line {price(now.macd_line, tick, extra_places=2)} "
        f"signal {price(now.macd_signal, tick, extra_places=2)} "
        f"histogram {price(now.macd_histogram, tick, extra_places=2)}",
        f"ATR(14): {price(now.atr_14, tick, extra_places=2)}",
        f"Last {min(count, len(candles))} closed candles (open time UTC, open, high, low, close, volume):",
    ]
    out += [f"{utc(c.open_time)} {price(c.open, tick)} {price(c.high, tick)} {price(c.low, tick)} "
            f"{price(c.close, tick)} {format(c.volume, 'f')}" for c in candles[-count:]]
    return out


def build_prompt(strategy: AiStrategyRecord, *, equity_usd: Decimal | None, positions: Sequence[PositionRecord],
                 markets: Sequence[AssetMarket], now: datetime, candles: int = DEFAULT_CANDLES) -> Prompt:
    """The system and user messages for one decision of `strategy` (see the module docstring).
    ValueError for a risk profile without rules or a tick size that is not a positive number."""
    if strategy.risk_profile not in RISK_RULES:
        raise ValueError(f"risk_profile must be one of {', '.join(RISK_RULES)}, not {strategy.risk_profile!r}")
    if candles < 1:
        raise ValueError("candles must be at least 1")
    def spelled(symbol: str) -> str | None:
        try:
            return canonical(symbol)
        except ValueError:  # not a ticker: matches no target
            return None

    targets = {spelled(asset) for asset in strategy.target_assets} - {None}

    def ours(symbol: str) -> bool:
        return spelled(symbol) in targets

    markets = [m for m in markets if ours(m.symbol)]
    for market in markets:
        if not isinstance(market.tick_size, Decimal) or not market.tick_size.is_finite() or market.tick_size <= 0:
            raise ValueError(f"{market.symbol}: tick_size must be a positive number, got {market.tick_size!r}")
    ticks = {canonical(m.symbol): m.tick_size for m in markets}
    held = [p for p in positions if ours(p.symbol)]
    user = [f"Time now: {utc(now)}",
            f"Account equity: {'unknown' if equity_usd is None else fixed(equity_usd)} USD",
            "",
            "Open positions of this strategy's assets:"]
    user += [_position(p, ticks.get(canonical(p.symbol))) for p in held] or ["- none"]
    for market in markets:
        user += ["", *_market(market, candles)]
    user += ["", "Decide now: one JSON object."]
    return Prompt(system=_system(strategy), user="\n".join(user))
