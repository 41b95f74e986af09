"""What the AI worker's parts promise each other.

The worker (ai/worker.py) runs cycles: every AI_CYCLE_SEC it loads the running strategies, gives
each cycle a fresh `MarketData` (candles fetched, and their indicators computed, once per venue,
symbol and interval, shared by every strategy that needs them) and runs one `Step` per strategy, at most AI_CONCURRENCY at once.
A step (ai/step.py) asks the model for one strategy's decision, records it and posts the signal
to the webhook; it reports what happened as a `StepOutcome`, which the worker counts into its
heartbeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sparky.ai.indicators import Summary
from sparky.exchanges.candles import Candle
from sparky.store.ai import AiStrategyRecord


@dataclass(frozen=True)
class StepOutcome:
    """What one strategy's step did in one cycle."""

    strategy_id: str
    #: the `ai_trade_decisions` row written, None when none was (the step failed before it)
    decision_id: str | None = None
    #: LONG, SHORT, CLOSE or HOLD (HOLD also when the answer was refused)
    action: str = "HOLD"
    #: a signal was posted and the webhook answered it
    signal_sent: bool = False
    #: why the step failed (counted in the heartbeat's `errors`); None when it did its job
    error: str | None = None


class MarketData(Protocol):
    """One cycle's market data: each (venue, symbol, interval) is fetched at most once per cycle."""

    async def candles(self, venue: str, symbol: str, interval: str, *, user_id: str) -> list[Candle]:
        """Closed candles, oldest first (the still-forming one excluded). `user_id`: whose
        credentials to use when the venue's market data needs them (the first asker's)."""
        ...

    def indicators(self, candles: Sequence[Candle]) -> Summary:
        """The indicators of a series of candles this cycle fetched, computed once per series however
        many strategies trade it, and kept no longer than the cycle."""
        ...

    def requests(self) -> int:
        """Market-data requests sent to venues so far in this cycle."""
        ...


class Step(Protocol):
    async def __call__(self, strategy: AiStrategyRecord, market: MarketData) -> StepOutcome:
        """One strategy's decision for this cycle. Never raises for a venue, model or webhook
        failure: those come back as `StepOutcome.error`."""
        ...
