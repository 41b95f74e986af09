"""Prices and P&L of every open position, refreshed in the background (`PRICE_REFRESH_SEC`).

One cycle (`PriceRefresh.run_once`):
1. every open position of every user, in one store read;
2. each position's adapter from the same per-user accounts the webhook path uses
   (exchanges/accounts.py): a user's prices are read with that user's own account, or with no
   account at all;
3. one price request per source: adapters sharing a `price_scope` (public prices: Aster, ccxt
   tickers) are asked once for the union of their users' symbols, through an unsigned request;
   any other adapter (OANDA, Tradier, paper) once for its own account's symbols. Requests run
   concurrently (at most `concurrency` at once), within each venue's budget and pace (budget.py);
4. each position's mark (marks.py) on its owner's own adapter, and one write for all of them
   (`Store.mark_positions`), which touches only rows still as they were read: a position closed,
   resized or replaced while the cycle ran is never written back.
A venue that fails is logged and skipped; the other venues' rows are still written. A store
that fails fails the cycle (logged by the runner), and the next cycle starts afresh.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.base import Exchange, Quote
from sparky.monitor.budget import Pace, VenueBudget, budget_for
from sparky.monitor.marks import mark
from sparky.store.base import PositionRecord, PriceMark, Store, utcnow

log = structlog.get_logger("sparky.monitor.prices")

#: price requests in flight at once, all venues together
CONCURRENCY = 16
_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass
class _Source:
    """One price request: a venue's public prices, or one account's own."""

    exchange: str
    adapter: Exchange
    #: (position, the owner's own adapter)
    holdings: list[tuple[PositionRecord, Exchange]] = field(default_factory=list)

    @property
    def symbols(self) -> list[str]:
        return sorted({p.symbol for p, _ in self.holdings})

    @property
    def priced_at(self) -> datetime:
        """When its least recently priced position was last priced (never: first in line)."""
        return min(p.last_price_update or _NEVER for p, _ in self.holdings)


@dataclass(frozen=True)
class CycleReport:
    positions: int
    requests: int
    written: int
    failed_venues: tuple[str, ...] = ()
    deferred: int = 0


class PriceRefresh:
    def __init__(self, store: Store, accounts: ExchangeAccounts, *, concurrency: int = CONCURRENCY,
                 budgets: Callable[[str], VenueBudget] = budget_for, clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._accounts = accounts
        self._slots = asyncio.Semaphore(concurrency)
        self._budgets = budgets
        self._paces: dict[str, Pace] = {}
        self._clock = clock

    async def run_once(self) -> CycleReport:
        positions = await self._store.list_positions()
        if not positions:
            return CycleReport(0, 0, 0)
        sources = await self._sources(positions)
        chosen, deferred = self._within_budgets(sources)
        results = await asyncio.gather(*(self._price(source) for source in chosen))
        failed = sorted({source.exchange for source, marks in zip(chosen, results, strict=True) if marks is None})
        marks = [m for found in results if found for m in found]
        written = await self._store.mark_positions(marks) if marks else 0
        report = CycleReport(len(positions), len(chosen), written, tuple(failed), deferred)
        log.info("prices.refreshed", positions=report.positions, requests=report.requests, written=written,
                 failed_venues=list(failed), deferred=deferred)
        return report

    async def _sources(self, positions: list[PositionRecord]) -> list[_Source]:
        """The price requests these positions need, each position under its owner's adapter."""
        owners = sorted({(p.user_id, p.exchange) for p in positions})
        adapters = await asyncio.gather(*(self._adapter(user, exchange) for user, exchange in owners))
        adapter_of = dict(zip(owners, adapters, strict=True))
        sources: dict[Hashable, _Source] = {}
        for position in positions:
            adapter = adapter_of[(position.user_id, position.exchange)]
            if adapter is None:
                continue
            scope = adapter.price_scope
            key: Hashable = ("public", position.exchange, scope) if scope is not None else ("account", id(adapter))
            source = sources.setdefault(key, _Source(position.exchange, adapter))
            source.holdings.append((position, adapter))
        return list(sources.values())

    async def _adapter(self, user_id: str, exchange: str) -> Exchange | None:
        try:
            return await self._accounts.get(user_id, exchange)
        except Exception as err:  # no keys stored, keys refused, store unreachable: this account only
            log.warning("prices.account_unavailable", user_id=user_id, exchange=exchange,
                        error_type=type(err).__name__, error=str(err)[:200])
            return None

    def _within_budgets(self, sources: list[_Source]) -> tuple[list[_Source], int]:
        """The sources this cycle's budgets cover, those priced longest ago first; and how many wait."""
        chosen: list[_Source] = []
        spent: defaultdict[str, int] = defaultdict(int)
        deferred = 0
        for source in sorted(sources, key=lambda s: s.priced_at):
            limit = self._budgets(source.exchange).per_cycle
            if limit is not None and spent[source.exchange] >= limit:
                deferred += 1
                continue
            spent[source.exchange] += 1
            chosen.append(source)
        if deferred:
            log.warning("prices.budget_spent", deferred=deferred)
        return chosen, deferred

    async def _price(self, source: _Source) -> list[PriceMark] | None:
        """The marks of one source's positions; None when its venue failed (logged)."""
        pace = self._paces.get(source.exchange)
        if pace is None:
            pace = self._paces[source.exchange] = Pace(self._budgets(source.exchange).per_second)
        try:
            await pace.turn()  # before taking a slot: a venue's pace never holds up the others
            async with self._slots:  # the marks too: their rate reads are requests as well
                quotes = await source.adapter.prices(source.symbols)
                return await self._marks(source, quotes)
        except Exception as err:  # one venue's trouble never stops the others
            log.warning("prices.venue_failed", exchange=source.exchange, symbols=len(source.symbols),
                        error_type=type(err).__name__, error=str(err)[:200])
            return None

    async def _marks(self, source: _Source, quotes: dict[str, Quote]) -> list[PriceMark]:
        """Each priced position's mark, one after the other: a dollar rate the owner's venue must
        read (an OANDA cross, or its instrument the first time) stays within the request slot."""
        now = self._clock()
        marks = []
        for position, adapter in source.holdings:
            quote = quotes.get(position.symbol)
            if quote is not None and (found := await mark(position, quote, adapter, now)) is not None:
                marks.append(found)
        return marks
