"""ML pre-trade validation (docs/ML_VALIDATION.md): before an entry of a strategy with
`ml_assistance_enabled` trades, the ML service is asked how confident it is in the signal; below
the strategy's threshold the entry is blocked, answered 200 `blocked` and never sent.

It runs inside the execution, after the request is recorded and while it holds its key (user,
exchange, symbol), so a blocked entry is recorded exactly once and signals for the same key keep
their arrival order however long the service takes. Exits are never asked about, and neither is a
request resumed after a restart (it may already have orders on the venue). The service failing in
any way — unreachable, slower than ARTHUR_ML_TIMEOUT_SEC, a non-2xx answer, an answer without a
numeric confidence — lets the entry trade (fail open, logged `ml.unavailable`). Every entry asked
about gets a `strategy_validation_log` row; its `trade_executed` is filled once the outcome is known.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import httpx
import structlog

from sparky.exchanges.accounts import ExchangeAccounts
from sparky.execution.executor import Job
from sparky.execution.outcome import Outcome, jsonable
from sparky.notifications import Notifier
from sparky.store.base import RequestStatus, utcnow
from sparky.store.tenants import StrategyRecord, TenantStore
from sparky.store.validation_log import ALLOWED, BLOCKED, StrategyValidationRecord, ValidationLog

log = structlog.get_logger("sparky.ml")

PATH = "/validate-strategy-signal"
#: a strategy whose ml_config names no usable confidence_threshold: the original's 70 %
DEFAULT_THRESHOLD = Decimal("0.7")
HUNDRED = Decimal(100)


def as_fraction(value: Decimal) -> Decimal:
    """A confidence or threshold as 0..1: values above 1 are percentages (70 → 0.7; 1 is 100 %)."""
    return value / HUNDRED if value > 1 else value


def _number(value: Any, *, text: bool = True) -> Decimal | None:
    """A confidence or threshold between 0 and 100, or None. Booleans and NaN are not numbers; text
    is read only with `text` (a threshold typed into the dashboard, never the service's answer)."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not text):
        return None
    try:
        number = Decimal(str(value).strip()) if isinstance(value, int | float | str | Decimal) else None
    except InvalidOperation:
        return None
    if number is None or not number.is_finite() or not 0 <= number <= HUNDRED:
        return None
    return number


def threshold_of(strategy: StrategyRecord) -> Decimal:
    """`ml_config.confidence_threshold` as the strategy wrote it (0..1 or 0..100), else the default."""
    config = strategy.ml_config if isinstance(strategy.ml_config, dict) else {}
    threshold = _number(config.get("confidence_threshold"))
    return DEFAULT_THRESHOLD if threshold is None else threshold


@dataclass
class Verdict:
    allowed: bool
    threshold: Decimal
    #: as the service wrote it; None when it gave none (then `unavailable` says why)
    confidence: Decimal | None = None
    reasons: list[str] = field(default_factory=list)
    market_context: dict[str, Any] = field(default_factory=dict)
    feature_scores: dict[str, Any] = field(default_factory=dict)
    unavailable: str | None = None


class MlScreen:
    def __init__(self, *, url: str, timeout: float, client: httpx.AsyncClient, tenants: TenantStore,
                 validations: ValidationLog, accounts: ExchangeAccounts, notifier: Notifier) -> None:
        self._url = url.rstrip("/") + PATH
        self._timeout = timeout
        self._client = client
        self._tenants = tenants
        self._validations = validations
        self._accounts = accounts
        self._notifier = notifier
        self._pending: dict[str, str] = {}  # request id → its validation row, until the outcome is known

    async def check(self, job: Job) -> Outcome | None:
        """The answer of a blocked entry, or None when it may trade (allowed, not asked, or fail open)."""
        signal = job.signal
        if not signal.action.is_entry or job.resume or signal.strategy_id is None:
            return None
        try:
            strategy = await self._tenants.find_strategy(job.user_id, strategy_id=signal.strategy_id)
        except Exception as err:
            log.warning("ml.unavailable", reason=f"strategy unreadable: {type(err).__name__}")
            return None
        if strategy is None or not strategy.ml_assistance_enabled:
            return None
        price = signal.price if signal.price is not None else await self._quote(job)
        verdict = await self._ask(strategy, job, price)
        validation_id = await self._record(strategy, job, price, verdict)
        if verdict.allowed:
            if validation_id is not None:
                self._pending[job.request_id] = validation_id
            return None
        return self._blocked(strategy, job, verdict)

    async def settle(self, job: Job, outcome: Outcome) -> None:
        """Fill `trade_executed` of the request's validation row (if it has one)."""
        validation_id = self._pending.pop(job.request_id, None)
        if validation_id is None:
            return
        try:
            await self._validations.set_validation_trade_executed(validation_id,
                                                                  outcome.status is RequestStatus.SUCCESS)
        except Exception as err:
            log.warning("ml.log_failed", error=f"{type(err).__name__}: {err}")

    async def _quote(self, job: Job) -> Decimal | None:
        """The venue's last price, when the alert gave none (None if the venue cannot say in time)."""
        try:
            exchange = await self._accounts.get(job.user_id, job.signal.exchange)
            async with asyncio.timeout(self._timeout):
                return await exchange.last_price(job.signal.symbol)
        except Exception as err:
            log.info("ml.no_price", error_type=type(err).__name__)
            return None

    async def _ask(self, strategy: StrategyRecord, job: Job, price: Decimal | None) -> Verdict:
        threshold = threshold_of(strategy)
        body = {"strategy_id": strategy.id, "user_id": job.user_id, "symbol": job.signal.symbol,
                "action": job.signal.action.value, "price": jsonable(price), "exchange": job.signal.exchange,
                "timestamp": utcnow().isoformat()}
        try:
            async with asyncio.timeout(self._timeout):  # the whole exchange, connect to last byte
                response = await self._client.post(self._url, json=body)
            if not response.is_success:
                return self._unavailable(threshold, f"HTTP {response.status_code}")
            answer = json.loads(response.content, parse_float=Decimal)
        except TimeoutError:
            return self._unavailable(threshold, f"no answer within {self._timeout:g}s")
        except (httpx.HTTPError, ValueError) as err:
            return self._unavailable(threshold, f"{type(err).__name__}")
        confidence = _number(answer.get("confidence"), text=False) if isinstance(answer, dict) else None
        if confidence is None:
            return self._unavailable(threshold, "answer without a numeric confidence")
        reasons = answer.get("reasons")
        verdict = Verdict(
            allowed=as_fraction(confidence) >= as_fraction(threshold), threshold=threshold, confidence=confidence,
            reasons=[str(r) for r in reasons] if isinstance(reasons, list) else [],
            # kept as JSON numbers (read as Decimals only so that the confidence is exact)
            market_context=jsonable(answer["market_context"]) if isinstance(answer.get("market_context"), dict) else {},
            feature_scores=jsonable(answer["feature_scores"]) if isinstance(answer.get("feature_scores"), dict) else {},
        )
        log.info("ml.allowed" if verdict.allowed else "ml.blocked", confidence=str(confidence),
                 threshold=str(threshold), strategy_id=strategy.id)
        return verdict

    @staticmethod
    def _unavailable(threshold: Decimal, reason: str) -> Verdict:
        log.warning("ml.unavailable", reason=reason)
        return Verdict(allowed=True, threshold=threshold, unavailable=reason,
                       reasons=[f"ML service unavailable ({reason}): trade allowed"])

    async def _record(self, strategy: StrategyRecord, job: Job, price: Decimal | None, verdict: Verdict) -> str | None:
        """The validation row (None when it could not be written: that never stops the trade)."""
        market = {"current_price": jsonable(price), "exchange": job.signal.exchange,
                  "price_source": "alert" if job.signal.price is not None else "venue", **verdict.market_context}
        row = StrategyValidationRecord(
            user_id=job.user_id, strategy_id=strategy.id, signal_timestamp=utcnow(), symbol=job.signal.symbol,
            action=job.signal.action.value, validation_result=ALLOWED if verdict.allowed else BLOCKED,
            price_at_signal=price, ml_confidence=verdict.confidence, confidence_threshold=verdict.threshold,
            market_context=market, feature_scores=verdict.feature_scores, decision_reasons=verdict.reasons,
            trade_executed=None if verdict.allowed else False,
        )
        try:
            return await self._validations.record_strategy_validation(row)
        except Exception as err:
            log.warning("ml.log_failed", error=f"{type(err).__name__}: {err}")
            return None

    def _blocked(self, strategy: StrategyRecord, job: Job, verdict: Verdict) -> Outcome:
        symbol, action = job.signal.symbol, job.signal.action.value
        message = (f"Entry blocked by ML validation: confidence {verdict.confidence} is below the threshold "
                   f"{verdict.threshold} of strategy '{strategy.name}'; nothing was sent")
        self._notifier.notify(job.user_id, "trade_blocked", f"Trade blocked on {symbol}", message,
                              strategy_name=strategy.name, strategy_id=strategy.id, symbol=symbol, action=action,
                              confidence=jsonable(verdict.confidence), threshold=jsonable(verdict.threshold),
                              reasons=verdict.reasons)
        body = {"success": False, "action": "blocked", "blocked_by_ml": True, "message": message,
                "confidence": jsonable(verdict.confidence), "threshold": jsonable(verdict.threshold),
                "reasons": verdict.reasons}
        return Outcome(RequestStatus.REJECTED, body, 200, message)
