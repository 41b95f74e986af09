"""The reconcile loop: between signals, every open position and resting entry is looked at.

A signal reconciles its own key before acting (execution/reconcile.py). Between signals nobody
would: a stop or target that filled would be recorded, and the survivor of a venue without OCO
cancelled, only at the next alert for that symbol; a stop cancelled on the venue would go
unnoticed; a limit entry's fill on a venue that attaches no bracket would wait for its exits.
This loop runs that same reconciliation for every (user, exchange, symbol) with a stored position
or a resting entry, then checks the position's stop (monitor/stops.py) and expires resting entries
older than `LIMIT_ORDER_TTL`.

Each key is held as a signal's execution holds it (`Dispatcher.exclusive`: its slot on this server,
its Redis lock across servers), so a webhook for the key waits for the look in progress and then
sees its result, and the other way round. Cadence: keys with an order in flight (a resting entry)
or a stop not confirmed are looked at every `RECONCILE_FAST_SEC`; the others, and each account's
positions on the venue (to adopt what was opened outside Sparky), every `RECONCILE_SLOW_SEC`.
One key's failure (a venue error, a bug) is logged and the others are looked at all the same; a
store that cannot be read skips the cycle.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog

from sparky.cache import LockNotAcquired
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.base import Exchange
from sparky.execution.dispatcher import Dispatcher
from sparky.execution.reconcile import Reconciler
from sparky.execution.resting import RestingEntries
from sparky.monitor.stops import StopKeeper
from sparky.notifications import Notifier, notify_closed_on_exchange
from sparky.store.base import PositionRecord, RestingEntryRecord, Store, utcnow

log = structlog.get_logger("sparky.monitor")

#: keys looked at concurrently (each one is a few venue requests)
CONCURRENCY = 16
#: the request id a resting entry is cancelled for when it outlives LIMIT_ORDER_TTL
EXPIRED = "limit-order-ttl"

Key = tuple[str, str, str]


@dataclass
class Cycle:
    """What one pass did (logged; the tests and the bench read it)."""

    checked: int = 0
    closed: int = 0
    adopted: int = 0
    replaced: int = 0
    expired: int = 0
    errors: list[str] = field(default_factory=list)


class ReconcileLoop:
    def __init__(self, *, store: Store, accounts: ExchangeAccounts, dispatcher: Dispatcher, reconciler: Reconciler,
                 resting: RestingEntries, stops: StopKeeper, notifier: Notifier, fast_sec: float, slow_sec: float,
                 limit_ttl_sec: float = 0, local_venues: Callable[[], Iterable[tuple[str, str]]] = tuple,
                 clock: Callable[[], float] = time.monotonic, now: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._accounts = accounts
        self._dispatcher = dispatcher
        self._reconciler = reconciler
        self._resting = resting
        self._stops = stops
        self._notifier = notifier
        self.fast_sec, self.slow_sec = fast_sec, slow_sec
        self._ttl = limit_ttl_sec
        self._local_venues = local_venues
        self._clock, self._now = clock, now
        self._looked: dict[Key, float] = {}
        self._scanned: dict[tuple[str, str], float] = {}

    async def run_once(self, *, every_key: bool = False) -> Cycle:
        """One pass over the keys that are due (all of them with `every_key`)."""
        cycle = Cycle()
        try:
            positions = await self._store.list_positions()
            entries = await self._store.list_resting_entries()
        except Exception as err:  # noqa: BLE001 — a store outage skips the cycle; the next one tries again
            log.error("monitor.store_unreadable", error=f"{type(err).__name__}: {err}")
            cycle.errors.append("store")
            return cycle
        keys, fast = self._keys(positions, entries)
        now = self._clock()
        accounts: dict[tuple[str, str], set[str]] = defaultdict(set)
        for user_id, name, symbol in keys:
            accounts[(user_id, name)].add(symbol)
        for venue in self._local_venues():  # the operator's venues, even with nothing stored: to adopt
            accounts.setdefault(venue, set())
        gate = asyncio.Semaphore(CONCURRENCY)

        async def account(user_id: str, name: str, symbols: set[str]) -> None:
            try:
                exchange = await self._accounts.get(user_id, name)
                if every_key or now - self._scanned.get((user_id, name), float("-inf")) >= self.slow_sec:
                    symbols = symbols | {p.symbol for p in await exchange.positions()}
                    self._scanned[(user_id, name)] = now
            except Exception as err:  # noqa: BLE001 — this account only
                log.warning("monitor.account_failed", user_id=user_id, exchange=name,
                            error=f"{type(err).__name__}: {getattr(err, 'message', err)}")
                cycle.errors.append(f"{user_id}/{name}")
                return
            due = [s for s in sorted(symbols) if every_key or self._due((user_id, name, s), (user_id, name, s) in fast,
                                                                             now)]
            await asyncio.gather(*(one(exchange, (user_id, name, s)) for s in due))

        async def one(exchange: Exchange, key: Key) -> None:
            async with gate:
                await self._look(exchange, key, entries_by_key.get(key), cycle)
                self._looked[key] = now

        entries_by_key = {(e.user_id, e.exchange, e.symbol): e for e in entries}
        await asyncio.gather(*(account(u, n, s) for (u, n), s in sorted(accounts.items())))
        if cycle.checked or cycle.errors:
            log.info("monitor.cycle", checked=cycle.checked, closed=cycle.closed, adopted=cycle.adopted,
                     replaced=cycle.replaced, expired=cycle.expired, errors=len(cycle.errors))
        return cycle

    def _keys(self, positions: list[PositionRecord], entries: list[RestingEntryRecord]) -> tuple[set[Key], set[Key]]:
        """Every key with something to look at, and those looked at on the fast cadence."""
        keys, fast = set(), set()
        for p in positions:
            key = (p.user_id, p.exchange, p.symbol)
            keys.add(key)
            if (p.stop_loss_price is not None and not p.stop_loss_order_id) or self._stops.suspect(*key):
                fast.add(key)  # a stop not confirmed on the venue
        for e in entries:
            key = (e.user_id, e.exchange, e.symbol)
            keys.add(key)
            fast.add(key)  # an order in flight: its fill needs protecting
        return keys, fast

    def _due(self, key: Key, fast: bool, now: float) -> bool:
        last = self._looked.get(key)
        return last is None or now - last >= (self.fast_sec if fast else self.slow_sec)

    async def _look(self, exchange: Exchange, key: Key, entry: RestingEntryRecord | None, cycle: Cycle) -> None:
        user_id, _, symbol = key
        structlog.contextvars.bind_contextvars(user_id=user_id, exchange=key[1], symbol=symbol)
        try:
            async with self._dispatcher.exclusive(self._dispatcher.key(*key)):
                cycle.checked += 1
                if entry is not None and self._expired(entry):
                    settled = await self._resting.settle(exchange, user_id, symbol, later_request=EXPIRED)
                    if settled.cancelled is not None:
                        cycle.expired += 1
                        log.info("resting_entry.expired", client_order_id=entry.client_order_id, ttl_sec=self._ttl)
                result = await self._reconciler.reconcile(exchange, user_id, symbol)
                if result.closed is not None:
                    cycle.closed += 1
                    notify_closed_on_exchange(self._notifier, result.closed)
                if result.adopted:
                    cycle.adopted += 1
                    if result.position is not None and result.position.stop_loss_price is None:
                        self._adopted_without_stop(user_id, key[1], result.position)
                if result.position is not None:
                    check = await self._stops.check(exchange, result.position)
                    if check.replaced or check.resized:
                        cycle.replaced += 1
                    if check.alarm is not None:  # sent whatever the user's preferences: they must know
                        title = (f"UNPROTECTED POSITION on {symbol}" if check.still_open
                                 else f"{symbol} closed: its stop-loss could not be placed again")
                        self._notifier.notify(user_id, "position_unprotected", title, check.alarm, symbol=symbol,
                                              exchange=key[1])
        except LockNotAcquired:
            cycle.errors.append("/".join(key))
            log.info("monitor.key_busy")
        except Exception as err:  # noqa: BLE001 — one key's trouble never stops the others
            cycle.errors.append("/".join(key))
            log.warning("monitor.key_failed", error=f"{type(err).__name__}: {getattr(err, 'message', err)}")
        finally:
            structlog.contextvars.unbind_contextvars("user_id", "exchange", "symbol")

    def _adopted_without_stop(self, user_id: str, exchange: str, position: PositionRecord) -> None:
        """A position opened outside Sparky with no stop resting: Sparky does not choose a stop for
        someone else's trade, but nobody must be left thinking it is protected. Told once, when it
        is adopted (whatever the user's preferences), and logged for the operator."""
        side = "long" if position.side == "BUY" else "short"
        log.error("position.adopted_without_stop", side=side, quantity=str(position.quantity))
        self._notifier.notify(
            user_id, "position_unprotected", f"UNPROTECTED POSITION on {position.symbol}",
            f"A {side} {position.quantity} {position.symbol} on {exchange} was opened outside Sparky and has no "
            "stop-loss resting. Sparky records it but does not pick a stop for it: place one on the venue or "
            "close the position.",
            symbol=position.symbol, exchange=exchange)

    def _expired(self, entry: RestingEntryRecord) -> bool:
        return bool(self._ttl) and self._now() - entry.created_at >= timedelta(seconds=self._ttl)
