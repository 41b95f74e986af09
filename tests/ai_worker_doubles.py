"""Stand-ins for what the AI worker is given: a `Step` and a cycle's `MarketData` (the worker's
contract is the protocols of sparky/ai/contracts.py), and a real SQLite store with strategies."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from sparky.ai.contracts import StepOutcome
from sparky.ai.indicators import Summary, summary
from sparky.exchanges.candles import Candle
from sparky.store.ai import RUNNING, AiStrategyRecord
from sparky.store.sqlite.store import SqliteStore

USER = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"


class CycleMarket:
    """One cycle's market data; the worker only hands it to the steps."""

    def __init__(self) -> None:
        self.asked = 0

    async def candles(self, venue: str, symbol: str, interval: str, *, user_id: str) -> list[Candle]:
        self.asked += 1
        return []

    def indicators(self, candles: Sequence[Candle]) -> Summary:
        return summary(candles)

    def requests(self) -> int:
        return self.asked


class MarketFactory:
    """`new_market_data`: counts the cycles' market data objects."""

    def __init__(self) -> None:
        self.made: list[CycleMarket] = []

    def __call__(self) -> CycleMarket:
        self.made.append(CycleMarket())
        return self.made[-1]


class StandInStep:
    """Records every call; `behaviour(strategy)` (optional, awaited) decides the outcome."""

    def __init__(self, behaviour: Callable[[AiStrategyRecord], Awaitable[StepOutcome]] | None = None) -> None:
        self.calls: list[tuple[str, object]] = []
        self.done: list[str] = []
        self.active = 0
        self.most_active = 0
        self.started = asyncio.Event()
        self._behaviour = behaviour

    async def __call__(self, strategy: AiStrategyRecord, market: object) -> StepOutcome:
        assert strategy.id is not None
        self.calls.append((strategy.id, market))
        self.started.set()
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            if self._behaviour is not None:
                outcome = await self._behaviour(strategy)
            else:
                outcome = StepOutcome(strategy.id, decision_id=str(uuid.uuid4()))
        finally:
            self.active -= 1
        self.done.append(strategy.id)
        return outcome

    async def wait_for_calls(self, count: int, timeout: float = 5.0) -> None:
        """Bounded wait until `count` steps have started."""
        async def enough() -> None:
            while len(self.calls) < count:
                self.started.clear()
                await self.started.wait()

        await asyncio.wait_for(enough(), timeout)


async def open_store(path: Path) -> SqliteStore:
    store = SqliteStore(path, synchronous="NORMAL")
    await store.open()
    return store


async def add_running(store: SqliteStore, count: int, *, exchange: str | None = "aster") -> list[str]:
    """`count` running strategies; their ids, oldest first."""
    ids = []
    for i in range(count):
        added = await store.add_ai_strategy(AiStrategyRecord(user_id=USER, name=f"Strategy {i}", status=RUNNING,
                                                             exchange=exchange, target_assets=["BTCUSDT"]))
        assert added.id is not None
        ids.append(added.id)
    return ids
