"""The AI half of the store port: AI strategies, the decisions the AI worker makes for them, the
trade log it keeps, and its heartbeat.

Records mirror the PostgreSQL tables the SignalStudio dashboard shares (migrations/0002:
`ai_strategies`, `ai_trade_decisions`, `ai_trade_log`; migrations/0023: the columns Sparky added
to `ai_strategies` and `ai_worker_heartbeats`); the SQLite store has the same tables and columns
(sqlite/schema.sql). A strategy is run by the worker while its status is `running`; `paused`,
`backtesting` and `terminated` strategies are left alone (docs/AI_WORKER.md).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

#: `ai_strategies.status` (its CHECK constraint); the worker runs only RUNNING strategies
RUNNING = "running"
PAUSED = "paused"
STRATEGY_STATUSES = (RUNNING, PAUSED, "backtesting", "terminated")
#: `ai_strategies.risk_profile` (its CHECK constraint)
RISK_PROFILES = ("conservative", "balanced", "aggressive")
#: the exchange of a strategy that trades only on the user's paper account
PAPER = "paper"


@dataclass
class AiStrategyRecord:
    """An `ai_strategies` row. Defaults are the column defaults of migrations/0002."""

    user_id: str
    name: str = "My AI Strategy"
    status: str = PAUSED
    risk_profile: str = "balanced"
    target_assets: list[str] = field(default_factory=lambda: ["BTCUSDT", "ETHUSDT", "SOLUSDT"])
    max_drawdown_percent: Decimal = Decimal(20)
    target_sharpe: Decimal = Decimal("1.6")
    leverage_max: int = 10
    performance_fee_percent: Decimal = Decimal(20)
    is_prop_allocation: bool = False
    #: orders go to the user's paper account, whatever `exchange` the strategy watches
    is_paper_trading: bool = False
    copy_override_percent: Decimal = Decimal(15)
    is_public_leader: bool = False
    verified_badge: bool = False
    copiers_count: int = 0
    #: added by Sparky (migrations/0023): the venue the strategy trades (`paper` or an exchange the
    #: user has credentials for) and the size of one position in USD (None: not limited)
    exchange: str | None = None
    min_position_size_usd: Decimal | None = None
    max_position_size_usd: Decimal | None = None
    id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


@dataclass
class AiDecisionRecord:
    """An `ai_trade_decisions` row: what the models saw and decided for one strategy in one cycle.
    `outcome_label` is computed by the database from `pnl_1h` (positive, negative, neutral)."""

    user_id: str
    strategy_id: str
    market_snapshot: dict[str, Any]
    technical_indicators: dict[str, Any]
    parsed_decision: dict[str, Any]
    portfolio_state: dict[str, Any] = field(default_factory=dict)
    model_versions: list[str] = field(default_factory=lambda: ["llama-3.1-70b"])
    orderbook_snapshot: dict[str, Any] | None = None
    onchain_snapshot: dict[str, Any] | None = None
    raw_responses: Any = None
    #: 0..1
    confidence_final: Decimal | None = None
    signal_sent: bool = False
    pnl_1h: Decimal | None = None
    pnl_24h: Decimal | None = None
    max_favorable_excursion: Decimal | None = None
    max_adverse_excursion: Decimal | None = None
    decided_at: datetime | None = None
    #: added by Sparky (migrations/0024): the webhook's answer to the signal sent (None: none sent)
    webhook_status: int | None = None
    webhook_response: dict[str, Any] | None = None
    outcome_label: str | None = None  # read only
    id: str | None = None
    created_at: datetime | None = None


@dataclass
class AiTradeLogRecord:
    """An `ai_trade_log` row: a signal the worker acted on, with its reasoning and later its P&L."""

    user_id: str
    signal_action: str
    symbol: str
    decision_json: dict[str, Any]
    ai_strategy_id: str | None = None
    #: 0..1
    confidence_score: Decimal | None = None
    size_usd: Decimal | None = None
    actual_pnl: Decimal | None = None
    reasoning: str | None = None
    id: str | None = None
    created_at: datetime | None = None


@dataclass
class AiWorkerHeartbeat:
    """An `ai_worker_heartbeats` row: one per worker (`worker_id`), replaced after every cycle."""

    worker_id: str
    #: when the last cycle ended (UTC)
    last_cycle_at: datetime
    cycle_duration_ms: int
    #: running strategies the cycle looked at, decisions it recorded, strategies that failed
    strategies: int
    decisions: int
    errors: int


def check_strategy(strategy: AiStrategyRecord) -> None:
    """ValueError naming the column for a value the PostgreSQL constraints (or Sparky) refuse."""
    if not strategy.user_id or not strategy.name:
        raise ValueError("an AI strategy needs a user_id and a name")
    check_status(strategy.status)
    if strategy.risk_profile not in RISK_PROFILES:
        raise ValueError(f"risk_profile must be one of {', '.join(RISK_PROFILES)}, not {strategy.risk_profile!r}")
    if not isinstance(strategy.target_assets, list) or not all(isinstance(s, str) and s for s in strategy.target_assets):
        raise ValueError("target_assets must be a list of symbols")
    low, high = strategy.min_position_size_usd, strategy.max_position_size_usd
    if low is not None and high is not None and low > high:
        raise ValueError("min_position_size_usd is above max_position_size_usd")
    if strategy.exchange == PAPER and not strategy.is_paper_trading:
        raise ValueError("a strategy on the paper exchange trades on paper: is_paper_trading must be true")


def check_status(status: str) -> None:
    if status not in STRATEGY_STATUSES:
        raise ValueError(f"status must be one of {', '.join(STRATEGY_STATUSES)}, not {status!r}")


def check_confidence(name: str, value: Decimal | None) -> None:
    if value is not None and not Decimal(0) <= value <= Decimal(1):
        raise ValueError(f"{name} must be between 0 and 1, not {value}")


def check_heartbeat(heartbeat: AiWorkerHeartbeat) -> None:
    if not heartbeat.worker_id:
        raise ValueError("a heartbeat needs a worker_id")
    counts = ("cycle_duration_ms", "strategies", "decisions", "errors")
    for name in counts:
        if getattr(heartbeat, name) < 0:
            raise ValueError(f"{name} must be >= 0")


class AiStore(ABC):
    """What the AI worker and `sparky ai` read and write. Times are aware UTC."""

    @abstractmethod
    async def add_ai_strategy(self, strategy: AiStrategyRecord) -> AiStrategyRecord:
        """Insert a new strategy (a new id unless one is given); returns it as stored. ValueError
        for a value the table refuses (nothing stored)."""

    @abstractmethod
    async def get_ai_strategy(self, strategy_id: str) -> AiStrategyRecord | None: ...

    @abstractmethod
    async def list_ai_strategies(
        self, *, user_id: str | None = None, statuses: Collection[str] | None = None
    ) -> list[AiStrategyRecord]:
        """Oldest first (created_at, id)."""

    async def running_ai_strategies(self) -> list[AiStrategyRecord]:
        """Every user's strategies the worker runs (status `running`), oldest first."""
        return await self.list_ai_strategies(statuses=(RUNNING,))

    @abstractmethod
    async def set_ai_strategy_status(self, strategy_id: str, status: str) -> AiStrategyRecord | None:
        """Set the status (stamping updated_at); the strategy as stored, None when there is none."""

    @abstractmethod
    async def record_ai_decision(self, decision: AiDecisionRecord) -> AiDecisionRecord:
        """Insert a decision (decided_at now when not given); returns it as stored. ValueError when
        its strategy does not exist or a value is refused."""

    @abstractmethod
    async def record_ai_trade_log(self, entry: AiTradeLogRecord) -> AiTradeLogRecord:
        """Insert a trade-log row; returns it as stored. ValueError when its strategy (if named)
        does not exist or a value is refused."""

    @abstractmethod
    async def record_ai_worker_heartbeat(self, heartbeat: AiWorkerHeartbeat) -> None:
        """Insert or replace the worker's heartbeat row."""

    @abstractmethod
    async def ai_worker_heartbeats(self) -> list[AiWorkerHeartbeat]:
        """Every worker's last heartbeat, most recent first."""
