"""Tradier option orders read back: an OTOCO's three legs, a close order, fills. The options
executor (entry, closes, recovery) and the options monitor read every order through here.

Pure: vendor JSON in, values out, no I/O. Shapes (docs.tradier.com, `GET …/orders/{id}`):
`{"order": {"id", "status", "class": "otoco", "leg": [entry, target, stop]}}`, where `leg` is a
list, or a single object when Tradier has only one to show; each leg has `id`, `status`, `side`
(`buy_to_open` / `sell_to_close`), `type` (`limit` / `stop` / `stop_limit` / `market`),
`option_symbol`, `quantity`, `exec_quantity`, `avg_fill_price`, `last_fill_price`,
`remaining_quantity`, `transaction_date`. Numbers are parsed as Decimal by the caller.

A leg's role is read from its side and type, never from its place in the list: the opening side is
the entry, a closing stop the stop-loss, a closing limit the target.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sparky.exchanges.tradier.wire import dec, items

#: a leg in one of these will never fill (more): `error` and `rejected` never reached the book
ENDED_UNFILLED = frozenset({"canceled", "cancelled", "expired", "rejected", "error"})
FILLED = "filled"
OPENING_SIDES = frozenset({"buy_to_open", "sell_to_open"})
CLOSING_SIDES = frozenset({"sell_to_close", "buy_to_close"})


@dataclass(frozen=True)
class Leg:
    """One order, or one leg of a multi-leg order, as Tradier last reported it."""

    id: str | None
    status: str
    side: str
    type: str
    option_symbol: str | None
    quantity: Decimal
    #: contracts filled so far (Tradier's `exec_quantity`)
    filled: Decimal
    #: average price of those contracts, per share of the underlying (premium quote)
    fill_price: Decimal | None
    filled_at: str | None
    raw: dict[str, Any]

    @property
    def done(self) -> bool:
        """Nothing more will fill: filled in full, or ended (possibly after a part filled)."""
        return self.status == FILLED or self.status in ENDED_UNFILLED

    @property
    def working(self) -> bool:
        return not self.done


@dataclass(frozen=True)
class OptionOrder:
    """An order read back: the OTOCO's legs by role (None where Tradier showed no such leg), or,
    for a plain order (a close at market), `single`."""

    id: str | None
    status: str
    order_class: str
    entry: Leg | None = None
    target: Leg | None = None
    stop: Leg | None = None
    single: Leg | None = None
    #: the order as Tradier answered it
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def exits(self) -> list[Leg]:
        return [leg for leg in (self.target, self.stop) if leg is not None]

    @property
    def working(self) -> bool:
        """Some part may still fill: an entry still buying, an exit that could sell, a plain order."""
        return any(leg.working for leg in (self.entry, *self.exits, self.single) if leg is not None)

    @property
    def bought(self) -> Decimal:
        """Contracts its entry leg filled (a plain order: its own fills)."""
        opening = self.single or self.entry
        return opening.filled if opening is not None else Decimal(0)

    @property
    def held(self) -> Decimal:
        """Contracts it holds: what the entry bought less what its exits sold."""
        return max(Decimal(0), self.bought - sum((leg.filled for leg in self.exits), Decimal(0)))


def parse_leg(raw: dict[str, Any]) -> Leg:
    price = dec(raw.get("avg_fill_price"))
    if not price:  # Tradier writes 0.0 before any fill; the last fill is the next best reading
        price = dec(raw.get("last_fill_price")) or None
    return Leg(
        id=None if raw.get("id") is None else str(raw.get("id")),
        status=str(raw.get("status", "")).strip().lower(),
        side=str(raw.get("side", "")).strip().lower(),
        type=str(raw.get("type", "")).strip().lower(),
        option_symbol=str(raw["option_symbol"]).upper() if raw.get("option_symbol") else None,
        quantity=dec(raw.get("quantity")) or Decimal(0),
        filled=dec(raw.get("exec_quantity")) or Decimal(0),
        fill_price=price,
        filled_at=raw.get("transaction_date") or raw.get("create_date"),
        raw=raw,
    )


def parse_order(body: Any) -> OptionOrder | None:
    """The order in a `GET …/orders/{id}` reply (`{"order": {...}}`, or the order itself); None
    when the reply holds no order."""
    raw = body.get("order", body) if isinstance(body, dict) else None
    if not isinstance(raw, dict) or not raw:
        return None
    order_class = str(raw.get("class", "")).strip().lower()
    order_id = None if raw.get("id") is None else str(raw.get("id"))
    status = str(raw.get("status", "")).strip().lower()
    legs = items(raw, "leg")  # a list, one object, or "null"
    if not legs:
        return OptionOrder(order_id, status, order_class, single=parse_leg(raw), raw=raw)
    roles: dict[str, Leg] = {}
    for leg in map(parse_leg, legs):
        if leg.side in OPENING_SIDES:
            roles.setdefault("entry", leg)
        elif leg.side in CLOSING_SIDES and leg.type in ("stop", "stop_limit"):
            roles.setdefault("stop", leg)
        elif leg.side in CLOSING_SIDES and leg.type == "limit":
            roles.setdefault("target", leg)
    return OptionOrder(order_id, status, order_class, entry=roles.get("entry"), target=roles.get("target"),
                       stop=roles.get("stop"), raw=raw)


def parent_id(order_id: str | None) -> str | None:
    """The Tradier order id to read: `"123:entry"` (a leg named after its parent) → `"123"`."""
    if not order_id:
        return None
    parent = str(order_id).partition(":")[0].strip()
    return parent or None
