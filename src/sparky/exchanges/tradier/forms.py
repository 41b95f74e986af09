"""Building Tradier order requests (form-encoded bodies) from our `OrderRequest`s.

Sides: Tradier names the intent. Opening orders are `buy` / `sell_short`, closing orders `sell`
(reduces a long) / `buy_to_cover` (reduces a short). We choose from `reduce_only`: a reduce-only
order always gets the closing word, so the back office itself refuses it when there is nothing
to reduce (UnexpectedSellOrder / UnexpectedBuyToCoverOrder) instead of it opening a position.
Exits (stop-loss, take-profit) are always closing; entries are `day` orders (Tradier refuses
market and short-sale orders with `gtc`), resting exits are `gtc`.

Prices: $0.01 ticks from $1 up, $0.0001 below (Tradier's PricePrecisionIsOutOfRange rule).
Quantities: whole shares, at least one. Everything is formatted from Decimal with
`format(value, "f")` after quantizing: no floats, no scientific notation.
"""

from __future__ import annotations

import re
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from sparky.exchanges.base import Bracket, OrderKind, OrderRequest, Side
from sparky.exchanges.errors import InvalidOrder, UnknownSymbol
from sparky.exchanges.tradier.wire import TAG_JOIN

NAME = "tradier"
PENNY, SUB_PENNY, SHARE = Decimal("0.01"), Decimal("0.0001"), Decimal(1)
_TAG = re.compile(r"^[A-Za-z0-9-]{1,255}$")
_SYMBOL = re.compile(r"^[A-Z0-9][A-Z0-9./-]{0,20}$")

Form = dict[str, str]


def refuse(reason: str) -> InvalidOrder:
    return InvalidOrder(f"{NAME}: {reason}", exchange=NAME)


def normalise_symbol(symbol: str) -> str:
    """Upper-case ticker; anything that could address more than one symbol is refused."""
    text = str(symbol or "").strip().upper()
    if not _SYMBOL.match(text):
        raise UnknownSymbol(f"{NAME}: {symbol!r} is not a stock symbol", exchange=NAME)
    return text


def tick_for(price: Decimal) -> Decimal:
    return PENNY if price >= 1 else SUB_PENNY


def price_text(price: Decimal | None, *, rounding: str = ROUND_HALF_UP, what: str = "price") -> str:
    """Price on the venue's tick (the tick depends on the price itself)."""
    if price is None or not price.is_finite() or price <= 0:
        raise refuse(f"{what} must be a positive number, got {price}")
    value = price.quantize(tick_for(price), rounding=rounding)
    value = value.quantize(tick_for(value), rounding=rounding)  # crossing $1 changes the tick
    if value <= 0:
        raise refuse(f"{what} {price} rounds to zero")
    return format(value, "f")


def limit_rounding(side: Side) -> str:
    """Round a limit price in the trader's favour: buys down, sells up."""
    return ROUND_FLOOR if side is Side.BUY else ROUND_CEILING


def quantity_text(quantity: Decimal) -> str:
    if not quantity.is_finite() or quantity != quantity.to_integral_value():
        raise refuse(f"stocks trade in whole shares, got quantity {quantity}")
    if quantity < SHARE:
        raise refuse(f"quantity {quantity} is below the minimum of 1 share")
    return format(quantity.quantize(SHARE), "f")


def checked_tag(tag: str, *, joined: bool = False) -> str:
    """Tradier tags: letters, digits and '-', at most 255; `--` only joins an OCO's two client ids."""
    if not _TAG.match(tag or "") or (not joined and TAG_JOIN in tag):
        raise refuse(f"client order id {tag!r} is not a valid tag (letters, digits and single '-', at most 255)")
    return tag


def side_word(side: Side, *, closing: bool) -> str:
    if closing:
        return "sell" if side is Side.SELL else "buy_to_cover"
    return "buy" if side is Side.BUY else "sell_short"


def _price_fields(request: OrderRequest) -> tuple[str, Form]:
    """(`type`, its price fields) for one order or leg."""
    kind = request.kind
    if kind is OrderKind.MARKET:
        return "market", {}
    if kind is OrderKind.LIMIT:
        return "limit", {"price": price_text(request.price, rounding=limit_rounding(request.side),
                                                      what="limit price")}
    if kind is OrderKind.STOP:
        return "stop", {"stop": price_text(request.trigger_price, what="stop price")}
    # a take-profit rests as a limit order at the target
    target = request.trigger_price if request.trigger_price is not None else request.price
    return "limit", {"price": price_text(target, rounding=limit_rounding(request.side),
                                                  what="take-profit price")}


