"""The `strategy_validation_log` port: one row per entry the ML pre-trade validation asked about
(docs/ML_VALIDATION.md). Same table and columns on both stores (migrations/0002_tables.sql,
sqlite/schema.sql); the dashboard reads it to show why an entry was or was not traded."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

ALLOWED = "allowed"
BLOCKED = "blocked"


@dataclass
class StrategyValidationRecord:
    """A `strategy_validation_log` row. Confidence and threshold are kept as the service and the
    strategy wrote them (0..1 or 0..100); `trade_executed` is None until the entry's outcome is known."""

    user_id: str
    strategy_id: str | None
    signal_timestamp: datetime
    symbol: str
    action: str
    validation_result: str  # ALLOWED | BLOCKED
    price_at_signal: Decimal | None = None
    ml_confidence: Decimal | None = None
    confidence_threshold: Decimal | None = None
    market_context: dict[str, Any] = field(default_factory=dict)
    feature_scores: dict[str, Any] = field(default_factory=dict)
    decision_reasons: list[str] = field(default_factory=list)
    trade_executed: bool | None = None
    id: str | None = None
    created_at: datetime | None = None


class ValidationLog(ABC):
    @abstractmethod
    async def record_strategy_validation(self, record: StrategyValidationRecord) -> str:
        """Insert the row; returns its id."""

    @abstractmethod
    async def set_validation_trade_executed(self, validation_id: str, executed: bool) -> None:
        """Fill `trade_executed` once the entry's outcome is known."""

    @abstractmethod
    async def list_strategy_validations(self, user_id: str, *, limit: int = 50) -> list[StrategyValidationRecord]:
        """The user's rows, most recent first."""
