"""Exits that outlived their position, found on the venue and cancelled (invariant 4).

A reduce-only order on a flat key reduces nothing now, but it would act on the next position: a
take-profit left from a closed long closes the next long at the old target. Cancels after a close
are best effort (the close already happened), so an exit may survive one: a rate limit, an outage,
a crash between the fill and the cancel. The venue is the record of what survived — nothing is
kept in the store — and every signal reads the key's resting orders alongside its position (one
concurrent request, no added wait). When the key is flat, whatever reduce-only orders rest on it
are cancelled before anything else; one that still will not go is reported in the response and
tried again on the next signal. A close in the signal takes with it the reduce-only orders on the
held side, which cannot be the position's exits and would reduce the one a reversal opens next.

The sweep stands back while a non-reduce-only order rests on the key: a resting limit entry may
own some of them (venues that hold an entry's bracket legs as orders), and cancelling those would
leave that entry unprotected when it fills.
"""

from __future__ import annotations

import structlog

from sparky.exchanges.base import Exchange, Order, Side
from sparky.execution.orders import cancel_quietly

log = structlog.get_logger("sparky.exits")


async def resting_orders(exchange: Exchange, symbol: str) -> list[Order] | None:
    """The key's resting orders, or None when the venue would not say (the sweep is then skipped:
    it never stands between a signal and its execution)."""
    try:
        return await exchange.open_orders(symbol)
    except Exception as err:  # noqa: BLE001 — a reply nobody could read included
        log.warning("exits.read_failed", error_type=type(err).__name__, error=getattr(err, "message", str(err)))
        return None


def stale_exits(resting: list[Order] | None, *, settled: frozenset[str] | set[str] = frozenset(),
                held: Side | None = None) -> list[str]:
    """Ids of the reduce-only orders in `resting` that a flat key no longer needs, less `settled`
    (ids already cancelled in this signal). Empty while a resting entry may own some of them.

    `held`: the key is not flat yet but holds this side, about to be closed. Only the reduce-only
    orders on that same side are taken: they cannot be the position's exits (those sit on the
    other side, and the close cancels them by the ids it stored), so they are left from an earlier
    position and would reduce the one a reversal opens next."""
    if not resting:
        return []
    if any(not order.reduce_only for order in resting):
        log.info("exits.sweep_deferred", resting_entries=[o.id for o in resting if not o.reduce_only])
        return []
    return [order.id for order in resting if order.reduce_only and order.id not in settled
            and (held is None or order.side is held)]


async def sweep(exchange: Exchange, symbol: str, resting: list[Order] | None, *,
                settled: frozenset[str] | set[str] = frozenset()) -> list[str]:
    """Cancel the stale exits of a key the venue reports flat; returns the ids still resting."""
    stale = stale_exits(resting, settled=settled)
    if not stale:
        return []
    log.warning("exits.stale_found", order_ids=stale)
    return await cancel_quietly(exchange, symbol, stale)


def survivors_warning(order_ids: list[str], symbol: str) -> str:
    return (f"Exit orders {', '.join(order_ids)} on {symbol} could not be cancelled; Sparky cancels them "
            "on the next signal for this symbol, before any new entry")
