"""Stored positions renamed to their venue's spelling of the symbol, at start-up.

Signals name every instrument the venue's way (`signals/symbols.py`), so a position recorded under
another spelling before that — an OANDA `EURUSD` row, now `EUR_USD` — would no longer be found by
the signals meant for it: the next one would adopt the venue's position as a second row, and the
first would later be booked as a second close. Each such row is renamed once, before any signal
runs. A row whose venue cannot tell right now is left as it is and tried again at the next start.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import structlog

from sparky.errors import SparkyError
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.errors import ExchangeError
from sparky.store.base import PositionRecord, Store, StoreUnavailable

log = structlog.get_logger("sparky.renames")


#: accounts looked at together: start-up waits for the slowest venue, not for the sum of them
CONCURRENT_ACCOUNTS = 16


async def rename_positions_to_venue_spelling(store: Store, accounts: ExchangeAccounts) -> int:
    """Rename every stored position whose symbol the venue spells otherwise; returns how many.

    Accounts (user, exchange) are done concurrently, each account's rows one after another: two
    spellings of one instrument in one account must meet the conflict check in turn."""
    by_account: dict[tuple[str, str], list[PositionRecord]] = {}
    for row in await store.list_positions():
        by_account.setdefault((row.user_id, row.exchange), []).append(row)
    gate = asyncio.Semaphore(CONCURRENT_ACCOUNTS)

    async def account(rows: list[PositionRecord]) -> int:
        async with gate:
            return sum([await _rename(store, accounts, row) for row in rows])

    return sum(await asyncio.gather(*(account(rows) for rows in by_account.values())))


async def _rename(store: Store, accounts: ExchangeAccounts, row: PositionRecord) -> int:
    try:
        exchange = await accounts.get(row.user_id, row.exchange)
        symbol = await exchange.canonical_symbol(row.symbol)
    except (SparkyError, ExchangeError, StoreUnavailable, ValueError) as err:
        log.warning("position.rename_skipped", user_id=row.user_id, exchange=row.exchange, symbol=row.symbol,
                    reason=getattr(err, "message", None) or type(err).__name__)
        return 0
    if symbol == row.symbol:
        return 0
    if await store.get_position(row.user_id, row.exchange, symbol) is not None:
        log.error("position.rename_conflict", user_id=row.user_id, exchange=row.exchange, symbol=row.symbol,
                  venue_symbol=symbol)  # two rows for one instrument: the operator decides which is right
        return 0
    # the new row first: a crash between the two writes leaves a row to rename again, never none
    await store.upsert_position(replace(row, symbol=symbol, id=None))
    await store.delete_position(row.user_id, row.exchange, row.symbol)
    log.info("position.renamed", user_id=row.user_id, exchange=row.exchange, symbol=row.symbol,
             venue_symbol=symbol)
    return 1
