"""Small helpers shared by tests that drive the executor without the whole app."""

from __future__ import annotations

from pathlib import Path

from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.registry import ExchangeRegistry


def local_accounts(registry: ExchangeRegistry, data_dir: Path) -> ExchangeAccounts:
    """The local user's accounts: the registry's adapters (as config.json builds them)."""
    return ExchangeAccounts(registry, None, HttpClientPool(), paper_dir=data_dir / "paper",
                            paper_factory=lambda path: PaperExchange(state_path=path))
