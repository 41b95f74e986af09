"""The options monitor: every `tradier_option_trades` row followed until it is closed.

Each run (OPTIONS_MONITOR_SEC, leader-only) reads the rows still `pending_entry` or `open` — and
sends nothing at all when there are none — then, for each row, on its user's own Tradier account:

1. a close order working (`time_exit_order_id`: sent by this monitor or by a close signal) is read:
   filled → `closed` with its trade; ended → forgotten, the contracts left still open;
2. otherwise the OTOCO the entry placed is read (option_steps.follow_otoco): entry filled → `open`;
   entry ended unfilled → `cancelled`; target filled → `closed_tp`; stop filled → `closed_sl`;
3. an open row due to close (option_steps.close_due: outside the trading window with auto-close on,
   or its expiration day past the cut-off) has its working exits cancelled, then ONE market
   `sell_to_close` for the contracts held. Its tag is written on the row before it is sent and its
   id after, so it is never sent twice: a reply lost in between is found by its tag next run.

A trade is recorded for each exit that sold contracts (exchange `tradier_options`, symbol the OCC
symbol, quantity in contracts, prices per share, P&L × the contract size). Tradier's order replies
carry no commission, so `fees_usd` is left empty (unknown) and the P&L is the price difference.
The trade is written before the row, and looked up by its order id before it is written: a run
cut short between the two never records it twice. One row's failure (venue or store) is logged
with the row's id and never stops the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import structlog

from sparky.exchanges.errors import ExchangeError, OutcomeUnknown
from sparky.exchanges.tradier_options.orders import OptionOrder
from sparky.monitor.option_steps import (
    CLOSE_REASON,
    CLOSE_TAG,
    RECORDED_EXITS,
    STOP_LOSS,
    TAKE_PROFIT,
    ClosePolicy,
    Exit,
    Step,
    close_due,
    follow_close,
    follow_otoco,
    held,
)
from sparky.monitor.option_trade_rows import option_trade
from sparky.monitor.option_venue import EXCHANGE, OptionAccount, OptionAccounts
from sparky.notifications import Notifier
from sparky.store.base import Store, utcnow
from sparky.store.option_trades import ACTIVE_STATUSES, OPEN, OptionTradeRecord, OptionTradeStore

log = structlog.get_logger("sparky.monitor.options")

#: rows looked at side by side (each is a request or two to its user's account)
CONCURRENCY = 8
#: close attempts kept on the row, so each attempt has a tag of its own
CLOSE_ATTEMPTS = "close_attempts"
#: the row's contracts were reported held without a working exit (once)
UNPROTECTED_RAISED = "unprotected_raised"

PolicyOf = Callable[[OptionTradeRecord], Awaitable[ClosePolicy]]
#: holds the row's key as a signal for it holds it (a close signal and the monitor never act at once)
Hold = Callable[[OptionTradeRecord], AbstractAsyncContextManager[Any]]


def _unheld(row: OptionTradeRecord) -> AbstractAsyncContextManager[Any]:
    return nullcontext()


class OptionsMonitor:
    def __init__(self, store: Store, accounts: OptionAccounts, notifier: Notifier, policy_of: PolicyOf, *,
                 hold: Hold = _unheld, now: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._rows = cast(OptionTradeStore, store)  # both stores implement both ports
        self._hold = hold
        self._accounts = accounts
        self._notifier = notifier
        self._policy_of = policy_of
        self._now = now

    async def run_once(self) -> int:
        """One pass over the rows being followed; how many there were."""
        rows = await self._rows.option_trades(statuses=ACTIVE_STATUSES)
        if not rows:
            return 0
        gate = asyncio.Semaphore(CONCURRENCY)

        async def follow(row: OptionTradeRecord) -> None:
            async with gate:
                try:
                    account = await self._accounts.account_of(row)
                    async with self._hold(row):
                        fresh = await self._rows.option_trades(user_id=row.user_id, option_symbol=row.option_symbol)
                        current = next((r for r in fresh if r.id == row.id), None)  # as the key's last holder left it
                        if current is not None and current.status in ACTIVE_STATUSES:
                            await self._follow(account, current)
                except Exception as err:  # one row (its venue, its keys, a write) never stops the others
                    log.warning("options.row_failed", option_trade_id=row.id, user_id=row.user_id,
                                option_symbol=row.option_symbol, error=f"{type(err).__name__}: {err}")

        await asyncio.gather(*(follow(row) for row in rows))
        return len(rows)

    async def _follow(self, account: OptionAccount, row: OptionTradeRecord) -> None:
        extra = row.extra_metadata or {}
        if not row.time_exit_order_id and extra.get(CLOSE_TAG):  # sent, its reply lost: find it by its tag
            found = await account.find_by_tag(str(extra[CLOSE_TAG]))
            if found is not None and found.id:
                row = await self._update(row, time_exit_order_id=found.id)
            else:  # it never reached Tradier: nothing works on the contracts, so it may be sent again
                row = await self._update(row, extra_metadata={k: v for k, v in extra.items() if k != CLOSE_TAG})
        if row.time_exit_order_id:
            order = await account.order(row.time_exit_order_id)
            if order is None:
                log.warning("options.close_order_missing", option_trade_id=row.id, order_id=row.time_exit_order_id)
                return
            row = await self._apply(row, follow_close(row, order))
            return  # a close is (or was just) working: the next run decides whether another is due
        order = await account.order(row.entry_order_id)
        if order is None:
            log.warning("options.entry_order_missing", option_trade_id=row.id, order_id=row.entry_order_id)
            return
        row = await self._apply(row, follow_otoco(row, order))
        reason = close_due(row, await self._policy_of(row), self._now())
        if reason is not None:
            await self._close(account, row, order, reason)
        elif row.status == OPEN and held(row) > 0 and order.exits and not any(leg.working for leg in order.exits):
            await self._unprotected(row)

    async def _unprotected(self, row: OptionTradeRecord) -> None:
        """Contracts held with neither exit working (cancelled on Tradier, or a close that did not
        fill): the user must act. Raised once per row."""
        extra = row.extra_metadata or {}
        if extra.get(UNPROTECTED_RAISED):
            return
        log.critical("position.unprotected", option_trade_id=row.id, user_id=row.user_id,
                     option_symbol=row.option_symbol, contracts=str(held(row)), exchange=EXCHANGE)
        self._notifier.notify(row.user_id, "position_unprotected", f"UNPROTECTED POSITION on {row.option_symbol}",
                              f"{held(row)} {row.option_symbol} contracts are held on Tradier with no working "
                              "target or stop", symbol=row.option_symbol, exchange=EXCHANGE)
        await self._update(row, extra_metadata={**extra, UNPROTECTED_RAISED: True})

    async def _close(self, account: OptionAccount, row: OptionTradeRecord, order: OptionOrder, reason: str) -> None:
        """Cancel what still works of the OTOCO (its exits, and the rest of an entry filled in part),
        then send one market sell_to_close for what is held."""
        if order.working and row.entry_order_id:
            try:
                await account.cancel(row.entry_order_id)
            except ExchangeError as err:  # finalised meanwhile (an exit filled?): the read below says
                log.info("options.exits_cancel_refused", option_trade_id=row.id, error=str(err))
            order = await account.order(row.entry_order_id) or order
            row = await self._apply(row, follow_otoco(row, order))
            if row.status != OPEN:
                return
            if order.working:  # never sell while an exit could sell the same contracts (or the entry buy more)
                log.warning("options.exits_still_working", option_trade_id=row.id, order_id=row.entry_order_id)
                return
        attempt = int((row.extra_metadata or {}).get(CLOSE_ATTEMPTS) or 0) + 1
        tag = f"sp{str(row.id).replace('-', '')[:24]}-x{attempt}"
        extra = {**(row.extra_metadata or {}), CLOSE_TAG: tag, CLOSE_REASON: reason, CLOSE_ATTEMPTS: attempt}
        row = await self._update(row, extra_metadata=extra)  # before the send: a lost reply is found by it
        try:
            order_id = await account.sell_to_close(row, held(row), tag)
        except OutcomeUnknown:
            log.warning("options.close_outcome_unknown", option_trade_id=row.id, tag=tag)
            return  # the next run looks the tag up
        except ExchangeError as err:
            log.warning("options.close_refused", option_trade_id=row.id, reason=reason, error=str(err))
            await self._update(row, extra_metadata={k: v for k, v in extra.items() if k != CLOSE_TAG})
            return
        log.info("options.close_sent", option_trade_id=row.id, order_id=order_id, reason=reason,
                 contracts=str(held(row)))
        await self._update(row, time_exit_order_id=order_id)

    async def _apply(self, row: OptionTradeRecord, step: Step) -> OptionTradeRecord:
        changes = dict(step.changes)
        if step.exit is not None:
            trade = await self._record(row, step.exit)
            extra = dict(changes.get("extra_metadata") or row.extra_metadata or {})
            extra[RECORDED_EXITS] = [*(extra.get(RECORDED_EXITS) or []), step.exit.leg.id]
            left = held(row) - step.exit.quantity
            total = (row.pnl_usd or Decimal(0)) + trade.pnl_usd
            cost = row.cost_usd or Decimal(0)
            changes.update(status=step.exit.status, extra_metadata=extra, quantity_contracts=left, pnl_usd=total,
                           pnl_percent=(total / cost * 100).quantize(Decimal("0.0001")) if cost else trade.pnl_percent)
            self._tell(row, step.exit, trade)
        if step.event is not None:
            log.info(step.event, option_trade_id=row.id, user_id=row.user_id, option_symbol=row.option_symbol,
                     status=changes.get("status", row.status))
        if not changes:
            return row
        if step.event == "options.entry_filled" and changes.get("status") == OPEN and row.status != OPEN:
            self._notifier.notify(row.user_id, "trade_opened", f"Bought {row.option_symbol}",
                                  f"{changes['quantity_contracts']} {row.option_symbol} contracts filled",
                                  symbol=row.option_symbol, exchange=EXCHANGE)
        return await self._update(row, **changes)

    async def _record(self, row: OptionTradeRecord, sold: Exit) -> Any:
        """The exit's trade, written once: an earlier run that wrote it before being cut short left it."""
        trade = option_trade(row, sold, now=self._now())
        existing = await self._store.list_trades(user_id=row.user_id, symbol=row.option_symbol, limit=100)
        for found in existing:
            if found.exchange == trade.exchange and found.order_id == trade.order_id:
                return found
        await self._store.record_close(trade)
        return trade

    def _tell(self, row: OptionTradeRecord, sold: Exit, trade: Any) -> None:
        pnl = trade.pnl_usd.quantize(Decimal("0.01"))
        detail = f"{sold.quantity} {row.option_symbol} sold at {trade.exit_price}: {pnl} USD"
        extra = {"symbol": row.option_symbol, "pnl": float(pnl), "pnlPercent": float(trade.pnl_percent),
                 "exitReason": sold.reason, "exchange": EXCHANGE}
        if sold.reason in (TAKE_PROFIT, STOP_LOSS):
            event = "take_profit_triggered" if sold.reason == TAKE_PROFIT else "stop_loss_triggered"
            title = f"{'Take profit' if sold.reason == TAKE_PROFIT else 'Stop loss'} hit on {row.option_symbol}"
        else:
            event = "position_closed_profit" if pnl > 0 else "position_closed_loss"
            title = f"Closed {row.option_symbol} ({sold.reason.replace('_', ' ').lower()})"
        self._notifier.notify(row.user_id, event, title, detail, **extra)

    async def _update(self, row: OptionTradeRecord, **changes: Any) -> OptionTradeRecord:
        updated = await self._rows.update_option_trade(str(row.id), **changes)
        return updated if updated is not None else row
