"""Small helpers shared by tests: accounts and executions for tests that drive the executor without the whole app,
and TradingView's rendering of the alert messages Sparky prints."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.registry import ExchangeRegistry
from sparky.execution.executor import Job, TradeExecutor
from sparky.execution.outcome import Outcome


def local_accounts(registry: ExchangeRegistry, data_dir: Path) -> ExchangeAccounts:
    """The local user's accounts: the registry's adapters (as config.json builds them)."""
    return ExchangeAccounts(registry, None, HttpClientPool(), paper_dir=data_dir / "paper",
                            paper_factory=lambda path: PaperExchange(state_path=path))


async def execute(executor: TradeExecutor, job: Job) -> Outcome:
    """An execution as the dispatcher runs it, without a request row: the outcome, once the rows
    the executor held back for the request's final write (its position, its close's trade) are in
    the store."""
    outcome = await executor.execute(job)
    await executor.store.record_execution(job.writes.take())
    return outcome


def message_after(text: str, heading: str) -> str:
    """The alert message printed on the line after the one starting with `heading`."""
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith(heading))
    return lines[index + 1].strip()


def render(message: str, **values: str) -> dict[str, Any]:
    """`message` as TradingView sends it: each {{placeholder}} replaced by its value for this order
    (keyword names spell dots as underscores: strategy_market_position=...)."""
    filled = {"ticker": "BTCUSDT", "timenow": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **values}

    def fill(match: re.Match[str]) -> str:
        return filled[match.group(1).replace(".", "_")]

    return json.loads(re.sub(r"\{\{([\w.]+)\}\}", fill, message))
