"""Bring the stored position for (user, exchange, symbol) in line with the exchange.

Runs before every signal for that key (inside its serialised slot), from `POST /positions/sync` and
from the reconcile loop between signals (monitor/reconcile.py).
The key's resting limit entry is settled first (execution/resting.py): its fill becomes the stored
position, so what follows compares that position with the venue like any other. A position the
venue closed on its own (stop-loss, take-profit, trailing stop, liquidation, a manual close) is
recorded as a trade with the real exit price and reason; the protective order left over is
cancelled (invariant 4 on venues without native OCO) — best effort: one that will not cancel is
swept by the signal that follows (`execution/exits.py`), never a reason to fail it. A position the
venue has and we do not — a fill Sparky has no record of, or a trade opened by hand — is adopted. A position that
shrank (part closed by hand, an exit that filled only part of it) gets a trade for the part that
closed and keeps the rest; one that grew (added to by hand) takes the venue's quantity and average
entry, with no trade.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import structlog

from sparky.exchanges.base import Exchange, Order, OrderStatus, Position
from sparky.execution.fees import with_fee
from sparky.execution.orders import cancel_quietly
from sparky.execution.pnl_currency import dollar_terms
from sparky.execution.resting import RestingEntries, open_exits
from sparky.execution.sizing import value_usd
from sparky.execution.trades import (
    PNL_QUANT,
    build_trade,
    fill_time,
    last_known_price,
    plain,
    record_from_live,
    remaining_after,
    venue_asset_class,
)
from sparky.store.base import PositionRecord, RestingEntryRecord, Store, TradeRecord

log = structlog.get_logger("sparky.reconcile")


@dataclass
class Reconciled:
    position: PositionRecord | None
    closed: TradeRecord | None = None
    adopted: bool = False
    #: what the venue reported, so callers need not ask again
    live: Position | None = None
    #: the key's limit entry still resting on the venue
    resting: RestingEntryRecord | None = None
    #: the resting entry cancelled for the signal that asked (`later_request`)
    cancelled_entry: Order | None = None
    #: exits of the closed position that are cancelled now (a sweep need not ask again)
    cancelled: frozenset[str] = frozenset()


class Reconciler:
    def __init__(self, store: Store, resting: RestingEntries | None = None) -> None:
        self._store = store
        self._resting = resting or RestingEntries(store)

    async def reconcile(self, exchange: Exchange, user_id: str, symbol: str, *,
                        later_request: str | None = None) -> Reconciled:
        """`later_request`: the signal about to act on the key; a resting entry placed by any other
        request is cancelled first (a later signal replaces or closes it)."""
        settled = await self._resting.settle(exchange, user_id, symbol, later_request=later_request)
        reconciled = await self._positions(exchange, user_id, symbol)
        reconciled.resting, reconciled.cancelled_entry = settled.resting, settled.cancelled
        reconciled.adopted = reconciled.adopted or (settled.adopted is not None and reconciled.position is not None)
        return reconciled

    async def _positions(self, exchange: Exchange, user_id: str, symbol: str) -> Reconciled:
        stored = await self._store.get_position(user_id, exchange.name, symbol)
        live = await exchange.position(symbol)
        closed, cancelled = None, frozenset[str]()
        if stored is not None and (live is None or live.side.value.upper() != stored.side):
            closed, cancelled = await self._record_external_close(exchange, stored)
            stored = None
        if live is None:
            return Reconciled(None, closed, cancelled=cancelled)
        if stored is None:
            return Reconciled(await self._adopt(exchange, user_id, live), closed, adopted=True, live=live,
                              cancelled=cancelled)
        if live.quantity < stored.quantity:
            closed, stored = await self._record_partial_close(exchange, stored, live)
        elif live.quantity > stored.quantity:
            stored = await self._record_growth(exchange, stored, live)
        return Reconciled(stored, closed, live=live)

    async def _record_external_close(self, exchange: Exchange,
                                     stored: PositionRecord) -> tuple[TradeRecord, frozenset[str]]:
        reason, exit_price, order_id, exit_fee, exit_time, fill = "MANUAL", None, None, None, None, None
        for kind, order_id_field in (("STOP_LOSS", stored.stop_loss_order_id),
                                     ("TAKE_PROFIT", stored.take_profit_order_id),
                                     ("TRAILING_STOP", stored.trailing_stop_order_id)):
            if not order_id_field:
                continue
            order = await exchange.get_order(stored.symbol, order_id=order_id_field)
            if order is not None and order.status is OrderStatus.FILLED:
                order = await with_fee(exchange, order)
                reason, exit_price, order_id, exit_fee = kind, order.average_price, order.id, order.fee
                exit_time = fill_time(order)  # when it filled on the venue, not when this noticed it
                fill = order
                break
        if exit_price is None:
            exit_price = await last_known_price(exchange, stored)
        trade = build_trade(
            stored,
            exit_price=exit_price,
            quantity=stored.quantity,
            exit_reason=reason,
            order_id=order_id,
            notes=None if reason != "MANUAL" else "Closed on the exchange outside Sparky",
            exit_fee=exit_fee,
            exit_time=exit_time,
            dollars=await dollar_terms(exchange, stored.symbol, exit_price, stored.quantity, fill),
        )
        await self._store.record_close(trade)
        exits = {oid for oid in (stored.stop_loss_order_id, stored.take_profit_order_id,
                                  stored.trailing_stop_order_id) if oid}
        left = await cancel_quietly(exchange, stored.symbol, exits)
        log.info("position.closed_on_exchange", symbol=stored.symbol, exit_reason=reason,
                 exit_price=str(exit_price), pnl_usd=str(trade.pnl_usd))
        return trade, frozenset(exits - set(left))

    async def _record_partial_close(self, exchange: Exchange, stored: PositionRecord,
                                    live: Position) -> tuple[TradeRecord, PositionRecord]:
        """The part that is gone as a trade: at the fill price of the stored exit that filled it
        when one did (a stop covering less than the position), else at the last price."""
        closed = stored.quantity - live.quantity
        remaining = remaining_after(stored, closed)
        exit_order, reason = await self._filled_exit(exchange, stored)
        if exit_order is not None and exit_order.average_price is not None:
            exit_price, exit_fee = exit_order.average_price, _fee_share(exit_order, closed)
            exit_time = fill_time(exit_order)  # when the venue filled it, not when this noticed it
            what = reason.replace("_", " ").capitalize()
            notes = f"{what} filled {plain(exit_order.filled_quantity)} of {plain(stored.quantity)}"
            if exit_order.status is OrderStatus.FILLED:  # done: it closes nothing more
                if exit_order.id == stored.stop_loss_order_id:
                    remaining.stop_loss_order_id = None
                else:
                    remaining.take_profit_order_id = None
        else:
            reason, exit_price, exit_fee = "PARTIAL_CLOSE", await last_known_price(exchange, stored), None
            exit_time = None
            notes = (f"{plain(closed)} of {plain(stored.quantity)} closed on the exchange outside Sparky; "
                     "exit price is the last price when Sparky saw it")
        trade = build_trade(stored, exit_price=exit_price, quantity=closed, exit_reason=reason,
                            order_id=exit_order.id if exit_order else None, notes=notes, exit_fee=exit_fee,
                            exit_time=exit_time,
                            dollars=await dollar_terms(exchange, stored.symbol, exit_price, closed,
                                                         exit_order if reason != "PARTIAL_CLOSE" else None))
        await self._store.record_partial_close(trade, remaining)
        log.info("position.partly_closed_on_exchange", symbol=stored.symbol, closed=str(closed),
                 remaining=str(live.quantity), exit_reason=reason, exit_price=str(exit_price))
        return trade, remaining

    @staticmethod
    async def _filled_exit(exchange: Exchange, stored: PositionRecord) -> tuple[Order | None, str]:
        for kind, order_id in (("STOP_LOSS", stored.stop_loss_order_id),
                               ("TAKE_PROFIT", stored.take_profit_order_id)):
            order = await exchange.get_order(stored.symbol, order_id=order_id) if order_id else None
            if order is not None and order.filled_quantity > 0:
                return await with_fee(exchange, order), kind
        return None, "PARTIAL_CLOSE"

    async def _record_growth(self, exchange: Exchange, stored: PositionRecord, live: Position) -> PositionRecord:
        """Added to outside Sparky: the venue's quantity and average entry; nothing closed, no trade."""
        stored.quantity, stored.entry_price = live.quantity, live.entry_price
        stored.position_size_usd = await value_usd(exchange, stored.symbol, live.quantity, live.entry_price)
        await self._store.upsert_position(stored)
        log.info("position.grew_on_exchange", symbol=stored.symbol, quantity=str(live.quantity),
                 entry_price=str(live.entry_price))
        return stored

    async def _adopt(self, exchange: Exchange, user_id: str, live: Position) -> PositionRecord:
        record = record_from_live(user_id, exchange.name, live, "Adopted from the exchange",
                                  await venue_asset_class(exchange, live.symbol))
        stop, target = await open_exits(exchange, live.symbol, live.side)
        if stop is not None:
            record.stop_loss_order_id, record.stop_loss_price = stop.id, stop.trigger_price
        if target is not None:
            record.take_profit_order_id, record.take_profit_price = target.id, target.trigger_price
        await self._store.upsert_position(record)
        log.info("position.adopted", symbol=live.symbol, side=live.side.value, quantity=str(live.quantity))
        return record


def _fee_share(order: Order, quantity: Decimal) -> Decimal | None:
    """The part of an exit's fee that `quantity` of its fill carries."""
    if order.fee is None or quantity >= order.filled_quantity:
        return order.fee
    return (order.fee * quantity / order.filled_quantity).quantize(PNL_QUANT)
