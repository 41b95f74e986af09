"""Limit entries resting on the venue: recorded when they rest, settled before their key is used.

A limit alert may rest for hours. Where the venue attaches the bracket to the entry, a fill is
protected the moment it happens; elsewhere the fill's stop and target are placed when Sparky sees
it (the reconcile loop looks at keys with a resting entry every `RECONCILE_FAST_SEC`), by the
same protection code as a market entry's. Its record (`resting_entries`, one per user, exchange
and symbol) lets Sparky
- count it toward the open-position limits: it becomes a position without another signal;
- settle it before anything else looks at the key (`Reconciler.reconcile`): a fill, in full or in
  part, becomes the stored position with the exits the venue attached (if those exits have closed
  it already, the reconciler then records that trade from their fill); an entry gone unfilled is
  dropped;
- cancel it when a later signal for the key arrives: a new entry replaces it, a close cancels it.
  A stale limit must never fill into, or against, what the strategy has asked for since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import structlog

from sparky.exchanges.base import Exchange, Order, OrderKind, OrderRequest, OrderStatus, Side
from sparky.exchanges.errors import OrderNotFound, OutcomeUnknown
from sparky.execution.orders import client_order_id
from sparky.execution.prices import exit_prices
from sparky.execution.protection import ProtectionFailed, Protector
from sparky.execution.trades import venue_asset_class
from sparky.store.base import PositionRecord, RestingEntryRecord, Store, decode_time, utcnow

log = structlog.get_logger("sparky.resting")


@dataclass
class Settled:
    """What became of a key's resting entry."""

    #: the entry still resting on the venue (no later signal asked to cancel it)
    resting: RestingEntryRecord | None = None
    #: the entry cancelled for a later signal, as the venue reports it after the cancel
    cancelled: Order | None = None
    #: the position its fill became
    adopted: PositionRecord | None = None


def filled_quantity(order: Order) -> Decimal:
    if order.filled_quantity:
        return order.filled_quantity
    return order.quantity if order.status is OrderStatus.FILLED else Decimal(0)


async def open_exits(exchange: Exchange, symbol: str, position_side: Side) -> tuple[Order | None, Order | None]:
    """The stop-loss and the take-profit resting on the venue for a position of `position_side`."""
    stop = target = None
    for order in await exchange.open_orders(symbol):
        if order.side is not position_side.opposite:
            continue
        if order.kind is OrderKind.STOP and stop is None:
            stop = order
        elif order.kind is OrderKind.TAKE_PROFIT and target is None:
            target = order
    return stop, target