def single_form(request: OrderRequest) -> Form:
    """`class=equity`: one order."""
    closing = request.reduce_only
    order_type, prices = _price_fields(request)
    duration = "gtc" if closing and request.kind is not OrderKind.MARKET else "day"
    return {
        "class": "equity",
        "symbol": normalise_symbol(request.symbol),
        "side": side_word(request.side, closing=closing),
        "quantity": quantity_text(request.quantity),
        "type": order_type,
        "duration": duration,
        **prices,
        "tag": checked_tag(request.client_order_id),
    }


def _check_exit_prices(exit_side: Side, stop: Decimal | None, target: Decimal | None,
                       entry: Decimal | None = None) -> None:
    """A stop on the wrong side of the target (or of a limit entry) means flipped sides: refuse."""
    # exits of a long sell: stop < entry < target; exits of a short buy: target < entry < stop
    below, above = (stop, target) if exit_side is Side.SELL else (target, stop)
    points = [p for p in (below, entry, above) if p is not None]
    if any(a >= b for a, b in zip(points, points[1:], strict=False)):
        raise refuse(f"stop-loss {stop} / take-profit {target} are on the wrong sides"
                     + (f" of the entry {entry}" if entry is not None else "")
                     + f" for {side_word(exit_side, closing=True)} exits")


def oco_form(stop_loss: OrderRequest, take_profit: OrderRequest) -> Form:
    """`class=oco`: leg 0 the take-profit limit, leg 1 the stop-loss stop, both closing, gtc."""
    symbol = normalise_symbol(stop_loss.symbol)
    if normalise_symbol(take_profit.symbol) != symbol or take_profit.side is not stop_loss.side:
        raise refuse("stop-loss and take-profit must be for the same symbol and side")
    if take_profit.quantity != stop_loss.quantity:
        raise refuse("stop-loss and take-profit must be for the same quantity")
    target = take_profit.trigger_price if take_profit.trigger_price is not None else take_profit.price
    _check_exit_prices(stop_loss.side, stop_loss.trigger_price, target)
    ids = [checked_tag(stop_loss.client_order_id), checked_tag(take_profit.client_order_id)]
    tag = checked_tag(ids[0] if ids[0] == ids[1] else TAG_JOIN.join(ids), joined=True)
    side, quantity = side_word(stop_loss.side, closing=True), quantity_text(stop_loss.quantity)
    return {
        "class": "oco",
        "duration": "gtc",
        "symbol[0]": symbol, "side[0]": side, "quantity[0]": quantity, "type[0]": "limit",
        "price[0]": price_text(target, rounding=limit_rounding(stop_loss.side), what="take-profit price"),
        "symbol[1]": symbol, "side[1]": side, "quantity[1]": quantity, "type[1]": "stop",
        "stop[1]": price_text(stop_loss.trigger_price, what="stop-loss price"),
        "tag": tag,
    }


def bracket_form(entry: OrderRequest, bracket: Bracket) -> Form:
    """A limit entry with its exits: `class=otoco` (entry, take-profit, stop-loss) or, with one
    exit only, `class=oto`. Durations go per leg: the entry `day`, the exits `gtc`."""
    if entry.kind is not OrderKind.LIMIT or entry.reduce_only:
        raise refuse("only an opening limit order can carry an attached bracket")
    symbol, quantity = normalise_symbol(entry.symbol), quantity_text(entry.quantity)
    exit_side = entry.side.opposite
    _check_exit_prices(exit_side, bracket.stop_loss, bracket.take_profit, entry.price)
    legs: list[Form] = [{"side": side_word(entry.side, closing=False), "type": "limit", "duration": "day",
                         "price": price_text(entry.price, rounding=limit_rounding(entry.side),
                                             what="limit price")}]
    closing = side_word(exit_side, closing=True)
    if bracket.take_profit is not None:
        legs.append({"side": closing, "type": "limit", "duration": "gtc",
                     "price": price_text(bracket.take_profit, rounding=limit_rounding(exit_side),
                                         what="take-profit price")})
    if bracket.stop_loss is not None:
        legs.append({"side": closing, "type": "stop", "duration": "gtc",
                     "stop": price_text(bracket.stop_loss, what="stop-loss price")})
    if len(legs) == 1:
        raise refuse("the bracket has neither a stop-loss nor a take-profit")
    form: Form = {"class": "otoco" if len(legs) == 3 else "oto"}
    for index, leg in enumerate(legs):
        form.update({f"symbol[{index}]": symbol, f"quantity[{index}]": quantity})
        form.update({f"{name}[{index}]": value for name, value in leg.items()})
    form["tag"] = checked_tag(entry.client_order_id)
    return form
