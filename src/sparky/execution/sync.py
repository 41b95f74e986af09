"""Reconcile every stored position with the exchanges (`POST /positions/sync`).

Each (user, exchange, symbol) is reconciled inside its serialised slot, so a sync never races a
signal for the same position. Exchange accounts of embedded mode belong to the local user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import structlog

from sparky.exchanges.errors import ExchangeError
from sparky.execution.outcome import jsonable
from sparky.signals.auth import LOCAL_USER_ID

if TYPE_CHECKING:
    from sparky.services import Services

log = structlog.get_logger("sparky.sync")


async def sync_positions(services: Services) -> dict[str, Any]:
    reconciler = services.executor.reconciler
    closed, adopted, errors, checked = [], [], [], 0
    for exchange in services.exchanges:
        try:
            live = await exchange.positions()
        except ExchangeError as err:
            errors.append({"exchange": exchange.name, "error": err.message})
            continue
        keys = {(p.user_id, p.symbol) for p in await services.store.list_positions(exchange=exchange.name)}
        keys |= {(LOCAL_USER_ID, p.symbol) for p in live}
        for user_id, symbol in sorted(keys):
            checked += 1
            async with services.dispatcher.reserve(services.dispatcher.key(user_id, exchange.name, symbol)):
                try:
                    result = await reconciler.reconcile(exchange, user_id, symbol)
                except ExchangeError as err:
                    errors.append({"exchange": exchange.name, "symbol": symbol, "error": err.message})
                    continue
            if result.closed is not None:
                closed.append({"exchange": exchange.name, "symbol": symbol,
                               "exitReason": result.closed.exit_reason, "exitPrice": result.closed.exit_price,
                               "pnl": {"usd": result.closed.pnl_usd, "percent": result.closed.pnl_percent}})
            if result.adopted:
                adopted.append({"exchange": exchange.name, "symbol": symbol})
    log.info("positions.synced", checked=checked, closed=len(closed), adopted=len(adopted))
    return jsonable({"checked": checked, "closed": closed, "adopted": adopted, "errors": errors})
