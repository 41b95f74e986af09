"""What one look at an option trade's orders means for its row: the pure half of the options monitor.

`follow_otoco` reads the OTOCO the entry placed, `follow_close` the market close sent later (by
the monitor or by a close signal); each answers a `Step`: the columns to write and, when contracts
were sold, the `Exit` to record as a trade. `close_due` says whether an open row must be closed
now (outside the trading window, or on its expiration day past the cut-off). No I/O: the caller
(monitor/options.py) reads the orders, writes the row and records the trade.

Quantities are what Tradier reports filled (`exec_quantity`), never what was asked: a partial
entry opens the row with the contracts bought; an exit that ends after a partial fill records a
trade for the contracts it sold and leaves the rest open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

from sparky.exchanges.tradier_options.orders import FILLED, Leg, OptionOrder, parse_leg
from sparky.signals.trading_window import NEW_YORK, window_refusal, zone
from sparky.store.option_trades import CANCELLED, CLOSED, CLOSED_SL, CLOSED_TP, OPEN, PENDING_ENTRY, OptionTradeRecord

MONEY = Decimal("0.00000001")
#: US equity options stop trading at 16:00 New York time (the expiry cut-off counts back from it)
MARKET_CLOSE_MINUTE = 16 * 60
PERCENT = Decimal("0.0001")

TAKE_PROFIT, STOP_LOSS = "TAKE_PROFIT", "STOP_LOSS"
#: why a close order was sent (extra_metadata `close_reason`), and the trade's exit_reason
TIME_EXIT, EXPIRY, MANUAL = "TIME_EXIT", "EXPIRY", "MANUAL"
#: extra_metadata keys the monitor keeps on the row
ENTRY_FILL = "entry_fill_price"
ENTRY_FILLED = "entry_filled_contracts"
RECORDED_EXITS = "recorded_exit_ids"
CLOSE_REASON = "close_reason"
CLOSE_TAG = "close_tag"


@dataclass(frozen=True)
class Exit:
    """Contracts sold by one exit order: recorded as a trade."""

    leg: Leg
    reason: str
    quantity: Decimal
    #: the row's status once this exit is recorded (OPEN when contracts remain)
    status: str


@dataclass
class Step:
    changes: dict[str, Any] = field(default_factory=dict)
    exit: Exit | None = None
    #: what happened, for the log (`options.entry_filled`, …); None when nothing changed
    event: str | None = None


@dataclass(frozen=True)
class ClosePolicy:
    """When an open row is closed at market without a signal."""

    auto_close_outside_window: bool
    trading_hours_preset: str | None
    trading_window: list[str] | None
    #: from when on the expiration date (New York time) the row is sold; None: held to expiry
    expiry_cutoff: time | None


def held(row: OptionTradeRecord) -> Decimal:
    return row.quantity_contracts or Decimal(0)


def entry_price(row: OptionTradeRecord) -> Decimal | None:
    """The entry's fill price per share: as recorded when it filled, else from the cost."""
    recorded = (row.extra_metadata or {}).get(ENTRY_FILL)
    if recorded not in (None, ""):
        return Decimal(str(recorded))
    if row.cost_usd and row.quantity_contracts:
        return row.cost_usd / (row.quantity_contracts * row.contract_size)
    return row.entry_limit_price


def _seen(stored: dict[str, Any] | None, leg: Leg | None) -> bool:
    """Whether the stored vendor JSON already shows this leg's status and fill."""
    if leg is None:
        return True
    if not stored:
        return False
    before = parse_leg(stored)
    return (before.status, before.filled) == (leg.status, leg.filled)


def _exit_of(leg: Leg | None, reason: str, row: OptionTradeRecord, quantity: Decimal) -> Exit | None:
    """An exit to record when `leg` is done and sold contracts not recorded yet."""
    if leg is None or not leg.done or leg.filled <= 0 or leg.id in _recorded(row):
        return None
    sold = min(leg.filled, quantity) if quantity > 0 else leg.filled
    closed_status = {TAKE_PROFIT: CLOSED_TP, STOP_LOSS: CLOSED_SL}.get(reason, CLOSED)
    return Exit(leg, reason, sold, closed_status if sold >= quantity else OPEN)


def _recorded(row: OptionTradeRecord) -> list[str]:
    return list((row.extra_metadata or {}).get(RECORDED_EXITS) or [])


