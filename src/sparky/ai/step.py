"""One strategy's step in one cycle: read, ask, decide, deliver, record.

1. Candles of each target asset from the venue the strategy watches (`MarketData`, shared by the
   cycle), the asset's tick size, the account's equity and open positions (portfolio.py).
2. The prompt (prompt.py), the model (llm.py), the answer parsed (decision.py): anything
   malformed or outside the strategy's limits is HOLD with the reason.
3. LONG, SHORT or CLOSE: the signal posted to the webhook (delivery.py), whose answer is awaited.
4. The records, AFTER the webhook answered: one `ai_trade_decisions` row per decision (its id is
   the signal's alert_id) with what the model saw, its raw answer, the parsed decision and the
   webhook's answer, and one `ai_trade_log` row per signal the webhook accepted (2xx). HOLD: a
   decision row only.
A venue, model or webhook failure comes back as `StepOutcome.error`; nothing is sent then.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog

from sparky.ai.contracts import MarketData, StepOutcome
from sparky.ai.decision import Action, Decision, canonical, parse_decision
from sparky.ai.delivery import NotDeliverable, SignalDelivery, WebhookAnswer
from sparky.ai.llm import DecisionModel, ModelReply, ModelUnavailable
from sparky.ai.market_data import MarketVenues, market_venue
from sparky.ai.portfolio import Portfolio
from sparky.ai.prompt import AssetMarket, build_prompt
from sparky.errors import SparkyError
from sparky.exchanges.errors import ExchangeError
from sparky.store.ai import PAPER, AiDecisionRecord, AiStrategyRecord, AiTradeLogRecord
from sparky.store.base import PositionRecord, StoreUnavailable, utcnow

log = structlog.get_logger("sparky.ai.step")

SOURCE = "ai_engine_v1"
#: the reasoning the signal carries (the decision row keeps all of it)
MAX_SIGNAL_REASONING = 1000
_SIDES = {Action.LONG: "buy", Action.SHORT: "sell", Action.CLOSE: "close"}


class StepFailed(Exception):
    pass


def trading_exchange(strategy: AiStrategyRecord) -> str:
    """Where the strategy's orders go: the user's paper account for a paper strategy."""
    return PAPER if strategy.is_paper_trading else (strategy.exchange or "").lower()


def _text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def indicators_of(market: AssetMarket) -> dict[str, str | None]:
    values = asdict(market.indicators)
    values["change_24h_percent"] = values.pop("change_24h")
    return {name: _text(value) for name, value in values.items()}


def snapshot_of(market: AssetMarket) -> dict[str, Any]:
    last = market.candles[-1] if market.candles else None
    return {"interval": market.interval, "tick_size": _text(market.tick_size), "candles": len(market.candles),
            "last_open_time": last.open_time.isoformat() if last else None,
            "last_close": _text(last.close) if last else None}


def decision_json(decision: Decision) -> dict[str, Any]:
    return {key: (_text(value) if isinstance(value, Decimal) else str(value) if isinstance(value, Action) else value)
            for key, value in asdict(decision).items()}


def _position_json(position: PositionRecord) -> dict[str, Any]:
    return {"symbol": position.symbol, "side": position.side, "quantity": _text(position.quantity),
            "entry_price": _text(position.entry_price), "size_usd": _text(position.position_size_usd),
            "unrealized_pnl_usd": _text(position.unrealized_pnl_usd), "stop_loss_price": _text(position.stop_loss_price)}


class StrategyStep:
    """`Step`: one strategy's decision for one cycle (see the module docstring)."""

    def __init__(self, *, model: DecisionModel, venues: MarketVenues, portfolio: Portfolio,
                 delivery: SignalDelivery, store: Any, interval: str, paper_market_data_venue: str,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._model = model
        self._venues = venues
        self._portfolio = portfolio
        self._delivery = delivery
        self._store = store
        self._interval = interval
        self._paper_venue = paper_market_data_venue
        self._clock = clock

    async def __call__(self, strategy: AiStrategyRecord, market: MarketData) -> StepOutcome:
        strategy_id = strategy.id or ""
        try:
            return await self._step(strategy, market)
        except StepFailed as err:
            log.warning("ai.step_failed", strategy_id=strategy_id, reason=str(err))
            return StepOutcome(strategy_id, error=str(err))
        except Exception as err:  # one strategy's unforeseen failure must not stop the others' cycle
            log.exception("ai.step_crashed", strategy_id=strategy_id)
            return StepOutcome(strategy_id, error=f"unexpected {type(err).__name__}")

    async def _markets(self, strategy: AiStrategyRecord, market: MarketData) -> list[AssetMarket]:
        venue = market_venue(strategy, self._paper_venue)
        out = []
        for asset in strategy.target_assets:
            try:
                candles = await market.candles(venue, asset, self._interval, user_id=strategy.user_id)
                adapter, venue_symbol = await self._venues.venue_symbol(venue, asset, strategy.user_id)
                tick = (await adapter.symbol_rules(venue_symbol)).tick_size
            except (ExchangeError, SparkyError, StoreUnavailable, ValueError) as err:
                raise StepFailed(f"{venue} market data for {asset}: {getattr(err, 'message', None) or err}") from None
            out.append(AssetMarket(asset, tick, self._interval, candles, market.indicators(candles)))
        return out

    async def _account(self, strategy: AiStrategyRecord) -> tuple[Decimal | None, list[PositionRecord]]:
        exchange = trading_exchange(strategy)
        try:
            positions = await self._portfolio.positions(strategy.user_id, exchange)
        except StoreUnavailable as err:
            raise StepFailed(f"the store could not be read: {err}") from None
        try:
            equity = await self._portfolio.equity(strategy.user_id, exchange, positions)
        except (ExchangeError, SparkyError, StoreUnavailable, ValueError, OSError) as err:
            log.warning("ai.equity_unknown", strategy_id=strategy.id, reason=type(err).__name__)
            equity = None  # the parser opens nothing while equity is unknown
        return equity, positions

    async def _step(self, strategy: AiStrategyRecord, market: MarketData) -> StepOutcome:
        if not strategy.exchange:
            raise StepFailed("the strategy names no exchange")
        markets = await self._markets(strategy, market)
        equity, positions = await self._account(strategy)
        try:
            prompt = build_prompt(strategy, equity_usd=equity, positions=positions, markets=markets, now=self._clock())
        except ValueError as err:  # a risk profile without rules, a venue's tick that is no number
            raise StepFailed(f"prompt: {err}") from None
        try:
            reply = await self._model.decide(prompt.messages())
        except ModelUnavailable as err:
            raise StepFailed(f"model: {err.reason}") from None
        decision = parse_decision(reply.text, strategy, equity)
        decision_id = str(uuid.uuid4())
        answer: WebhookAnswer | None = None
        failure: str | None = None
        if decision.action is not Action.HOLD:
            signal = self._signal(strategy, decision, decision_id, markets)
            try:
                answer = await self._delivery.send(*self._delivery.request(signal))
            except NotDeliverable as err:
                failure = f"webhook: {err}"
        record = self._decision_record(strategy, decision_id, decision, reply, markets, equity, positions, answer)
        try:
            await self._store.record_ai_decision(record)
            if answer is not None and answer.accepted:  # a refused signal was not acted on
                await self._store.record_ai_trade_log(AiTradeLogRecord(
                    user_id=strategy.user_id, signal_action=decision.action.value, symbol=decision.symbol or "",
                    decision_json={**decision_json(decision), "decision_id": decision_id,
                                   "webhook_status": answer.status},
                    ai_strategy_id=strategy.id, confidence_score=decision.confidence, size_usd=decision.size_usd,
                    reasoning=decision.reasoning))
        except (StoreUnavailable, ValueError) as err:
            failure = failure or f"the decision could not be recorded: {err}"
        log.info("ai.decision", strategy_id=strategy.id, decision_id=decision_id, action=decision.action.value,
                 symbol=decision.symbol, refusal=decision.refusal,
                 webhook_status=answer.status if answer else None)
        return StepOutcome(strategy.id or "", decision_id=decision_id, action=decision.action.value,
                           signal_sent=answer is not None, error=failure)

    def _signal(self, strategy: AiStrategyRecord, decision: Decision, decision_id: str,
                markets: list[AssetMarket]) -> dict[str, Any]:
        closes = {canonical(m.symbol): m.candles[-1].close for m in markets if m.candles}
        last_close = closes.get(canonical(decision.symbol or ""))
        signal: dict[str, Any] = {
            "user_id": strategy.user_id, "exchange": trading_exchange(strategy), "symbol": decision.symbol,
            "action": _SIDES[decision.action], "alert_id": decision_id, "source": SOURCE,
            "ai_strategy_id": strategy.id,
            "ai_confidence": float(decision.confidence) if decision.confidence is not None else None,
            "ai_reasoning": decision.reasoning[:MAX_SIGNAL_REASONING],
        }
        if last_close is not None:
            signal["price"] = _text(last_close)
        if decision.action.opens:
            signal["position_size_usd"] = _text(decision.size_usd)
            signal["stop_loss_percent"] = _text(decision.stop_loss_percent)
            if decision.take_profit_percent is not None:
                signal["take_profit_percent"] = _text(decision.take_profit_percent)
        return signal

    def _decision_record(self, strategy: AiStrategyRecord, decision_id: str, decision: Decision, reply: ModelReply,
                         markets: list[AssetMarket], equity: Decimal | None, positions: list[PositionRecord],
                         answer: WebhookAnswer | None) -> AiDecisionRecord:
        return AiDecisionRecord(
            id=decision_id, user_id=strategy.user_id, strategy_id=strategy.id or "",
            market_snapshot={m.symbol: snapshot_of(m) for m in markets},
            technical_indicators={m.symbol: indicators_of(m) for m in markets},
            portfolio_state={"exchange": trading_exchange(strategy), "equity_usd": _text(equity),
                             "positions": [_position_json(p) for p in positions]},
            model_versions=[reply.model],
            raw_responses={"text": reply.text, "model": reply.model, "prompt_tokens": reply.prompt_tokens,
                           "completion_tokens": reply.completion_tokens, "latency_ms": reply.latency_ms},
            parsed_decision=decision_json(decision), confidence_final=decision.confidence,
            signal_sent=answer is not None,
            webhook_status=answer.status if answer else None, webhook_response=answer.body if answer else None)
