"""Between signals, every open position keeps a stop that rests on the venue (invariant 3).

The reconcile loop hands each stored position here after the signal-time reconciliation. Its stop
is looked up by id:
- resting, for the position's quantity: nothing to do;
- resting for another quantity (part closed, or a resting entry filled further outside Sparky):
  new exits for the held quantity are placed first, then the old ones cancelled — never a moment
  without a stop;
- cancelled, rejected, expired, spent (filled while the position is still held), or never placed
  (a resting entry's fill whose stop would not go on): placed again at its stored price
  (execution/protection.py); when it cannot be, the position is closed at market by the emergency
  path (execution/emergency.py) and the user and operator are told (`position_unprotected`);
- "not found": some venues forget orders or answer a look-up from a lagging replica, so one
  answer is not proof. It counts as missing only after `CONFIRM_MISSING` consecutive looks.
A position stored without a stop price (opened with `stop_loss_percent: 0`, or adopted without
one: its owner is told once, when it is adopted) is left as its owner chose.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

import structlog

from sparky.exchanges.base import Exchange, Order, OrderStatus, Side
from sparky.execution.emergency import EmergencyExit
from sparky.execution.executor import Job
from sparky.execution.orders import cancel_quietly
from sparky.execution.protection import Protection, ProtectionFailed, Protector
from sparky.signals.models import Signal
from sparky.store.base import PositionRecord, Store

log = structlog.get_logger("sparky.monitor")

#: consecutive "not found" answers that count a stop as gone
CONFIRM_MISSING = 3


@dataclass
class StopCheck:
    """What a look at one position's stop did."""

    #: the stop is not confirmed yet (a "not found" being counted): look again soon
    suspect: bool = False
    replaced: bool = False
    resized: bool = False
    #: the stop could not be placed again: what the user and the operator are told
    alarm: str | None = None
    #: ... and the position is still open (the emergency close did not confirm it flat)
    still_open: bool = False


