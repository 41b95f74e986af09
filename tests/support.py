"""Small helpers shared by tests: accounts and executions for tests that drive the executor without the whole app,
and TradingView's rendering of the alert messages Sparky prints."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.registry import ExchangeRegistry
from sparky.execution.executor import Job, TradeExecutor
from sparky.execution.outcome import Outcome

if TYPE_CHECKING:
    from tests.unit.exchanges.aster.test_aster import FakeAster


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


# (strategy.order.action, strategy.order.id, strategy.market_position, close) per order of the strategy
LONG_ONLY = [("buy", "Long", "long", "27000"), ("sell", "Close entry(s) order Long", "flat", "27270")]
SHORT_ONLY = [("sell", "Short", "short", "27000"), ("buy", "Close entry(s) order Short", "flat", "26730")]
LONG_SHORT = [("buy", "Long", "long", "27000"), ("sell", "Short", "short", "27270"),
              ("buy", "Close entry(s) order Short", "flat", "27000")]


def orders(message: str, strategy: list[tuple[str, str, str, str]]) -> list[dict[str, Any]]:
    """The alert TradingView sends for each order of `strategy` (rows as above)."""
    return [render(message, strategy_order_action=action, strategy_order_id=order_id,
                   strategy_market_position=position, close=close)
            for action, order_id, position, close in strategy]


async def send(sparky: Any, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """POST each body to the app's `/webhook` in turn (a `tests.conftest.Sparky`); each is answered 200."""
    answers = []
    for body in bodies:
        response = await sparky.client.post("/webhook", json=body)
        assert response.status_code == 200, response.text
        answers.append(response.json())
    return answers


@asynccontextmanager
async def on_aster(start: Any, tmp_path: Path) -> AsyncIterator[tuple[Any, FakeAster]]:
    """The app (the `start` fixture) trading on an Aster account of config.json, the venue scripted at the
    HTTP layer (FakeAster behind respx): yields the app (a `tests.conftest.Sparky`) and the venue."""
    import respx

    from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))
    venue = FakeAster()
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        router.route().mock(side_effect=venue.handle)
        async with start(config_path=config) as sparky:
            yield sparky, venue
