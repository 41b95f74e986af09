"""Closing option trades: by `option_symbol`, or every open row of the user on the `underlying`.

For each row: its OTOCO is cancelled first (the working target and stop, or an entry not yet
filled), then what it holds — the entry's filled contracts less what its exits sold, read after the
cancel so a fill racing it is counted — is sold in one market `sell_to_close`. The row keeps the
close order (`time_exit_order_id`); the options monitor records its fill and the trade. A row that
never bought anything is `cancelled` at once."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import structlog

from sparky.exchanges.errors import OutcomeUnknown
from sparky.exchanges.tradier_options.adapter import NAME, TradierOptionsExchange
from sparky.exchanges.tradier_options.forms import market_close_form
from sparky.exchanges.tradier_options.orders import ENDED_UNFILLED
from sparky.execution.executor import Job
from sparky.execution.outcome import Outcome
from sparky.store.base import RequestStatus
from sparky.store.option_trades import ACTIVE_STATUSES, CANCELLED, OptionTradeRecord, OptionTradeStore

log = structlog.get_logger("sparky.options")


class OptionCloses:
    def __init__(self, store: OptionTradeStore) -> None:
        self._store = store

    async def close(self, job: Job, venue: TradierOptionsExchange) -> Outcome:
        terms = job.signal.option
        assert terms is not None
        rows = await self._store.option_trades(user_id=job.user_id, statuses=ACTIVE_STATUSES,
                                               underlying=job.signal.symbol, option_symbol=terms.option_symbol)
        what = terms.option_symbol or f"{job.signal.symbol} option"
        if not rows:
            return Outcome.skipped(f"No open {what} trade to close", success=True)
        results = []
        for index, row in enumerate(rows):
            role = "x" if index == 0 else f"x{index + 1}"  # `x` is what recovery looks for first
            results.append(await self._close_one(job, venue, row, job.cid(role)))
        body = {"success": True, "action": "close_placed", "exchange": NAME, "closes": results,
                "message": f"Closing {len(results)} {what} trade(s): exits cancelled, held contracts sold at market"}
        return Outcome(RequestStatus.SUCCESS, body)

    async def _close_one(self, job: Job, venue: TradierOptionsExchange, row: OptionTradeRecord,
                         tag: str) -> dict[str, Any]:
        assert row.id is not None
        view: dict[str, Any] = {"trade_id": row.id, "option_symbol": row.option_symbol}
        if row.time_exit_order_id and not job.resume:  # an earlier close's order: never sell twice
            earlier = await venue.options.read(row.time_exit_order_id)
            if earlier is not None and earlier.status not in ENDED_UNFILLED:
                view.update(close_order_id=row.time_exit_order_id, status=row.status,
                            message="a close order is already working or filled")
                return view
        order = await venue.options.read(row.entry_order_id) if row.entry_order_id else None
        if row.entry_order_id and order is not None and order.working:
            view["cancelled_order_id"] = row.entry_order_id
            await venue.options.cancel(row.entry_order_id)
            order = await venue.options.read(row.entry_order_id)  # fills that raced the cancel count
        held = order.held if order is not None else Decimal(0)
        view["contracts"] = str(int(held)) if held == held.to_integral_value() else str(held)
        if order is None or held <= 0:
            if order is not None and order.bought <= 0:
                await self._store.update_option_trade(row.id, status=CANCELLED, entry_order=order.raw)
                view["status"] = CANCELLED
            else:
                view["status"] = row.status  # its exits sold it: the monitor records which
            return view
        existing = await venue.options.find(tag) if job.resume else None
        if existing is not None:
            close_id = str(existing["id"])
        else:
            form = market_close_form(underlying=row.underlying_symbol, option_symbol=row.option_symbol,
                                     contracts=int(held), tag=tag)
            try:
                close_id = await venue.options.submit(form)
            except OutcomeUnknown:
                found = await venue.options.find(tag)
                if found is None:
                    raise
                close_id = str(found["id"])
        metadata = {**row.extra_metadata, "close_request_id": job.request_id, "close_tag": tag}
        await self._store.update_option_trade(row.id, time_exit_order_id=close_id, entry_order=order.raw,
                                              time_exit_order={"id": close_id, "quantity": str(held)},
                                              extra_metadata=metadata)
        log.info("options.close.sent", option_symbol=row.option_symbol, contracts=str(held), order_id=close_id)
        view.update(close_order_id=close_id, status=row.status)
        return view
