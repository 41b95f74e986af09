"""The trade row of a close, and what stays open after a partial one.

P&L is net: the price difference times the quantity closed, less the fees of that quantity (its
share of the entry's fees, kept on the position row, plus the exit's). A fee the venue does not
report is not guessed: `fees_usd` is None when no fee is known, and P&L is then the gross.

A close the venue made (a stop, a target) is dated when its order filled there, as the venue
reports it (`Order.updated_at`), not when Sparky noticed: that may be the next signal, hours later.

P&L is in dollars: the price difference is in the instrument's quote currency (yen for USD_JPY),
so it is converted with `DollarTerms.quote_usd` (dollars per unit of it, 1 for USD-quoted
instruments), unless the venue reported what the close realised (`DollarTerms.venue_pnl`), which is
then taken as it is (`execution/pnl_currency.py` finds both).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

import structlog

from sparky.exchanges.base import ASSET_CLASSES, DEFAULT_ASSET_CLASS, Exchange, Order, Position
from sparky.exchanges.errors import ExchangeError
from sparky.store.base import PositionRecord, TradeRecord, decode_time, utcnow

log = structlog.get_logger("sparky.execution")

PNL_QUANT = Decimal("0.00000001")
PERCENT_QUANT = Decimal("0.0001")


@dataclass(frozen=True)
class DollarTerms:
    """How a trade's price difference becomes dollars."""

    #: dollars one unit of the quote currency is worth
    quote_usd: Decimal = Decimal(1)
    #: what the venue says the closed quantity realised, before fees; None when it did not say
    venue_pnl: Decimal | None = None


DOLLAR_QUOTED = DollarTerms()


def plain(value: Decimal) -> str:
    """A quantity as people write it in a note: 0.01, not 0.010 or 1E-2."""
    return f"{value.normalize():f}"


def entry_fee_share(position: PositionRecord, quantity: Decimal) -> Decimal | None:
    """The part of the position's entry fees that `quantity` of it carries."""
    if position.fees_usd is None:
        return None
    if quantity >= position.quantity or not position.quantity:
        return position.fees_usd
    return (position.fees_usd * quantity / position.quantity).quantize(PNL_QUANT)


def fill_time(order: Order) -> datetime | None:
    """When the venue says `order` filled (its last change, for a filled order), or None when it
    did not fill or gave no readable time."""
    if order.filled_quantity <= 0 and order.average_price is None:
        return None
    try:
        return decode_time(order.updated_at)
    except (TypeError, ValueError):
        return None


def _total(*fees: Decimal | None) -> Decimal | None:
    known = [fee for fee in fees if fee is not None]
    return sum(known, Decimal(0)) if known else None


def build_trade(
    position: PositionRecord,
    *,
    exit_price: Decimal,
    quantity: Decimal,
    exit_reason: str,
    order_id: str | None,
    notes: str | None = None,
    exit_fee: Decimal | None = None,
    exit_time: datetime | None = None,
    dollars: DollarTerms = DOLLAR_QUOTED,
) -> TradeRecord:
    """P&L in dollars from real fill prices (or the venue's realised P&L of `quantity`), net of
    fees; percent against the real cost (entry × quantity, in dollars).

    `exit_time`: when the exit filled on the venue (default: now). Kept between the entry and now,
    so a venue clock a little off never dates a close before its entry or in the future."""
    now = utcnow()
    exited = now if exit_time is None else min(max(exit_time, position.entry_time), now)
    direction = 1 if position.side == "BUY" else -1
    fees = _total(entry_fee_share(position, quantity), exit_fee)
    quote_usd = dollars.quote_usd
    gross = dollars.venue_pnl if dollars.venue_pnl is not None else (
        (exit_price - position.entry_price) * quantity * direction * quote_usd)
    pnl = (gross - (fees or 0)).quantize(PNL_QUANT)
    cost = (position.entry_price * quantity * quote_usd).quantize(PNL_QUANT)
    percent = (pnl / cost * 100).quantize(PERCENT_QUANT) if cost else Decimal(0)
    return TradeRecord(
        user_id=position.user_id,
        exchange=position.exchange,
        symbol=position.symbol,
        side=position.side,
        entry_price=position.entry_price,
        entry_time=position.entry_time,
        exit_price=exit_price,
        exit_time=exited,
        quantity=quantity,
        position_size_usd=cost,
        pnl_usd=pnl,
        pnl_percent=percent,
        is_winner=pnl > 0,
        exit_reason=exit_reason,
        stop_loss_price=position.stop_loss_price,
        take_profit_price=position.take_profit_price,
        stop_loss_percent=position.stop_loss_percent,
        take_profit_percent=position.take_profit_percent,
        order_id=order_id,
        notes=notes,
        asset_class=position.asset_class,
        strategy_id=position.strategy_id,
        fees_usd=fees,
        ai_strategy_id=position.ai_strategy_id,
    )


def remaining_after(position: PositionRecord, closed: Decimal) -> PositionRecord:
    """The position once `closed` of it is gone: same entry, the rest of its size and of its fees."""
    left = position.quantity - closed
    share = left / position.quantity if position.quantity else Decimal(0)
    fees = position.fees_usd
    if fees is not None:
        fees -= entry_fee_share(position, closed) or 0
    return replace(position, quantity=left, position_size_usd=(position.position_size_usd * share).quantize(PNL_QUANT),
                   fees_usd=fees)


async def last_known_price(exchange: Exchange, position: PositionRecord) -> Decimal:
    """An exit price where no fill shows one: the venue's last price, else the last one known."""
    try:
        return await exchange.last_price(position.symbol)
    except ExchangeError as err:
        log.warning("close.price_unavailable", symbol=position.symbol, error=err.message)
        return position.current_price or position.entry_price


async def venue_asset_class(exchange: Exchange, symbol: str) -> str:
    """The asset class the venue gives `symbol`, for the position and trade rows. Asked once the
    position exists, so it never raises: a label the venue cannot give right now is the default,
    logged, rather than a failure that would treat a protected position as a broken entry."""
    try:
        asset_class = await exchange.asset_class(symbol)
    except Exception as err:
        log.warning("position.asset_class_unknown", symbol=symbol, error_type=type(err).__name__)
        return DEFAULT_ASSET_CLASS
    return asset_class if asset_class in ASSET_CLASSES else DEFAULT_ASSET_CLASS


def record_from_live(user_id: str, exchange: str, live: Position, notes: str,
                     asset_class: str = DEFAULT_ASSET_CLASS) -> PositionRecord:
    return PositionRecord(
        user_id=user_id,
        exchange=exchange,
        symbol=live.symbol,
        side=live.side.value.upper(),
        entry_price=live.entry_price,
        quantity=live.quantity,
        entry_time=utcnow(),
        position_size_usd=live.entry_price * live.quantity,
        notes=notes,
        asset_class=asset_class,
    )
