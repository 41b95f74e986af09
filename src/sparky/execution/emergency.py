"""The emergency path (invariant 3): no confirmed stop, no position.

It runs when an entry may have filled and its stop is not confirmed: the stop was refused, the
entry's outcome is unknown, or something nobody expected broke after the entry went out. Whatever
caused it (a rate limit, an outage, a reply nobody could read) is likely still there, so every step
before the close is best effort and none of them can stop the close from being tried. The outcome
is what the venue confirms: flat (closed at market, or nothing was open), or not known to be flat —
then the UNPROTECTED alarm: a `position.unprotected` critical event, the user notified, and the
response saying so.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog

from sparky.exchanges.base import Exchange, Order, OrderStatus, Position
from sparky.execution.closing import CloseResult, PositionCloser
from sparky.execution.exits import resting_orders, survivors_warning, sweep
from sparky.execution.orders import cancel_quietly
from sparky.execution.outcome import Outcome, add_warning, order_view, pnl_view
from sparky.execution.reconcile import Reconciler

if TYPE_CHECKING:
    from sparky.execution.executor import Job

log = structlog.get_logger("sparky.emergency")


def flattened(message: str, result: CloseResult, reversal: CloseResult | None) -> Outcome:
    """The position was closed at market because it could not be protected."""
    extra = {"reversed": reversal.view()} if reversal else {}
    outcome = Outcome.failed(message, action="protection_failed", closeOrder=order_view(result.order),
                             pnl=pnl_view(result.trade), **extra)
    add_warning(outcome.body, result.warning)
    return outcome


def _described(err: BaseException) -> str:
    return f"{type(err).__name__}: {getattr(err, 'message', None) or err}"


class EmergencyExit:
    def __init__(self, closer: PositionCloser, reconciler: Reconciler) -> None:
        self._closer = closer
        self._reconciler = reconciler

    async def flatten(self, exchange: Exchange, job: Job, problem: str, *, entry: Order | None = None,
                      reversal: CloseResult | None = None, flat_action: str = "protection_failed") -> Outcome:
        """Close what this request's entry may have opened. `problem` says why (it leads every
        message); `entry` is the entry as last seen, if known (what to close when the position
        cannot be read); `flat_action` is the action reported when nothing turns out to be open."""
        symbol = job.signal.symbol
        log.error("protection.failed", reason=problem)
        extra: dict[str, Any] = {"reversed": reversal.view()} if reversal else {}
        working = await self._stop_own_orders(exchange, job)
        live, known = await self._held(exchange, symbol)
        if known and live is None and working is None:
            outcome = Outcome.failed(f"{problem}; nothing is open", action=flat_action, **extra)
            left = await self._sweep(exchange, symbol, unknown=[])
            add_warning(outcome.body, survivors_warning(left, symbol) if left else None)
            return outcome
        target = live if known else await self._from_entry(exchange, entry, symbol)
        if target is None:
            failure = (f"the entry order {working} is still working and could not be cancelled" if working
                       else "the position could not be read")
            return self._unprotected(exchange, job, problem, failure, extra)
        if known:
            await self._best_effort(self._reconciler.reconcile(exchange, job.user_id, symbol), "reconcile")
        try:
            result = await self._closer.close(exchange, user_id=job.user_id, live=target,
                                              exit_reason="PROTECTION_FAILED", client_order_id=job.cid("f"),
                                              resume=job.resume, inferred=not known)
        except Exception as err:  # noqa: BLE001 — whatever it was, the venue decides what is open
            log.error("emergency.close_failed", error=_described(err))
            if working is None and await self._confirmed_flat(exchange, symbol):
                return Outcome.failed(f"{problem}; the position is closed, but the emergency close reported "
                                      f"{_described(err)}", action="protection_failed", **extra)
            return self._unprotected(exchange, job, problem, f"the emergency close failed ({_described(err)})",
                                     extra)
        if working is not None:
            return self._unprotected(exchange, job, problem, f"the entry order {working} is still working and "
                                     "could not be cancelled", extra)
        result.uncancelled = await self._sweep(exchange, symbol, unknown=result.uncancelled)
        return flattened(f"{problem}; position closed at market", result, reversal)

    async def _stop_own_orders(self, exchange: Exchange, job: Job) -> str | None:
        """Cancel what this request still has working (the entry's remainder, a stop or target
        that made it after all). Returns the id of an entry that is still working, if any."""
        symbol = job.signal.symbol
        found = await asyncio.gather(*(exchange.get_order(symbol, client_order_id=job.cid(role))
                                       for role in ("e", "sl", "tp")), return_exceptions=True)
        open_ids = {}
        for role, order in zip(("e", "sl", "tp"), found, strict=True):
            if isinstance(order, BaseException):
                log.warning("emergency.lookup_failed", role=role, error=_described(order))
            elif order is not None and order.status is OrderStatus.OPEN:
                open_ids[role] = order.id
        if not open_ids:
            return None
        left = await self._best_effort(cancel_quietly(exchange, symbol, open_ids.values()), "cancel")
        if left is None:
            left = list(open_ids.values())
        return open_ids["e"] if open_ids.get("e") in left else None

    @staticmethod
    async def _held(exchange: Exchange, symbol: str) -> tuple[Position | None, bool]:
        """(the position, whether the venue said so)."""
        try:
            return await exchange.position(symbol), True
        except Exception as err:  # noqa: BLE001 — unread is not flat
            log.warning("emergency.position_unread", error=_described(err))
            return None, False

    async def _confirmed_flat(self, exchange: Exchange, symbol: str) -> bool:
        live, known = await self._held(exchange, symbol)
        return known and live is None

    @staticmethod
    async def _from_entry(exchange: Exchange, entry: Order | None, symbol: str) -> Position | None:
        """The position the entry made, when the venue will not tell: the key was flat before it,
        so what the entry filled is what is held."""
        if entry is None:
            return None
        filled = entry.filled_quantity or (entry.quantity if entry.status is OrderStatus.FILLED else Decimal(0))
        if not filled:
            return None
        price = entry.average_price or entry.price
        if price is None:
            try:
                price = await exchange.last_price(symbol)
            except Exception:  # noqa: BLE001 — the close matters more than the P&L's reference
                price = Decimal(0)
        return Position(symbol, entry.side, filled, price)

    async def _sweep(self, exchange: Exchange, symbol: str, *, unknown: list[str]) -> list[str]:
        """The key is flat: its exits go too (a bracket's legs, a stop that made it after all).
        Returns the ids still resting; `unknown` when the venue would not list its orders."""

        async def run() -> list[str] | None:
            resting = await resting_orders(exchange, symbol)
            return None if resting is None else await sweep(exchange, symbol, resting)

        left = await self._best_effort(run(), "sweep")
        return unknown if left is None else left

    @staticmethod
    async def _best_effort(work: Any, what: str) -> Any:
        try:
            return await work
        except Exception as err:  # noqa: BLE001 — clean-up never stands between us and the close
            log.warning("emergency.step_failed", step=what, error=_described(err))
            return None

    @staticmethod
    def _unprotected(exchange: Exchange, job: Job, problem: str, failure: str, extra: dict[str, Any]) -> Outcome:
        symbol = job.signal.symbol
        log.critical("position.unprotected", symbol=symbol, exchange=exchange.name, reason=problem, error=failure)
        outcome = Outcome.failed(
            f"UNPROTECTED POSITION: {problem[0].lower()}{problem[1:]} and {failure}. "
            f"Close {symbol} on {exchange.name} by hand.", action="protection_failed", **extra)
        outcome.extra["unprotected"] = True
        return outcome
