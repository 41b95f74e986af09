"""What a strategy's account holds: its equity and its open positions, as the prompt shows them.

Positions are the store's (the webhook writes them; the server's price loop keeps their P&L), for
the user and the venue the strategy's orders go to. Equity:
- a real venue: its balance's total, through the user's own account (the webhook's adapter);
- the paper venue: the server owns the paper account's state files and this worker runs in
  another process, so they are READ here, never written: the snapshot and its journal are loaded
  into a book of our own (lines are whole states, so a journal being compacted meanwhile reads
  the same), and equity is that balance plus the unrealized P&L the store holds for the open
  positions. A user with no paper file yet has PAPER_STARTING_EQUITY.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.paper.book import PaperBook
from sparky.exchanges.paper.journal import PaperJournal
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.ai import PAPER
from sparky.store.base import PositionRecord, Store, utcnow


class Portfolio:
    def __init__(self, store: Store, accounts: ExchangeAccounts, *, paper_book: Callable[[str], PaperBook]) -> None:
        self._store = store
        self._accounts = accounts
        self._paper_book = paper_book

    async def positions(self, user_id: str, exchange: str) -> list[PositionRecord]:
        return await self._store.list_positions(user_id=user_id, exchange=exchange)

    async def equity(self, user_id: str, exchange: str, positions: list[PositionRecord]) -> Decimal:
        if exchange == PAPER:
            unrealized = sum((p.unrealized_pnl_usd or Decimal(0) for p in positions), Decimal(0))
            return self._paper_book(user_id).total() + unrealized
        adapter = await self._accounts.get(user_id, exchange)
        return (await adapter.balance()).total


def paper_book_reader(*, data_dir: Path, local_state_path: Path, starting_equity: Decimal, leverage: Decimal,
                      fee_rate: Decimal) -> Callable[[str], PaperBook]:
    """A reader of a user's paper account as the server keeps it (`ExchangeAccounts._paper`: the
    local user's is PAPER state in the data dir, every other user's `paper/<uuid>.json`)."""

    def read(user_id: str) -> PaperBook:
        path = local_state_path if user_id == LOCAL_USER_ID else data_dir / "paper" / f"{uuid.UUID(user_id)}.json"
        book = PaperBook(starting_equity=starting_equity, leverage=leverage, fee_rate=fee_rate, rules={}, clock=utcnow)
        PaperJournal(path).load(book)  # reads only: opens no file for writing
        return book

    return read
