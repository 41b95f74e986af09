"""Reading Tradier replies: its JSON quirks, its rejection codes, its orders in our vocabulary.

Shapes follow docs.tradier.com brokerage-api pages (accounts: orders, positions, balances;
markets: quotes). Quirks handled here, once:
- an empty collection is the string "null" (`{"positions": "null"}`, `{"orders": "null"}`) and a
  single item is an object rather than a one-element list (`items()` always gives a list);
- a rejection can be HTTP 200 with `{"errors": {"error": [...]}}` (one string or a list); the
  strings are the back office's validator codes (`DayTradingBuyingPowerExceeded`,
  `SecurityUndefined`, `UnexpectedSellOrder` …) and sometimes a free-text sentence;
- numbers are JSON numbers, parsed as Decimal by the caller (`parse_float=Decimal`), never floats.

Multi-leg orders (`class=oco` / `otoco`) are one Tradier order with `leg` entries. We expose each
leg as its own `Order` with the id `<parent id>:<role>` (role `entry`, `sl` or `tp`), so that
looking a leg up or cancelling it only needs the documented `GET`/`DELETE …/orders/{parent}`.
A leg's role is read from its side and type, never from its position in the list: an opening
side (buy / sell_short) is the entry, a closing stop is the stop-loss, a closing limit the target.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from sparky.exchanges.base import Balance, Order, OrderKind, OrderStatus, Position, Quote, Side
from sparky.exchanges.errors import (
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    UnknownSymbol,
    vendor_words,
)

ENTRY, STOP_LOSS, TAKE_PROFIT = "entry", "sl", "tp"
ROLES = (ENTRY, STOP_LOSS, TAKE_PROFIT)
#: separates the two client ids an OCO carries in its single `tag` (`<sl id>--<tp id>`)
TAG_JOIN = "--"

OPENING_SIDES = {"buy": Side.BUY, "sell_short": Side.SELL}
CLOSING_SIDES = {"sell": Side.SELL, "buy_to_cover": Side.BUY}
_STATUS = {
    "filled": OrderStatus.FILLED,
    "canceled": OrderStatus.CANCELED,
    "cancelled": OrderStatus.CANCELED,
    "expired": OrderStatus.CANCELED,
    "rejected": OrderStatus.REJECTED,
    "error": OrderStatus.REJECTED,
}  # anything else (pending, open, partially_filled, pending_cancel, submitted …) is still live
_OCC_OPTION = re.compile(r"^[A-Z.]{1,6}\d{6}[CP]\d{8}$")
_CODE = re.compile(r"^[A-Z][A-Za-z0-9_]+$")
#: messages of one `errors` reply kept (Tradier sends one or two)
MAX_MESSAGES = 5

# Back-office validator codes (Tradier's `errors.error` strings / `reason_description`).
_NO_FUNDS = frozenset({"DayTradingBuyingPowerExceeded", "InitialMargin", "MaintenanceMargin", "TotalInitialMargin"})
_NO_SYMBOL = frozenset({"SecurityUndefined"})
#: refused before it reached the book, for a passing reason: sending it again is safe
_TRY_AGAIN = frozenset({"OmsUnavailable", "QuotePriceIsInvalid", "SnapQuoteIsInvalid"})
#: the order service failed on its side: the order may or may not exist
_UNSURE = frozenset({"OmsInternalError"})
_CROSSES_ZERO = frozenset({"LongPositionCrossZero", "ShortPositionCrossZero"})


class CrossesZero(InvalidOrder):
    """The close asks for more shares than are free: resting exit orders hold them."""


# ------------------------------------------------------------------ JSON quirks
def items(container: Any, key: str) -> list[dict[str, Any]]:
    """`container[key]` as a list of objects: "null" / missing → [], one object → [object]."""
    if not isinstance(container, dict):
        return []
    value = container.get(key)
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool) or value == "null":
        return None
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def rejection(body: Any) -> list[str]:
    """The messages of an `errors` reply (HTTP 200 or 4xx); [] when the body is no rejection."""
    if not isinstance(body, dict) or "errors" not in body:
        return []
    errors = body["errors"]
    found = errors.get("error") if isinstance(errors, dict) else errors
    if isinstance(found, str | int):
        found = [found]
    if not isinstance(found, list):
        return ["unspecified error"]
    # shown to the user: each message one short line, and only the first few
    return [vendor_words(m) for m in found if str(m).strip()][:MAX_MESSAGES] or ["unspecified error"]


def classify(messages: list[str]) -> tuple[type[ExchangeError], bool]:
    """Our error type for a rejection, by its validator codes; and whether the order may exist anyway.

    Only codes decide (free-text sentences are never matched). A rejection made only of
    free text, or the order service's own internal error, is "unsure": look the order up.
    """
    codes = {m for m in messages if _CODE.match(m)}
    if codes & _NO_FUNDS:
        return InsufficientFunds, False
    if codes & _NO_SYMBOL:
        return UnknownSymbol, False
    if codes & _CROSSES_ZERO:
        return CrossesZero, False
    if codes & _TRY_AGAIN:
        return ExchangeUnavailable, False
    if codes & _UNSURE or not codes:
        return InvalidOrder, True
    return InvalidOrder, False


# ------------------------------------------------------------------ market data / account
def quote_price(quote: dict[str, Any]) -> Decimal | None:
    """`last`, else the bid/ask mid; None when the venue quotes neither."""
    last = dec(quote.get("last"))
    if last is not None and last > 0:
        return last
    bid, ask = dec(quote.get("bid")), dec(quote.get("ask"))
    if bid is not None and ask is not None and bid > 0 and ask > 0:
        return (bid + ask) / 2
    return None


def parse_quotes(body: Any, symbols: set[str]) -> dict[str, Quote]:
    """Bid, ask and last of each of `symbols` in a `/markets/quotes` reply (one object when one
    symbol was asked); symbols listed in `unmatched_symbols`, or quoted with nothing, are left out."""
    quotes = {}
    for raw in items(body.get("quotes") if isinstance(body, dict) else None, "quote"):
        symbol = str(raw.get("symbol", "")).upper()
        prices = [p if p is not None and p > 0 else None for p in (dec(raw.get(k)) for k in ("bid", "ask", "last"))]
        if symbol in symbols and any(prices):
            quotes[symbol] = Quote(symbol, bid=prices[0], ask=prices[1], last=prices[2])
    return quotes


def find_quote(body: Any, symbol: str) -> dict[str, Any] | None:
    """The quote of `symbol`; None when it is listed in `unmatched_symbols` (or simply absent)."""
    quotes = body.get("quotes") if isinstance(body, dict) else None
    for quote in items(quotes, "quote"):
        if str(quote.get("symbol", "")).upper() == symbol:
            return quote
    return None


def parse_positions(body: Any) -> list[Position]:
    """Equity positions; option positions (OCC symbols) belong to the options adapter."""
    positions = []
    for raw in items(body.get("positions") if isinstance(body, dict) else None, "position"):
        symbol = str(raw.get("symbol", "")).upper()
        quantity, cost = dec(raw.get("quantity")), dec(raw.get("cost_basis"))
        if not symbol or _OCC_OPTION.match(symbol) or not quantity:
            continue
        # cost_basis is signed like the quantity (negative for shorts): entry = cost / quantity
        entry = (abs(cost) / abs(quantity)).quantize(Decimal("0.000001")) if cost else Decimal(0)
        side = Side.BUY if quantity > 0 else Side.SELL
        positions.append(Position(symbol, side, abs(quantity), entry))
    return positions


def parse_balance(body: Any) -> Balance:
    balances = body.get("balances") if isinstance(body, dict) else None
    if not isinstance(balances, dict):
        raise ExchangeUnavailable("tradier: balances reply without `balances`", exchange="tradier")
    total = dec(balances.get("total_equity")) or Decimal(0)
    available = None
    # margin accounts state buying power under `margin`, PDT accounts under `pdt`, cash accounts
    # state cash available under `cash`
    for section, field in (("margin", "stock_buying_power"), ("pdt", "stock_buying_power"),
                           ("cash", "cash_available")):
        part = balances.get(section)
        if isinstance(part, dict) and dec(part.get(field)) is not None:
            available = dec(part.get(field))
            break
    if available is None:
        available = dec(balances.get("total_cash")) or Decimal(0)
    extra = {name: value for name in ("total_cash", "market_value", "open_pl", "close_pl")
             if (value := dec(balances.get(name))) is not None}
    return Balance("USD", total, available, extra)


# ------------------------------------------------------------------ orders
def leg_id(parent: str, role: str) -> str:
    return f"{parent}:{role}"


def split_id(order_id: str) -> tuple[str, str | None]:
    """`"123:sl"` → ("123", "sl"); `"123"` → ("123", None)."""
    parent, _, role = str(order_id).partition(":")
    return parent, role or None


def tag_ids(tag: Any) -> list[str]:
    return [part for part in str(tag or "").split(TAG_JOIN) if part]


def status_of(raw: dict[str, Any]) -> OrderStatus:
    return _STATUS.get(str(raw.get("status", "")).lower(), OrderStatus.OPEN)


def reason_codes(raw: dict[str, Any]) -> list[str]:
    reason = raw.get("reason_description")
    if not reason:
        return []
    return [vendor_words(part) for part in re.split(r"[,;|]", str(reason)) if part.strip()][:MAX_MESSAGES]


def is_multileg(raw: dict[str, Any]) -> bool:
    return str(raw.get("class", "")).lower() in ("oco", "otoco", "oto")


def _roles(raw: dict[str, Any]) -> dict[str, dict[str, Any]]:
    roles: dict[str, dict[str, Any]] = {}
    for leg in items(raw, "leg"):
        side, kind = str(leg.get("side", "")).lower(), str(leg.get("type", "")).lower()
        if side in OPENING_SIDES:
            roles.setdefault(ENTRY, leg)
        elif side in CLOSING_SIDES and kind in ("stop", "stop_limit"):
            roles.setdefault(STOP_LOSS, leg)
        elif side in CLOSING_SIDES and kind == "limit":
            roles.setdefault(TAKE_PROFIT, leg)
    return roles


def _order(raw: dict[str, Any], order_id: str, client_order_id: str) -> Order:
    side_word, kind_word = str(raw.get("side", "")).lower(), str(raw.get("type", "")).lower()
    closing = side_word in CLOSING_SIDES
    side = CLOSING_SIDES.get(side_word) or OPENING_SIDES.get(side_word) or Side.BUY
    if kind_word == "market":
        kind = OrderKind.MARKET
    elif kind_word in ("stop", "stop_limit"):
        kind = OrderKind.STOP
    else:  # a resting limit on the closing side is a take-profit by nature
        kind = OrderKind.TAKE_PROFIT if closing else OrderKind.LIMIT
    price = dec(raw.get("price")) if kind_word in ("limit", "stop_limit") else None
    trigger = dec(raw.get("stop_price")) if kind is OrderKind.STOP else price if kind is OrderKind.TAKE_PROFIT else None
    average = dec(raw.get("avg_fill_price"))
    return Order(
        id=order_id,
        client_order_id=client_order_id,
        symbol=str(raw.get("symbol", "")).upper(),
        side=side,
        kind=kind,
        quantity=dec(raw.get("quantity")) or Decimal(0),
        status=status_of(raw),
        price=price,
        trigger_price=trigger,
        reduce_only=closing,
        filled_quantity=dec(raw.get("exec_quantity")) or Decimal(0),
        average_price=average if average else None,
        updated_at=raw.get("transaction_date") or raw.get("create_date"),
    )


def to_orders(raw: dict[str, Any]) -> dict[str | None, Order]:
    """Our orders for one Tradier order: {None: order} for a plain one, {role: leg} for OCO/OTOCO."""
    parent = str(raw.get("id", ""))
    tag = str(raw.get("tag") or "")
    if not is_multileg(raw):
        if str(raw.get("class", "equity")).lower() != "equity":
            return {}  # option / multileg / combo orders belong to the options adapter
        return {None: _order(raw, parent, tag)}
    roles = _roles(raw)
    ids = tag_ids(tag) or [tag]
    orders: dict[str | None, Order] = {}
    for role, leg in roles.items():
        # an OCO's tag holds `<sl id>--<tp id>`; an OTOCO's tag is its entry's client id
        cid = ids[0] if role == STOP_LOSS or len(ids) == 1 else ids[-1]
        orders[role] = _order(leg, leg_id(parent, role), tag if role == ENTRY else cid)
    sl, tp, entry = orders.get(STOP_LOSS), orders.get(TAKE_PROFIT), orders.get(ENTRY)
    if sl and tp:
        sl.linked_order_id, tp.linked_order_id = tp.id, sl.id
    if entry is not None and entry.status is OrderStatus.FILLED:
        entry.stop_loss_order_id = sl.id if sl else None
        entry.take_profit_order_id = tp.id if tp else None
    return orders


def order_for(raw: dict[str, Any], role: str | None) -> Order | None:
    """The order `role` names inside `raw` (None: the order itself, or an OTOCO's entry)."""
    orders = to_orders(raw)
    if role is None:
        return orders.get(None) or orders.get(ENTRY) or next(iter(orders.values()), None)
    return orders.get(role)


def order_for_client_id(raw: dict[str, Any], client_order_id: str) -> Order | None:
    orders = to_orders(raw)
    if None in orders:
        return orders[None]
    if ENTRY in orders:
        return orders[ENTRY]
    ids = tag_ids(raw.get("tag"))
    role = STOP_LOSS if ids and client_order_id == ids[0] else TAKE_PROFIT
    return orders.get(role) or orders.get(STOP_LOSS)


def tag_matches(raw: dict[str, Any], client_order_id: str) -> bool:
    tag = str(raw.get("tag") or "")
    return tag == client_order_id or client_order_id in tag_ids(tag)


def live_orders(raw: dict[str, Any]) -> list[Order]:
    """Orders of `raw` still resting; an OTOCO's exits only once its entry has filled."""
    orders = to_orders(raw)
    entry = orders.get(ENTRY)
    waiting = entry is not None and entry.status is not OrderStatus.FILLED
    return [o for role, o in orders.items()
            if o.status is OrderStatus.OPEN and not (waiting and role in (STOP_LOSS, TAKE_PROFIT))]
