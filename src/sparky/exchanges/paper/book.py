"""State and matching engine of the paper venue: synchronous, no I/O, no awaits.

`PaperBook` validates orders like a real venue, rests them, fills them when a noted price crosses
them, nets positions per symbol (one-way mode) and keeps the account balance. `PaperExchange`
(adapter.py) wraps it in the async `Exchange` port and adds persistence and failure injection.

One gap model for every kind of order: each noted price is a jump from the last, and an order it
crosses fills at that price — a limit at its level or better, a stop or take-profit at the market
once triggered (docs/EXCHANGES.md, paper). A marketable order fills at once at the last price.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal

from sparky.exchanges.base import (
    Bracket,
    Order,
    OrderKind,
    OrderRequest,
    OrderStatus,
    Position,
    Side,
    SymbolRules,
)
from sparky.exchanges.errors import InsufficientFunds, OrderNotFound
from sparky.exchanges.paper.rules import NAME, ZERO, bad, default_rules, fires, is_multiple, no_price, positive


class PaperBook:
    def __init__(
        self, *, starting_equity: Decimal, leverage: Decimal, fee_rate: Decimal,
        rules: dict[str, SymbolRules], clock: Callable[[], datetime],
    ) -> None:
        self.starting_equity, self.leverage, self.fee_rate = starting_equity, leverage, fee_rate
        self.configured = dict(rules)
        self.clock = clock
        #: consulted before an attached bracket with a stop loss is created; False = do not create
        self.stop_gate: Callable[[], bool] = lambda: True
        self.derived: dict[str, SymbolRules] = {}
        self.realised = self.fees = ZERO
        self.positions: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed qty, entry)
        self.orders: dict[str, Order] = {}  # placement order
        #: resting orders by symbol, in placement order: what a price or a fill has to look at
        self.resting: dict[str, dict[str, Order]] = {}
        self.brackets: dict[str, Bracket] = {}  # entry order id -> attached bracket
        self.by_client: dict[str, str] = {}
        self.reserved: set[str] = set()  # "<cid>-sl"/"<cid>-tp" of bracketed entries
        self.last: dict[str, Decimal] = {}
        self.next_id = 1
        #: per symbol, the orders of its latest position (its fills, the exits made while it was
        #: open): never pruned, so the stop that closed it is found by the next signal
        self.pinned: dict[str, set[str]] = {}
        #: what changed since the last journal entry (journal.py persists only these)
        self.dirty_orders: set[str] = set()
        self.dirty_symbols: set[str] = set()

    #: finished orders kept queryable besides the pinned ones; like a real venue, older history is
    #: dropped (open orders and the orders of each symbol's latest position never)
    HISTORY = 200

    def prune(self) -> None:
        """Forget the oldest finished orders beyond HISTORY, so state and snapshots stay small;
        the orders of each symbol's latest position stay (see `pinned`)."""
        keep = set().union(*self.pinned.values())
        finished = [o for o in self.orders.values() if o.status.is_final and o.id not in keep]
        for order in finished[: max(0, len(finished) - self.HISTORY)]:
            del self.orders[order.id]
            self.brackets.pop(order.id, None)
            if self.by_client.get(order.client_order_id) == order.id:
                del self.by_client[order.client_order_id]
            self.reserved -= {f"{order.client_order_id}-sl", f"{order.client_order_id}-tp"}

    def reindex(self) -> None:
        """Rebuild the resting-order index (after loading state)."""
        self.resting = {}
        for order in self.orders.values():
            if order.status is OrderStatus.OPEN:
                self.resting.setdefault(order.symbol, {})[order.id] = order

    # ----------------------------------------------------------------- queries
    def rules(self, symbol: str) -> SymbolRules:
        rules = self.configured.get(symbol) or self.derived.get(symbol)
        if rules is None:
            raise no_price(symbol)
        return rules

    def last_price(self, symbol: str) -> Decimal:
        if symbol not in self.last:
            raise no_price(symbol)
        return self.last[symbol]

    def position(self, symbol: str) -> Position | None:
        qty, entry = self.positions.get(symbol, (ZERO, ZERO))
        if qty == 0:
            return None
        return Position(symbol, Side.BUY if qty > 0 else Side.SELL, abs(qty), entry)

    def margin(self, positions: dict[str, tuple[Decimal, Decimal]] | None = None) -> Decimal:
        held = self.positions if positions is None else positions
        return sum((abs(q) * e / self.leverage for q, e in held.values()), ZERO)

    def total(self) -> Decimal:
        return self.starting_equity + self.realised - self.fees

    def find(self, symbol: str, order_id: str | None, client_order_id: str | None) -> Order | None:
        if order_id is None and client_order_id is None:
            raise bad("get_order needs an order_id or a client_order_id")
        if order_id is None:
            order_id = self.by_client.get(client_order_id or "")
        order = self.orders.get(order_id or "")
        if order is None or order.symbol != symbol:
            return None
        if client_order_id is not None and order.client_order_id != client_order_id:
            return None
        return order

    def is_used(self, client_order_id: str) -> bool:
        return client_order_id in self.by_client or client_order_id in self.reserved

    # -------------------------------------------------------------- validation
    def validate(self, req: OrderRequest) -> bool:
        """Check `req` as the venue would, without changing anything; True when it fills now."""
        symbol, side, kind, cid = req.symbol, req.side, req.kind, req.client_order_id
        if not cid:
            raise bad("client_order_id is required")
        if self.is_used(cid):
            raise bad(f"client_order_id {cid!r} was already used by an earlier order")
        qty = positive(req.quantity, "quantity")
        level: Decimal | None = None
        if kind is OrderKind.MARKET:
            if req.price is not None or req.trigger_price is not None:
                raise bad("a market order takes neither a price nor a trigger price")
        elif kind is OrderKind.LIMIT:
            if req.price is None or req.trigger_price is not None:
                raise bad("a limit order needs a price and takes no trigger price")
            level = positive(req.price, "limit price")
        else:
            if req.trigger_price is None or req.price is not None:
                raise bad(f"a {kind} order needs a trigger price and takes no limit price")
            level = positive(req.trigger_price, "trigger price")
        rules = self.rules(symbol)
        if not is_multiple(qty, rules.step_size):
            raise bad(f"quantity {qty} is not a multiple of the step size {rules.step_size}")
        if qty < rules.min_quantity:
            raise bad(f"quantity {qty} is below the minimum quantity {rules.min_quantity}")
        if level is not None and not is_multiple(level, rules.tick_size):
            raise bad(f"price {level} is not a multiple of the tick size {rules.tick_size}")
        last = self.last.get(symbol)
        ref: Decimal | None
        if kind is OrderKind.MARKET:
            if last is None:
                raise no_price(symbol)
            fills_now, ref = True, last
        elif level is not None and last is not None and fires(kind, side, level, last):
            if kind is not OrderKind.LIMIT:
                raise bad(f"{side} {kind} trigger {level} would fire immediately "
                           f"at the last price {last}")
            fills_now, ref = True, last
        else:
            fills_now, ref = False, level
        assert ref is not None
        if req.reduce_only:
            held = self.positions.get(symbol, (ZERO, ZERO))[0]
            if held == 0:
                raise bad(f"reduce-only {side} order but there is no position in {symbol}")
            if (held > 0) == (side is Side.BUY):
                raise bad(f"reduce-only {side} order would increase the position in {symbol}")
            if req.bracket is not None:
                raise bad("a reduce-only order cannot carry a bracket")
            return fills_now
        if qty * ref < rules.min_notional:
            raise bad(f"notional {qty * ref} is below the minimum notional {rules.min_notional}")
        if req.bracket is not None:
            self._check_bracket(req.bracket, side, ref, rules)
        if not self._margin_ok(symbol, side, qty, ref):
            raise InsufficientFunds(
                f"paper: {qty} {symbol} at {ref} needs {qty * ref / self.leverage} margin, "
                f"available {self.total() - self.margin()}", exchange=NAME)
        return fills_now

    def _check_bracket(
        self, bracket: Bracket, side: Side, ref: Decimal, rules: SymbolRules
    ) -> None:
        sl, tp = bracket.stop_loss, bracket.take_profit
        for what, level in (("stop loss", sl), ("take profit", tp)):
            if level is not None:
                positive(level, what)
                if not is_multiple(level, rules.tick_size):
                    raise bad(f"{what} {level} is not a multiple of the tick size "
                               f"{rules.tick_size}")
        low, high = (sl, tp) if side is Side.BUY else (tp, sl)
        if (low is not None and low >= ref) or (high is not None and high <= ref):
            need = "stop loss < entry < take profit" if side is Side.BUY else (
                "take profit < entry < stop loss")
            raise bad(f"bracket of a {side} entry at {ref} needs {need}; "
                       f"got stop loss {sl}, take profit {tp}")

    def _net(
        self, symbol: str, side: Side, qty: Decimal, price: Decimal
    ) -> tuple[Decimal, Decimal, Decimal]:
        """(new signed qty, new entry price, realised P&L) if `qty` filled at `price`."""
        held, entry = self.positions.get(symbol, (ZERO, ZERO))
        signed = qty if side is Side.BUY else -qty
        new = held + signed
        if held == 0 or (held > 0) == (signed > 0):
            return new, (abs(held) * entry + qty * price) / abs(new), ZERO
        closed = min(qty, abs(held))
        realised = (price - entry) * closed * (1 if held > 0 else -1)
        if new == 0:
            return new, ZERO, realised
        return new, (entry if (new > 0) == (held > 0) else price), realised

    def _margin_ok(self, symbol: str, side: Side, qty: Decimal, price: Decimal) -> bool:
        held = self.positions.get(symbol, (ZERO, ZERO))[0]
        new, entry, realised = self._net(symbol, side, qty, price)
        if abs(new) <= abs(held) and (new == 0 or (new > 0) == (held > 0)):
            return True  # does not increase exposure
        after = {**self.positions, symbol: (new, entry)}
        fee = qty * price * self.fee_rate
        return self.total() + realised - fee - self.margin(after) >= 0

    # ---------------------------------------------------------------- mutation
    def _stamp(self, order: Order, status: OrderStatus) -> None:
        self.dirty_orders.add(order.id)
        order.status = status
        if status is OrderStatus.OPEN:
            self.resting.setdefault(order.symbol, {})[order.id] = order
        else:
            self.resting.get(order.symbol, {}).pop(order.id, None)
        now = self.clock()
        now = now if now.tzinfo else now.replace(tzinfo=UTC)
        order.updated_at = now.astimezone(UTC).isoformat()

    def _create(self, req: OrderRequest) -> Order:
        order = Order(
            id=f"P{self.next_id}", client_order_id=req.client_order_id, symbol=req.symbol,
            side=req.side, kind=req.kind, quantity=req.quantity, status=OrderStatus.OPEN,
            price=req.price, trigger_price=req.trigger_price, reduce_only=req.reduce_only)
        self.next_id += 1
        self._stamp(order, OrderStatus.OPEN)
        self.orders[order.id] = order
        self.by_client[order.client_order_id] = order.id
        if req.reduce_only:  # an exit of the position held now (validation saw one)
            self._pin(order)
        bracket = req.bracket
        if bracket is not None and (bracket.stop_loss, bracket.take_profit) != (None, None):
            self.brackets[order.id] = bracket
            self.reserved |= {f"{order.client_order_id}-sl", f"{order.client_order_id}-tp"}
        return order

    def place(self, req: OrderRequest) -> Order:
        fills_now = self.validate(req)
        order = self._create(req)
        if fills_now:
            self._fill(order, self.last[req.symbol])
        return order

    def place_pair(self, stop_loss: OrderRequest, take_profit: OrderRequest) -> tuple[Order, Order]:
        if stop_loss.kind is not OrderKind.STOP or take_profit.kind is not OrderKind.TAKE_PROFIT:
            raise bad("an exit pair is one STOP and one TAKE_PROFIT order")
        if stop_loss.symbol != take_profit.symbol or stop_loss.side is not take_profit.side:
            raise bad("both legs of an exit pair must have the same symbol and side")
        if not (stop_loss.reduce_only and take_profit.reduce_only):
            raise bad("both legs of an exit pair must be reduce-only")
        if stop_loss.client_order_id == take_profit.client_order_id:
            raise bad("the legs of an exit pair need distinct client order ids")
        self.validate(stop_loss)
        self.validate(take_profit)
        sl, tp = self._create(stop_loss), self._create(take_profit)
        sl.linked_order_id, tp.linked_order_id = tp.id, sl.id
        return sl, tp

    def cancel(self, symbol: str, order_id: str) -> Order:
        order = self.orders.get(order_id)
        if order is None or order.symbol != symbol or order.status is not OrderStatus.OPEN:
            raise OrderNotFound(f"paper: no open order {order_id} in {symbol}", exchange=NAME)
        self._stamp(order, OrderStatus.CANCELED)
        return order

    def note_price(self, symbol: str, price: Decimal) -> None:
        positive(price, f"price of {symbol}")
        self.dirty_symbols.add(symbol)
        if symbol not in self.configured and symbol not in self.derived:
            self.derived[symbol] = default_rules(symbol, price)
        queue = deque(self.resting.get(symbol, {}).values())
        while queue:  # placement order; bracket legs created on the way see this price too
            order = queue.popleft()
            level = order.price if order.kind is OrderKind.LIMIT else order.trigger_price
            if order.status is not OrderStatus.OPEN or level is None:
                continue
            if fires(order.kind, order.side, level, price):  # the gap model: at the crossing price
                queue.extend(self._fill(order, price))
        self.last[symbol] = price

    def _fill(self, order: Order, price: Decimal) -> list[Order]:
        """Execute `order` at `price`; returns the bracket orders created for it."""
        symbol, qty = order.symbol, order.quantity
        held = self.positions.get(symbol, (ZERO, ZERO))[0]
        if order.reduce_only:
            if held == 0 or (held > 0) == (order.side is Side.BUY):
                self._stamp(order, OrderStatus.CANCELED)
                return []
            qty = min(qty, abs(held))
        elif not self._margin_ok(symbol, order.side, qty, price):
            self._stamp(order, OrderStatus.REJECTED)
            return []
        new, entry, realised = self._net(symbol, order.side, qty, price)
        self.dirty_symbols.add(symbol)
        self.realised += realised
        fee = qty * price * self.fee_rate
        self.fees += fee
        if new == 0:
            self.positions.pop(symbol, None)
        else:
            self.positions[symbol] = (new, entry)
        if held == 0 or (new != 0 and (new > 0) != (held > 0)):  # a new position: a new pinned set
            self.pinned[symbol] = set()
        self._pin(order)
        order.filled_quantity, order.average_price, order.fee = qty, price, fee
        self._stamp(order, OrderStatus.FILLED)
        for other in list(self.resting.get(symbol, {}).values()):  # OCO partner, exits that reduce nothing
            if other.status is OrderStatus.OPEN and (
                other.id == order.linked_order_id
                or (other.reduce_only and (new == 0 or (new > 0) == (other.side is Side.BUY)))
            ):
                self._stamp(other, OrderStatus.CANCELED)
        bracket = self.brackets.get(order.id)
        if bracket is None or new == 0 or (new > 0) != (order.side is Side.BUY):
            return []
        return self._attach(order, bracket, qty)

    def _pin(self, order: Order) -> None:
        self.pinned.setdefault(order.symbol, set()).add(order.id)
        self.dirty_symbols.add(order.symbol)

    def _attach(self, entry: Order, bracket: Bracket, qty: Decimal) -> list[Order]:
        if bracket.stop_loss is not None and not self.stop_gate():
            return []
        legs: list[Order] = []
        exit_side, cid = entry.side.opposite, entry.client_order_id
        if bracket.stop_loss is not None:
            legs.append(self._create(OrderRequest(
                entry.symbol, exit_side, OrderKind.STOP, qty, f"{cid}-sl",
                trigger_price=bracket.stop_loss, reduce_only=True)))
            entry.stop_loss_order_id = legs[-1].id
        if bracket.take_profit is not None:
            legs.append(self._create(OrderRequest(
                entry.symbol, exit_side, OrderKind.TAKE_PROFIT, qty, f"{cid}-tp",
                trigger_price=bracket.take_profit, reduce_only=True)))
            entry.take_profit_order_id = legs[-1].id
        if len(legs) == 2:
            legs[0].linked_order_id, legs[1].linked_order_id = legs[1].id, legs[0].id
        return legs
