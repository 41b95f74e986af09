"""Put the stop-loss (and take-profit) on the exchange after an entry fills (invariant 3).

Retries only errors the venue calls retryable, with backoff, a bounded number of times; an
unknown outcome is resolved by looking the order up by client id. If the stop still cannot be
placed, `ProtectionFailed` tells the executor to close the position at market.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TypeVar

import structlog

from sparky.exchanges.base import Bracket, Exchange, Order, OrderKind, OrderRequest, Side
from sparky.exchanges.errors import ExchangeError
from sparky.exchanges.http import with_retries
from sparky.execution.orders import send_order

log = structlog.get_logger("sparky.protection")

T = TypeVar("T")


class ProtectionFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Exit:
    """A protective order resting on the venue."""

    order_id: str
    price: Decimal | None
    #: a trailing stop the venue placed with this stop-loss
    trailing_order_id: str | None = None

    @classmethod
    def of(cls, order: Order | None) -> Exit | None:
        return None if order is None else cls(order.id, order.trigger_price or order.price,
                                              order.trailing_stop_order_id)


@dataclass
class Protection:
    stop_loss: Exit | None = None
    take_profit: Exit | None = None
    #: why the take-profit is missing, when it was asked for (never fatal)
    take_profit_error: str | None = None


class Protector:
    def __init__(self, attempts: int, *, backoff_seconds: float = 0.05) -> None:
        self._attempts = attempts
        self._backoff = backoff_seconds

    async def _retried(self, send: Callable[[bool], Awaitable[T]], resume: bool) -> T:
        """`send(again)` retried as the venue reads are (`with_retries`, waits of at most 1 s). `again`
        is True on a resumed request and on every retry: a retry may follow an attempt that reached
        the venue, so it looks the order up before sending."""
        tries = 0

        async def attempt() -> T:
            nonlocal tries
            tries += 1
            return await send(resume or tries > 1)

        return await with_retries(attempt, attempts=self._attempts, backoff=self._backoff, max_wait=1)

    async def protect(
        self,
        exchange: Exchange,
        *,
        symbol: str,
        position_side: Side,
        quantity: Decimal,
        stop_loss: Decimal | None,
        take_profit: Decimal | None,
        client_ids: tuple[str, str],
        resume: bool = False,
    ) -> Protection:
        exit_side = position_side.opposite
        sl_request = tp_request = None
        if stop_loss is not None:
            sl_request = OrderRequest(symbol, exit_side, OrderKind.STOP, quantity, client_ids[0],
                                      trigger_price=stop_loss, reduce_only=True)
        if take_profit is not None:
            tp_request = OrderRequest(symbol, exit_side, OrderKind.TAKE_PROFIT, quantity, client_ids[1],
                                      trigger_price=take_profit, reduce_only=True)

        caps = exchange.capabilities
        if sl_request and tp_request and (caps.oco or caps.batch_orders):
            try:
                sl, tp = await self._retried(lambda again: self._pair(exchange, sl_request, tp_request, again), resume)
                return Protection(Exit.of(sl), Exit.of(tp), None if tp else "the venue did not accept the take-profit")
            except ExchangeError as err:
                raise ProtectionFailed(f"{type(err).__name__}: {err.message}") from err

        protection = Protection()
        if sl_request is not None:
            try:
                protection.stop_loss = Exit.of(await self._single(exchange, sl_request, resume))
            except ExchangeError as err:
                raise ProtectionFailed(f"{type(err).__name__}: {err.message}") from err
        if tp_request is not None:
            try:
                protection.take_profit = Exit.of(await self._single(exchange, tp_request, resume))
            except ExchangeError as err:
                protection.take_profit_error = f"{type(err).__name__}: {err.message}"
                log.warning("protection.take_profit_failed", error=protection.take_profit_error)
        return protection

    async def protect_entry(self, exchange: Exchange, entry: Order, *, symbol: str, quantity: Decimal,
                            stop_loss: Decimal | None, take_profit: Decimal | None, attached: Bracket | None,
                            client_ids: tuple[str, str], resume: bool = False) -> Protection:
        """The exits of a filled entry: what the venue attached to it, and whatever is still
        missing placed now. `attached` is the bracket sent with the entry (its prices are ours)."""

        async def known(order_id: str | None, price: Decimal | None) -> Exit | None:
            if not order_id:
                return None
            if attached is not None:  # we sent its price: no need to ask
                return Exit(order_id, price)
            return Exit.of(await exchange.get_order(symbol, order_id=order_id))  # resumed after a crash

        found = Protection(await known(entry.stop_loss_order_id, stop_loss),
                           await known(entry.take_profit_order_id, take_profit))
        if found.stop_loss is not None or stop_loss is None and (take_profit is None or found.take_profit):
            return found
        placed = await self.protect(
            exchange, symbol=symbol, position_side=entry.side, quantity=quantity, stop_loss=stop_loss,
            take_profit=None if found.take_profit else take_profit, client_ids=client_ids, resume=resume)
        return Protection(placed.stop_loss, placed.take_profit or found.take_profit, placed.take_profit_error)

    async def _single(self, exchange: Exchange, request: OrderRequest, resume: bool) -> Order:
        return await self._retried(lambda again: send_order(exchange, request, resume=again), resume)

    async def _pair(
        self, exchange: Exchange, sl: OrderRequest, tp: OrderRequest, resume: bool
    ) -> tuple[Order, Order | None]:
        if resume:
            found_sl = await exchange.get_order(sl.symbol, client_order_id=sl.client_order_id)
            found_tp = await exchange.get_order(tp.symbol, client_order_id=tp.client_order_id)
            if found_sl is not None and found_tp is not None:
                return found_sl, found_tp
            if found_sl is not None:  # keep the stop that made it; only the target is missing
                try:
                    return found_sl, await send_order(exchange, tp, resume=True)
                except ExchangeError as err:
                    log.warning("protection.take_profit_failed", error=f"{type(err).__name__}: {err.message}")
                    return found_sl, None
        return await exchange.place_exit_pair(sl, tp)
