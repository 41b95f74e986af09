"""Closing a position: reduce-only market order, flat by its fill or confirmed, trade recorded,
exits cancelled.

The venue decides the outcome. A reduce-only close it reports filled for the whole position is
flat by its own word on a one-way account (reduce-only cannot open the other side, and nothing is
left to fill): the position is not read again, and the exits are cancelled at once while the
fill's fee is read — one round trip after the fill. A partial fill, a venue without reduce-only or
whose account may hold both sides (`capabilities.hedge_mode`), a position that was inferred rather
than read (the emergency path), or a request resumed after a crash (its close may be one sent
before it) has the position re-read until the venue reports it gone.
Once flat, the close is done and is reported so. What follows is best effort — an exit that will
not cancel is returned in `CloseResult.uncancelled` (and swept on the next signal,
`execution/exits.py`), a price that cannot be read falls back to the last one known — never a
reason to call the close failed."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from sparky.exchanges.base import Exchange, Order, OrderKind, OrderRequest, OrderStatus, Position
from sparky.exchanges.errors import ExchangeError
from sparky.execution.exits import survivors_warning
from sparky.execution.fees import alongside, with_fee
from sparky.execution.orders import cancel_quietly, send_order
from sparky.execution.outcome import Outcome, add_warning, jsonable, order_view, pnl_view
from sparky.execution.pending_writes import PendingWrites
from sparky.execution.pnl_currency import dollar_terms
from sparky.execution.protection import Protector
from sparky.execution.reprotect import ExitGuard
from sparky.execution.trades import (
    build_trade,
    last_known_price,
    plain,
    record_from_live,
    remaining_after,
    venue_asset_class,
)
from sparky.store.base import PositionRecord, RequestStatus, Store, TradeRecord

log = structlog.get_logger("sparky.closing")

#: how far back a resumed close looks for the trade it recorded before the crash (newest first)
RECENT_TRADES = 50


class CloseNotConfirmed(Exception):
    """The close order went out but the venue still reports the position open."""


class CloseFailed(CloseNotConfirmed):
    """The close did not complete and the position is still open; the message says whether its
    exits are in place again or it is UNPROTECTED (`reprotect.py`)."""


@dataclass
class CloseResult:
    order: Order
    trade: TradeRecord
    #: exits still resting after the close (their cancel failed); the next signal sweeps them
    uncancelled: list[str] = field(default_factory=list)

    @property
    def warning(self) -> str | None:
        return survivors_warning(self.uncancelled, self.order.symbol) if self.uncancelled else None

    def view(self) -> dict:
        """How a response shows a close that came before something else (a reversal's entry)."""
        body = jsonable({"closeOrder": order_view(self.order), "pnl": pnl_view(self.trade)})
        add_warning(body, self.warning)
        return body

    def outcome(self, symbol: str, exchange: str) -> Outcome:
        """The answer to a close signal: done, with a warning naming exits that outlived it (the
        next signal sweeps them)."""
        body = {"success": True, "action": "closed", "symbol": symbol, "exchange": exchange,
                "closeOrder": order_view(self.order), "pnl": pnl_view(self.trade)}
        add_warning(body, self.warning)
        return Outcome(RequestStatus.SUCCESS, body)


class PositionCloser:
    def __init__(self, store: Store, confirm_attempts: int, *, protector: Protector | None = None) -> None:
        self._store = store
        self._confirm_attempts = confirm_attempts
        self._guard = ExitGuard(store, protector or Protector(3))

    async def close(
        self,
        exchange: Exchange,
        *,
        user_id: str,
        live: Position,
        exit_reason: str,
        client_order_id: str,
        resume: bool = False,
        stale: Sequence[str] = (),
        inferred: bool = False,
        writes: PendingWrites | None = None,
    ) -> CloseResult:
        """`stale`: other reduce-only orders of the key, cancelled with the position's exits once
        it is flat (`execution/exits.py`). `inferred`: `live` is what an entry filled, not what the
        venue reported (it would not say): the venue may hold more, so the close is confirmed by
        reading the position whatever its fill says. `writes`: where the trade is held back to be
        written with the request's status (`pending_writes.py`); without it the trade is written at once."""
        stored = await self._store.get_position(user_id, exchange.name, live.symbol)
        request = OrderRequest(
            symbol=live.symbol,
            side=live.side.opposite,
            kind=OrderKind.MARKET,
            quantity=live.quantity,
            client_order_id=client_order_id,
            reduce_only=exchange.capabilities.reduce_only,
        )
        try:
            order = await send_order(exchange, request, resume=resume)
        except ExchangeError as err:  # the position may have lost its exits to the close
            await self._after_failed_close(exchange, stored, err, client_order_id, resume)
            raise
        position = stored or record_from_live(user_id, exchange.name, live, "Closed without a Sparky record",
                                              await venue_asset_class(exchange, live.symbol))
        exits = [*self._exits(stored), *stale]
        # a resumed request's close may be the one sent before the crash, for a position since
        # replaced: its fill says nothing of the position now, so only a close sent now is trusted
        if not inferred and not resume and flat_by_fill(exchange, request, order, live):
            # invariant 4 at once: the exits go while the fee is read (one round trip for both)
            uncancelled, order = await alongside(self._cancel_exits(exchange, live.symbol, exits), exchange, order)
            return await self._record(exchange, position, order, exit_reason, live.quantity, uncancelled,
                                      writes=writes)
        try:  # the fill's fee (a venue that reports it apart) is read while the position is re-read
            _, order = await alongside(self._confirm_flat(exchange, live), exchange, order)
        except (ExchangeError, CloseNotConfirmed) as err:
            partly = 0 < order.filled_quantity < position.quantity
            if partly and not (resume and await self._recorded(exchange, user_id, live.symbol, order.id)):
                await self._record_part(exchange, position, await with_fee(exchange, order), exit_reason)
            await self._after_failed_close(exchange, stored, err, client_order_id, resume)
            raise
        return await self._record(exchange, position, order, exit_reason, live.quantity,
                                  await self._cancel_exits(exchange, live.symbol, exits), writes=writes)

    async def _after_failed_close(self, exchange: Exchange, stored: PositionRecord | None, err: Exception,
                                  client_order_id: str, resume: bool) -> None:
        """A close that did not complete: exits the venue made it cancel are put back (or the alarm
        raised) and the failure says so (`CloseFailed`); otherwise the caller re-raises as it was."""
        said = await self._guard.after_failed_close(exchange, stored, err, client_order_id=client_order_id,
                                                    resume=resume)
        if said is not None:
            raise CloseFailed(said) from err

    async def finish_sent(self, exchange: Exchange, *, user_id: str, symbol: str, client_order_id: str,
                          exit_reason: str) -> CloseResult | None:
        """The close a crashed request had already sent, finished from what the venue and the store
        show: the trade it recorded, or — if the crash came between the fill and the trade row — the
        trade recorded now from the fill. None when the venue has no filled order with that client
        id (then the request closes the usual way, which looks the order up before sending)."""
        order = await exchange.get_order(symbol, client_order_id=client_order_id)
        if order is None or order.status is not OrderStatus.FILLED:
            return None
        if (trade := await self._recorded(exchange, user_id, symbol, order.id)) is not None:
            return CloseResult(order, trade)
        stored = await self._store.get_position(user_id, exchange.name, symbol)
        live = await exchange.position(symbol)
        if (stored is None or stored.side != order.side.opposite.value.upper()
                or live is not None and live.side.value.upper() == stored.side):
            # neither the trade nor the position this order closed (the stored one is still held):
            # nothing to report it from, and nothing to record
            log.warning("close.sent_but_unrecorded", client_order_id=client_order_id, order_id=order.id)
            return None
        log.info("close.finished_after_restart", client_order_id=client_order_id, order_id=order.id)
        uncancelled, order = await alongside(self._cancel_exits(exchange, symbol, self._exits(stored)), exchange, order)
        return await self._record(exchange, stored, order, exit_reason, stored.quantity, uncancelled)

    async def _recorded(self, exchange: Exchange, user_id: str, symbol: str, order_id: str) -> TradeRecord | None:
        """The trade an order's fill was already recorded as (a request resumed after a crash)."""
        for trade in await self._store.list_trades(user_id=user_id, symbol=symbol, limit=RECENT_TRADES):
            if trade.exchange == exchange.name and trade.order_id == order_id:
                return trade
        return None

    @staticmethod
    def _exits(stored: PositionRecord | None) -> list[str | None]:
        if stored is None:
            return []
        return [stored.stop_loss_order_id, stored.take_profit_order_id, stored.trailing_stop_order_id]

    @staticmethod
    async def _cancel_exits(exchange: Exchange, symbol: str, order_ids: Sequence[str | None]) -> list[str]:
        """Invariant 4: a close cancels both exits (and any other the key still has); the ids that
        would not go are returned (best effort: the next signal sweeps them)."""
        uncancelled = await cancel_quietly(exchange, symbol, order_ids)
        if uncancelled:
            log.warning("close.exits_left", order_ids=uncancelled)
        return uncancelled

    async def _record(self, exchange: Exchange, position: PositionRecord, order: Order, exit_reason: str,
                      quantity: Decimal, uncancelled: list[str], *, writes: PendingWrites | None = None) -> CloseResult:
        """The trade from the close's fill; the position row goes with it (at once, or held back in
        `writes` to be written with the request's status)."""
        exit_price = order.average_price or await last_known_price(exchange, position)
        closed = order.filled_quantity or quantity
        trade = build_trade(
            position,
            exit_price=exit_price,
            quantity=closed,
            exit_reason=exit_reason,
            order_id=order.id,
            exit_fee=order.fee,
            dollars=await dollar_terms(exchange, position.symbol, exit_price, closed, order),
        )
        if writes is not None:
            writes.close(trade)
        else:
            await self._store.record_close(trade)
        return CloseResult(order, trade, uncancelled)

    async def _record_part(self, exchange: Exchange, position: PositionRecord, order: Order,
                           exit_reason: str) -> None:
        """A close that filled only in part: the part is a trade at its fill price, and the position
        row keeps the rest (its stop and target stay as they are)."""
        closed = order.filled_quantity
        exit_price = order.average_price or await last_known_price(exchange, position)
        trade = build_trade(
            position,
            exit_price=exit_price,
            quantity=closed,
            exit_reason=exit_reason,
            order_id=order.id,
            notes=f"Close order filled {plain(closed)} of {plain(position.quantity)}; the rest is still open",
            exit_fee=order.fee,
            dollars=await dollar_terms(exchange, position.symbol, exit_price, closed, order),
        )
        await self._store.record_partial_close(trade, remaining_after(position, closed))
        log.warning("close.partly_filled", symbol=position.symbol, filled=str(closed),
                    quantity=str(position.quantity), order_id=order.id)

    async def _confirm_flat(self, exchange: Exchange, live: Position) -> None:
        """Re-read the position until the venue reports it gone (backing off between reads); a
        read that fails counts as not confirmed yet."""
        problem = "still open after the close order"
        for attempt in range(self._confirm_attempts):
            try:
                current = await exchange.position(live.symbol)
            except ExchangeError as err:
                problem = f"not confirmed flat after the close order ({type(err).__name__}: {err.message})"
            else:
                if current is None or current.side is not live.side:
                    return
                problem = "still open after the close order"
            if attempt + 1 < self._confirm_attempts:
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        raise CloseNotConfirmed(f"{live.symbol} {problem}")


def flat_by_fill(exchange: Exchange, request: OrderRequest, order: Order, live: Position) -> bool:
    """Whether the close's own answer proves the position gone (see the module docstring)."""
    return (request.reduce_only and not exchange.capabilities.hedge_mode and order.status is OrderStatus.FILLED
            and order.filled_quantity >= live.quantity)