class StopKeeper:
    def __init__(self, store: Store, protector: Protector, emergency: EmergencyExit) -> None:
        self._store = store
        self._protector = protector
        self._emergency = emergency
        #: (user, exchange, symbol) → stop id → consecutive "not found" answers (this server's view);
        #: by key, so the reconcile loop's per-position `suspect` is one look-up, not a scan
        self._misses: dict[tuple[str, str, str], dict[str, int]] = {}
        #: key → the quantity its exits were last resized to
        self._sized: dict[tuple[str, str, str], Decimal] = {}

    def suspect(self, user_id: str, exchange: str, symbol: str) -> bool:
        return (user_id, exchange, symbol) in self._misses

    async def check(self, exchange: Exchange, position: PositionRecord) -> StopCheck:
        if position.stop_loss_price is None or position.trailing_stop_order_id:
            return StopCheck()  # no stop asked for, or the venue's trailing stop guards it
        key = (position.user_id, position.exchange, position.symbol)
        stop = None
        if position.stop_loss_order_id:
            stop = await exchange.get_order(position.symbol, order_id=position.stop_loss_order_id)
            if stop is None:
                counts = self._misses.setdefault(key, {})
                misses = counts[position.stop_loss_order_id] = counts.get(position.stop_loss_order_id, 0) + 1
                log.warning("monitor.stop_not_found", symbol=position.symbol, order_id=position.stop_loss_order_id,
                            times=misses)
                if misses < CONFIRM_MISSING:
                    return StopCheck(suspect=True)
            self._forget(key)
            if stop is not None and stop.status is OrderStatus.OPEN:
                # 0: it closes whatever is held. Once per quantity: a venue that reports a stop's size
                # its own way (a trade's units) is never resized on every pass
                if stop.quantity and stop.quantity != position.quantity and self._sized.get(key) != position.quantity:
                    self._sized[key] = position.quantity
                    return await self._resize(exchange, position, stop)
                return StopCheck()
        self._forget(key)
        return await self._replace(exchange, position, stop)

    def _forget(self, key: tuple[str, str, str]) -> None:
        self._misses.pop(key, None)

    async def _replace(self, exchange: Exchange, position: PositionRecord, stop: Order | None) -> StopCheck:
        """The stop is gone (or was never placed): place it again, with the target if that is gone too."""
        symbol = position.symbol
        log.error("monitor.stop_missing", symbol=symbol, order_id=position.stop_loss_order_id,
                  status=stop.status.value if stop else "not found")
        target_gone = await self._gone(exchange, symbol, position.take_profit_order_id)
        job = _job(position)
        side = Side.BUY if position.side == "BUY" else Side.SELL
        live = await exchange.position(symbol)
        if live is None or live.side is not side:
            return StopCheck()  # closed meanwhile: the next look records it
        position.quantity, position.stop_loss_order_id = live.quantity, None
        if target_gone:
            position.take_profit_order_id = None
        await self._store.upsert_position(position)  # it names no order that is gone, whatever follows
        try:
            placed = await self._place_exits(exchange, position, job, side, live.quantity, with_target=target_gone)
        except ProtectionFailed as err:
            outcome = await self._emergency.flatten(exchange, job, f"The stop-loss of {symbol} was gone from "
                                                    f"{exchange.name} and could not be placed again ({err.reason})")
            message = str(outcome.body.get("error") or outcome.body.get("message"))
            return StopCheck(alarm=message, still_open=bool(outcome.extra.get("unprotected")))
        await self._record_exits(position, placed)
        log.warning("monitor.stop_replaced", symbol=symbol, stop_loss_order_id=position.stop_loss_order_id,
                    take_profit_order_id=position.take_profit_order_id)
        return StopCheck(replaced=True)

    async def _resize(self, exchange: Exchange, position: PositionRecord, stop: Order) -> StopCheck:
        """Exits for the held quantity: the new ones first, then the old ones cancelled. If the new
        ones will not go on, the old stop still rests and the next look tries again."""
        symbol, side = position.symbol, Side.BUY if position.side == "BUY" else Side.SELL
        target = (await exchange.get_order(symbol, order_id=position.take_profit_order_id)
                  if position.take_profit_order_id else None)
        keep_target = target is not None and target.status is OrderStatus.OPEN
        try:
            placed = await self._place_exits(exchange, position, _job(position), side, position.quantity,
                                             with_target=keep_target)
        except ProtectionFailed as err:
            self._sized.pop((position.user_id, position.exchange, symbol), None)  # try again on the next pass
            log.warning("monitor.resize_failed", symbol=symbol, reason=err.reason)
            return StopCheck(suspect=True)
        old = [stop.id, target.id if target is not None and keep_target and placed.take_profit else None]
        await self._record_exits(position, placed)
        left = await cancel_quietly(exchange, symbol, old)
        log.info("monitor.exits_resized", symbol=symbol, quantity=str(position.quantity), uncancelled=left)
        return StopCheck(resized=True)

    async def _place_exits(self, exchange: Exchange, position: PositionRecord, job: Job, side: Side,
                           quantity: Decimal, *, with_target: bool) -> Protection:
        """The position's stop (and its target, `with_target`) for `quantity`, under the repair's client ids."""
        return await self._protector.protect(
            exchange, symbol=position.symbol, position_side=side, quantity=quantity,
            stop_loss=position.stop_loss_price, take_profit=position.take_profit_price if with_target else None,
            client_ids=(job.cid("sl"), job.cid("tp")))

    async def _record_exits(self, position: PositionRecord, placed: Protection) -> None:
        """The row names the exits just placed (a target not placed again keeps the one it named)."""
        position.stop_loss_order_id = placed.stop_loss.order_id if placed.stop_loss else None
        if placed.take_profit is not None:
            position.take_profit_order_id = placed.take_profit.order_id
        await self._store.upsert_position(position)

    @staticmethod
    async def _gone(exchange: Exchange, symbol: str, order_id: str | None) -> bool:
        if not order_id:
            return True
        order = await exchange.get_order(symbol, order_id=order_id)
        return order is None or order.status is not OrderStatus.OPEN


def _job(position: PositionRecord) -> Job:
    """The monitor's own request for one repair: fresh client ids (`-sl`, `-tp`, and `-f` for the
    emergency close), so the emergency path finds and cancels what this repair placed."""
    action = "close_long" if position.side == "BUY" else "close_short"
    signal = Signal(action=action, symbol=position.symbol, exchange=position.exchange)
    return Job(str(uuid.uuid4()), position.user_id, signal)
