"""Stored positions renamed to their venue's spelling of the symbol, at start-up.

Signals name every instrument the venue's way (`signals/symbols.py`), so a position recorded under
another spelling before that — an OANDA `EURUSD` row, now `EUR_USD` — would no longer be found by
the signals meant for it: the next one would adopt the venue's position as a second row, and the
first would later be booked as a second close. Each such row is renamed once, before any signal
runs. A row whose venue cannot tell right now is left as it is and tried again at the next start.
"""

from __future__ import annotations

from dataclasses import replace

import structlog

from sparky.errors import SparkyError
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.errors import ExchangeError
from sparky.store.base import Store, StoreUnavailable

log = structlog.get_logger("sparky.renames")


async def rename_positions_to_venue_spelling(store: Store, accounts: ExchangeAccounts) -> int:
    """Rename every stored position whose symbol the venue spells otherwise; returns how many."""
    renamed = 0
    for row in await store.list_positions():
        try:
            exchange = await accounts.get(row.user_id, row.exchange)
            symbol = await exchange.canonical_symbol(row.symbol)
        except (SparkyError, ExchangeError, StoreUnavailable, ValueError) as err:
            log.warning("position.rename_skipped", user_id=row.user_id, exchange=row.exchange, symbol=row.symbol,
                        reason=getattr(err, "message", None) or type(err).__name__)
            continue
        if symbol == row.symbol:
            continue
        if await store.get_position(row.user_id, row.exchange, symbol) is not None:
            log.error("position.rename_conflict", user_id=row.user_id, exchange=row.exchange, symbol=row.symbol,
                      venue_symbol=symbol)  # two rows for one instrument: the operator decides which is right
            continue
        # the new row first: a crash between the two writes leaves a row to rename again, never none
        await store.upsert_position(replace(row, symbol=symbol, id=None))
        await store.delete_position(row.user_id, row.exchange, row.symbol)
        log.info("position.renamed", user_id=row.user_id, exchange=row.exchange, symbol=row.symbol,
                 venue_symbol=symbol)
        renamed += 1
    return renamed