def follow_otoco(row: OptionTradeRecord, order: OptionOrder) -> Step:
    """The row after a look at its OTOCO: entry filled → open, ended unfilled → cancelled; target
    filled → closed_tp, stop filled → closed_sl (both in one look when the monitor missed the open)."""
    step = Step()
    entry, extra = order.entry, dict(row.extra_metadata or {})
    for column, leg in (("entry_order", entry), ("tp_leg", order.target), ("sl_leg", order.stop)):
        if not _seen(getattr(row, column), leg):
            step.changes[column] = leg.raw  # type: ignore[union-attr]
    status, quantity = row.status, held(row)
    # contracts the entry had filled at the last look (a row opened elsewhere: what it holds)
    bought = Decimal(str(extra.get(ENTRY_FILLED) or (0 if status == PENDING_ENTRY else quantity)))
    if entry is not None and status in (PENDING_ENTRY, OPEN) and entry.filled > bought:
        price = entry.fill_price or entry_price(row)
        # contracts sold meanwhile stay sold: only what the entry bought since the last look is added
        status, quantity = OPEN, (quantity if status == OPEN else Decimal(0)) + entry.filled - bought
        extra.update({ENTRY_FILL: str(price) if price is not None else None, ENTRY_FILLED: str(entry.filled)})
        step.changes.update(status=OPEN, quantity_contracts=quantity, extra_metadata=extra,
                            cost_usd=None if price is None else (price * entry.filled * row.contract_size).quantize(MONEY))
        step.event = "options.entry_filled" if entry.status == FILLED else "options.entry_partially_filled"
    elif entry is not None and status == PENDING_ENTRY and entry.done and entry.filled <= 0:
        step.changes["status"] = CANCELLED
        step.event = "options.entry_cancelled"
        return step
    if status != OPEN:
        return step
    for leg, reason in ((order.target, TAKE_PROFIT), (order.stop, STOP_LOSS)):
        found = _exit_of(leg, reason, row, quantity)
        if found is not None:
            step.exit = found
            step.event = "options.exit_filled"
            break
    return step


def follow_close(row: OptionTradeRecord, order: OptionOrder) -> Step:
    """The row after a look at its market close: filled → closed (and the trade); ended with part
    or none of it filled → still open with what is left, the close forgotten so it can be sent again."""
    step = Step()
    leg = order.single or order.entry or order.target or order.stop
    if leg is None:
        return step
    if not _seen(row.time_exit_order, leg):
        step.changes["time_exit_order"] = leg.raw
    if row.status != OPEN or leg.working:
        return step
    reason = str((row.extra_metadata or {}).get(CLOSE_REASON) or MANUAL)
    found = _exit_of(leg, reason, row, held(row))
    if found is not None:
        step.exit = found
        step.event = "options.close_filled"
    if found is None or found.status == OPEN:  # not (all) sold: nothing works on the rest now
        extra = dict(row.extra_metadata or {})
        extra.pop(CLOSE_TAG, None)
        step.changes.update(time_exit_order_id=None, extra_metadata=extra)
        step.event = step.event or "options.close_ended_unfilled"
    return step


def close_due(row: OptionTradeRecord, policy: ClosePolicy, now: datetime) -> str | None:
    """EXPIRY on the expiration date from the cut-off (New York time) on, TIME_EXIT outside the
    trading window when the user auto-closes; None otherwise. Only open rows with no close working."""
    if row.status != OPEN or row.time_exit_order_id or held(row) <= 0:
        return None
    local = now.astimezone(zone(NEW_YORK))
    expiry: date | None = row.expiration_date
    # on the day only: once expired, the contracts are gone and no order could sell them
    cutoff = policy.expiry_cutoff
    if expiry is not None and cutoff is not None and local.date() == expiry and local.time() >= cutoff:
        return EXPIRY
    if policy.auto_close_outside_window and window_refusal(policy.trading_hours_preset, policy.trading_window,
                                                           now.astimezone(UTC)) is not None:
        return TIME_EXIT
    return None


def pnl(row: OptionTradeRecord, exit_price: Decimal, quantity: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    """(entry price, P&L in dollars, P&L percent of the cost) of selling `quantity` contracts."""
    entry = entry_price(row) or Decimal(0)
    multiplier = Decimal(row.contract_size or 100)
    gross = ((exit_price - entry) * quantity * multiplier).quantize(MONEY)
    cost = entry * quantity * multiplier
    percent = (gross / cost * 100).quantize(PERCENT) if cost else Decimal(0)
    return entry, gross, percent
