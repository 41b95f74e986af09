"""A close that did not complete leaves its position protected (invariant 3).

Some venues only let a close through once the position's exits are gone: Tradier counts the shares
held by resting exit orders as unavailable, so its adapter cancels them and sends the close again.
If that close then fails — the market is closed, the venue rate limits or errors on the resent
order — the position is still open and nothing protects it. After every failed close the stored
exits are checked: when the position is still held and an exit no longer rests on the venue, it
is placed again at its stored price and the stored position names the new order; when the stop
cannot be placed again, the answer and a `position.unprotected` critical event say so, as the
executor's emergency path does.
"""

from __future__ import annotations

import structlog

from sparky.exchanges.base import Exchange, OrderStatus
from sparky.exchanges.errors import ExchangeError
from sparky.execution.protection import ProtectionFailed, Protector
from sparky.store.base import PositionRecord, Store

log = structlog.get_logger("sparky.reprotect")


class ExitGuard:
    def __init__(self, store: Store, protector: Protector) -> None:
        self._store = store
        self._protector = protector

    async def after_failed_close(self, exchange: Exchange, stored: PositionRecord | None, error: BaseException,
                                 *, client_order_id: str, resume: bool = False) -> str | None:
        """What the answer must say about the position after its close failed with `error`: that
        its exits were placed again, or that it is UNPROTECTED. None when there is nothing to say:
        its exits still rest on the venue, or it is no longer held (the reconciler records that)."""
        if stored is None or (stored.stop_loss_order_id is None and stored.take_profit_order_id is None):
            return None
        symbol = stored.symbol
        try:
            stop_gone, target_gone = (await self._gone(exchange, symbol, stored.stop_loss_order_id),
                                      await self._gone(exchange, symbol, stored.take_profit_order_id))
            live = await exchange.position(symbol) if stop_gone or target_gone else None
        except ExchangeError as err:  # nothing is known to be cancelled: the next signal looks again
            log.error("close.exits_unchecked", symbol=symbol, error=err.message)
            return None
        if live is None or live.side.value.upper() != stored.side:
            return None
        stop = stored.stop_loss_price if stop_gone else None
        target = stored.take_profit_price if target_gone else None
        if stop is None and target is None:
            return None
        # the stored position names only orders that rest on the venue, whatever happens next
        stored.quantity = live.quantity
        if stop_gone:
            stored.stop_loss_order_id = None
        if target_gone:
            stored.take_profit_order_id = None
        log.warning("close.exits_replaced", symbol=symbol, stop_loss=str(stop), take_profit=str(target))
        try:  # under ids of their own: the request's -sl / -tp belong to the entry it may send
            placed = await self._protector.protect(
                exchange, symbol=symbol, position_side=live.side, quantity=live.quantity, stop_loss=stop,
                take_profit=target, client_ids=(f"{client_order_id}sl", f"{client_order_id}tp"), resume=resume)
        except ProtectionFailed as err:
            await self._store.upsert_position(stored)
            log.critical("position.unprotected", symbol=symbol, error=str(error), reason=err.reason)
            return (f"UNPROTECTED POSITION: the close of {symbol} failed ({error}) after its stop-loss had been "
                    f"cancelled for it, and the stop-loss could not be placed again ({err.reason}). "
                    f"Close {symbol} on {exchange.name} by hand.")
        if placed.stop_loss is not None:
            stored.stop_loss_order_id = placed.stop_loss.order_id
        if placed.take_profit is not None:
            stored.take_profit_order_id = placed.take_profit.order_id
        await self._store.upsert_position(stored)
        again = " and ".join(f"{name} at {price}" for name, price, exit_ in (
            ("stop-loss", stop, placed.stop_loss), ("take-profit", target, placed.take_profit)) if exit_)
        missing = f"; the take-profit could not be ({placed.take_profit_error})" if placed.take_profit_error else ""
        return (f"{error}. {symbol} stays open: its exits, cancelled for the close, were placed again "
                f"({again}){missing}")

    @staticmethod
    async def _gone(exchange: Exchange, symbol: str, order_id: str | None) -> bool:
        if order_id is None:
            return False
        order = await exchange.get_order(symbol, order_id=order_id)
        return order is None or order.status is not OrderStatus.OPEN
