"""Reconcile stored positions with the exchanges (`POST /positions/sync`), for every user.

Each (user, exchange, symbol) is reconciled holding it as a signal's execution does — its slot on
this server and, with Redis, its lock across servers — so a sync never races a signal for the same
position (which could record one close twice), and always on that user's own account. The venues
a user has positions on are also asked for positions opened outside Sparky, which are adopted. Keys with
a resting limit entry are included: its fill is adopted (and, if its exits closed it already, the
trade recorded); the entry itself is left resting.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

import structlog

from sparky.cache import LockNotAcquired
from sparky.errors import SparkyError
from sparky.exchanges.errors import ExchangeError
from sparky.execution.outcome import jsonable, pnl_view
from sparky.signals.auth import LOCAL_USER_ID

if TYPE_CHECKING:
    from sparky.services import Services

log = structlog.get_logger("sparky.sync")


async def sync_positions(services: Services) -> dict[str, Any]:
    reconciler = services.executor.reconciler
    closed, adopted, errors, checked = [], [], [], 0
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)
    for stored in await services.store.list_positions():
        groups[(stored.user_id, stored.exchange)].add(stored.symbol)
    for entry in await services.store.list_resting_entries():  # a fill (and its exits) since the last signal
        groups[(entry.user_id, entry.exchange)].add(entry.symbol)
    for exchange in services.exchanges:  # the local user's venues, even with nothing stored
        groups.setdefault((LOCAL_USER_ID, exchange.name), set())
    for (user_id, name), symbols in sorted(groups.items()):
        try:
            exchange = await services.accounts.get(user_id, name)
            symbols |= {p.symbol for p in await exchange.positions()}
        except (ExchangeError, SparkyError) as err:
            errors.append({"userId": user_id, "exchange": name, "error": getattr(err, "message", str(err))})
            continue
        for symbol in sorted(symbols):
            checked += 1
            try:
                async with services.dispatcher.exclusive(services.dispatcher.key(user_id, name, symbol)):
                    result = await reconciler.reconcile(exchange, user_id, symbol)
            except ExchangeError as err:
                errors.append({"userId": user_id, "exchange": name, "symbol": symbol, "error": err.message})
                continue
            except LockNotAcquired:
                errors.append({"userId": user_id, "exchange": name, "symbol": symbol,
                               "error": "Another server kept this symbol busy; not reconciled"})
                continue
            if result.closed is not None:
                closed.append({"userId": user_id, "exchange": name, "symbol": symbol,
                               "exitReason": result.closed.exit_reason, "exitPrice": result.closed.exit_price,
                               "pnl": pnl_view(result.closed)})
            if result.adopted:
                adopted.append({"userId": user_id, "exchange": name, "symbol": symbol})
    log.info("positions.synced", checked=checked, closed=len(closed), adopted=len(adopted))
    return jsonable({"checked": checked, "closed": closed, "adopted": adopted, "errors": errors})