class RestingEntries:
    def __init__(self, store: Store, protector: Protector | None = None) -> None:
        self._store = store
        self._protector = protector or Protector(3)

    async def record(self, *, user_id: str, exchange: str, request_id: str, request: OrderRequest, order: Order,
                     exits: tuple[Decimal | None, Decimal | None], percents: tuple[Decimal | None, Decimal | None],
                     strategy_id: str | None, ai_strategy_id: str | None = None) -> None:
        """Record a limit entry the venue rests. Called under the position-limit lock, so the next
        entry of the user counts it. `exits`: its stop and target prices (attached to the order, or
        placed when it fills)."""
        assert request.price is not None, "a resting entry is a limit order"
        entry = RestingEntryRecord(
            user_id=user_id, exchange=exchange, symbol=request.symbol, side=request.side.value.upper(),
            quantity=request.quantity, limit_price=request.price, client_order_id=request.client_order_id,
            order_id=order.id, request_id=request_id, created_at=utcnow(),
            stop_loss_price=exits[0], take_profit_price=exits[1],
            stop_loss_percent=percents[0], take_profit_percent=percents[1], strategy_id=strategy_id,
            ai_strategy_id=ai_strategy_id,
        )
        await self._store.put_resting_entry(entry)
        log.info("resting_entry.recorded", symbol=entry.symbol, side=request.side.value,
                 quantity=str(entry.quantity), limit=str(entry.limit_price), order_id=order.id)

    async def settle(self, exchange: Exchange, user_id: str, symbol: str, *,
                     later_request: str | None = None) -> Settled:
        """Deal with the key's resting entry before anything else looks at the key.

        Still resting: kept, unless `later_request` names a signal other than the one that placed
        it — then it is cancelled. Filled, in full or in part (also during the cancel): the fill
        becomes the stored position. Gone unfilled: the record is dropped.
        """
        entry = await self._store.get_resting_entry(user_id, exchange.name, symbol)
        if entry is None:
            return Settled()
        order = await _look_up(exchange, entry)
        cancelled = None
        if order is not None and order.status is OrderStatus.OPEN:
            if later_request is None or later_request == entry.request_id:
                partial = await self._adopt(exchange, entry, order) if filled_quantity(order) else None
                return Settled(resting=entry, adopted=partial)
            order = cancelled = await self._cancel(exchange, entry, order)
        adopted = None
        if order is not None and filled_quantity(order):
            adopted = await self._adopt(exchange, entry, order)
        elif cancelled is None:
            log.info("resting_entry.gone", symbol=symbol, client_order_id=entry.client_order_id,
                     status=order.status.value if order else "unknown to the venue")
        # after the position is written: a crash in between leaves the record, and the next
        # settle finds the position already adopted (`_adopt`) and only drops it
        await self._store.delete_resting_entry(entry)
        return Settled(cancelled=cancelled, adopted=adopted)

    async def _cancel(self, exchange: Exchange, entry: RestingEntryRecord, order: Order) -> Order:
        """Cancel the entry; then read it back, for what it filled before the cancel took."""
        try:
            reply: Order | None = await exchange.cancel_order(entry.symbol, order.id)
        except OrderNotFound:
            reply = None  # it filled or went between the look-up and the cancel
        final = await _look_up(exchange, entry)
        if final is None or final.status is OrderStatus.OPEN:
            final = reply  # the venue took the cancel; its order view may lag behind
        if final is None:
            raise OutcomeUnknown(f"{exchange.name}: the resting limit entry {entry.client_order_id} could not be "
                                 "confirmed cancelled; nothing else was sent", exchange=exchange.name)
        log.info("resting_entry.cancelled", symbol=entry.symbol, client_order_id=entry.client_order_id,
                 filled=str(filled_quantity(final)))
        return final

    async def _adopt(self, exchange: Exchange, entry: RestingEntryRecord, order: Order) -> PositionRecord:
        """The stored position for the entry's fill, with the exits the venue attached to it."""
        stored = await self._store.get_position(entry.user_id, entry.exchange, entry.symbol)
        if stored is not None:
            # adopted before (a part fill, or a crash before the record was dropped); the
            # reconciler brings its quantity in line with the venue
            if stored.entry_order_id != order.id:
                log.warning("resting_entry.filled_beside_a_position", symbol=entry.symbol, order_id=order.id)
            return stored
        side = Side.BUY if entry.side == "BUY" else Side.SELL
        stop_id, target_id = order.stop_loss_order_id, order.take_profit_order_id
        attaches = exchange.capabilities.attached_brackets or exchange.capabilities.limit_brackets
        if attaches and stop_id is None and target_id is None:  # the venue does not report them on the entry
            stop, target = await open_exits(exchange, entry.symbol, side)
            stop_id, target_id = stop.id if stop else None, target.id if target else None
        price, quantity = order.average_price or entry.limit_price, filled_quantity(order)
        stop_price, target_price = entry.stop_loss_price, entry.take_profit_price
        if not attaches and (entry.stop_loss_percent or entry.take_profit_percent):
            # priced from the actual fill, as a market entry's exits on such a venue are
            tick = (await exchange.symbol_rules(entry.symbol)).tick_size
            stop_price, target_price = exit_prices(side, price, entry.stop_loss_percent, entry.take_profit_percent,
                                                   tick)
        position = PositionRecord(
            user_id=entry.user_id, exchange=entry.exchange, symbol=entry.symbol, side=entry.side,
            entry_price=price, quantity=quantity, entry_time=_fill_time(order), position_size_usd=price * quantity,
            stop_loss_price=stop_price, take_profit_price=target_price,
            stop_loss_percent=entry.stop_loss_percent, take_profit_percent=entry.take_profit_percent,
            entry_order_id=order.id, stop_loss_order_id=stop_id, take_profit_order_id=target_id,
            strategy_id=entry.strategy_id, asset_class=await venue_asset_class(exchange, entry.symbol),
            ai_strategy_id=entry.ai_strategy_id,
        )
        await self._store.upsert_position(position)
        log.info("resting_entry.filled", symbol=entry.symbol, side=side.value, quantity=str(quantity),
                 price=str(price), stop_loss_order_id=stop_id)
        if not attaches and (stop_price is not None or target_price is not None):
            await self._protect(exchange, entry, position, side)
        elif entry.stop_loss_price is not None and stop_id is None:
            log.error("resting_entry.stop_not_found", symbol=entry.symbol, order_id=order.id)
        return position

    async def _protect(self, exchange: Exchange, entry: RestingEntryRecord, position: PositionRecord,
                       side: Side) -> None:
        """The fill's stop and target, placed as a market entry's are (retried, looked up by client
        id before any resend). A stop that will not go on leaves the position without a stop id:
        the reconcile loop sees it unprotected and places it again, or closes it (monitor/stops.py)."""
        try:
            placed = await self._protector.protect(
                exchange, symbol=entry.symbol, position_side=side, quantity=position.quantity,
                stop_loss=position.stop_loss_price, take_profit=position.take_profit_price,
                client_ids=(client_order_id(entry.request_id, "sl"), client_order_id(entry.request_id, "tp")),
                resume=True)
        except ProtectionFailed as err:
            log.error("resting_entry.protection_failed", symbol=entry.symbol, reason=err.reason)
            return
        position.stop_loss_order_id = placed.stop_loss.order_id if placed.stop_loss else None
        position.take_profit_order_id = placed.take_profit.order_id if placed.take_profit else None
        await self._store.upsert_position(position)
        log.info("resting_entry.protected", symbol=entry.symbol, stop_loss_order_id=position.stop_loss_order_id,
                 take_profit_order_id=position.take_profit_order_id)


async def _look_up(exchange: Exchange, entry: RestingEntryRecord) -> Order | None:
    """The entry's order by client id, else by the venue's id (some venues search client ids
    among recent orders only)."""
    found = await exchange.get_order(entry.symbol, client_order_id=entry.client_order_id)
    return found or await exchange.get_order(entry.symbol, order_id=entry.order_id)


def _fill_time(order: Order) -> datetime:
    """When the entry filled: the venue's time of its last change, else now."""
    try:
        return decode_time(order.updated_at) or utcnow()
    except ValueError:
        return utcnow()
