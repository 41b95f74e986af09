"""The shared adapter suite: every `Exchange` adapter runs these tests through a venue harness.

A test module for a venue subclasses `ExchangeContract` and provides a `venue` fixture returning
a `VenueHarness`: the adapter under test plus a scripted venue (respx routes answering with
recorded replies shaped as the vendor documents them, a fake ccxt exchange, or the paper book).
The harness reports what the venue *received*, normalised to `SentOrder`, so one assertion reads
the same for every venue while each harness checks its own wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

import pytest

from sparky.exchanges.base import Exchange, OrderKind, OrderRequest, OrderStatus, Position, Side, SymbolRules
from sparky.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
)
from sparky.execution.orders import send_order


@dataclass(frozen=True)
class SentOrder:
    """An order as the venue received it (after the adapter's formatting), in our vocabulary."""

    side: Side
    kind: OrderKind
    quantity: Decimal | None  # None where the venue closes "the whole position" without a quantity
    client_order_id: str | None
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    reduce_only: bool = False


class VenueHarness(Protocol):
    exchange: Exchange
    #: the symbol tests trade, as alerts name it for this venue (BTCUSDT, EUR_USD, AAPL…)
    symbol: str
    #: the rules the scripted venue publishes for `symbol`
    rules: SymbolRules
    #: a price on the tick with a quantity on the step above the minimums, for this symbol
    price: Decimal
    quantity: Decimal

    def market(self, price: Decimal) -> None:
        """The venue quotes `price` for the symbol (and serves its rules)."""

    def holding(self, side: Side | None, quantity: Decimal = ..., entry: Decimal = ...) -> None:
        """The venue reports this position (None: flat)."""

    def fills_at(self, price: Decimal) -> None:
        """Orders sent from now on are accepted; market orders fill at `price`."""

    def rejects_next_order(self, error: type[ExchangeError]) -> None:
        """The next order gets the venue's own error reply meaning `error`."""

    def next_order_outcome_unknown(self, fill_price: Decimal) -> None:
        """The next order request times out after reaching the venue, which filled it at
        `fill_price`; looking it up by client id finds it."""

    def sent(self) -> list[SentOrder]:
        """Orders the venue received, in order."""

    def order_requests(self) -> int:
        """How many order-placing HTTP requests (or calls) reached the venue."""

    def round_trips(self) -> int:
        """How many requests of any kind reached the venue."""


class ExchangeContract:
    """Inherit and provide `venue`. Test names read as the behaviour every venue must have."""

    @pytest.fixture
    def venue(self) -> VenueHarness:  # pragma: no cover - provided by each venue
        raise NotImplementedError

    def entry(self, venue: VenueHarness, side: Side, cid: str = "sp0000-e") -> OrderRequest:
        return OrderRequest(venue.symbol, side, OrderKind.MARKET, venue.quantity, cid)

    async def test_symbol_rules_come_from_the_venue(self, venue: VenueHarness) -> None:
        venue.market(venue.price)
        assert await venue.exchange.symbol_rules(venue.symbol) == venue.rules

    async def test_last_price(self, venue: VenueHarness) -> None:
        venue.market(venue.price)
        assert await venue.exchange.last_price(venue.symbol) == venue.price

    @pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
    async def test_market_entry_is_sent_on_the_right_side_and_fills(self, venue: VenueHarness, side: Side) -> None:
        venue.market(venue.price)
        venue.fills_at(venue.price)
        order = await venue.exchange.place_order(self.entry(venue, side))
        assert order.status is OrderStatus.FILLED
        assert order.average_price == venue.price
        assert order.filled_quantity == venue.quantity
        assert venue.sent()[-1] == SentOrder(side, OrderKind.MARKET, venue.quantity, "sp0000-e")

    @pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
    async def test_close_is_reduce_only_on_the_opposite_side(self, venue: VenueHarness, side: Side) -> None:
        venue.market(venue.price)
        venue.holding(side, venue.quantity, venue.price)
        venue.fills_at(venue.price)
        close = OrderRequest(venue.symbol, side.opposite, OrderKind.MARKET, venue.quantity, "sp0000-x",
                             reduce_only=True)
        order = await venue.exchange.place_order(close)
        assert order.status is OrderStatus.FILLED
        sent = venue.sent()[-1]
        assert (sent.side, sent.kind, sent.reduce_only) == (side.opposite, OrderKind.MARKET, True)
        assert sent.quantity in (venue.quantity, None)

    @pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
    async def test_protection_is_placed_on_the_protective_sides(self, venue: VenueHarness, side: Side) -> None:
        venue.market(venue.price)
        venue.holding(side, venue.quantity, venue.price)
        venue.fills_at(venue.price)
        tick = venue.rules.tick_size
        below, above = venue.price - 100 * tick, venue.price + 100 * tick
        stop_at, target_at = (below, above) if side is Side.BUY else (above, below)
        exit_side = side.opposite
        stop = OrderRequest(venue.symbol, exit_side, OrderKind.STOP, venue.quantity, "sp0000-sl",
                            trigger_price=stop_at, reduce_only=True)
        target = OrderRequest(venue.symbol, exit_side, OrderKind.TAKE_PROFIT, venue.quantity, "sp0000-tp",
                              trigger_price=target_at, reduce_only=True)
        caps = venue.exchange.capabilities
        if caps.oco or caps.batch_orders:  # the path the executor takes on such venues
            await venue.exchange.place_exit_pair(stop, target)
        else:
            await venue.exchange.place_order(stop)
            await venue.exchange.place_order(target)
        sent = {o.kind: o for o in venue.sent()[-2:]}
        assert sent[OrderKind.STOP].side is exit_side and sent[OrderKind.STOP].trigger_price == stop_at
        assert sent[OrderKind.TAKE_PROFIT].side is exit_side
        assert target_at in (sent[OrderKind.TAKE_PROFIT].trigger_price, sent[OrderKind.TAKE_PROFIT].price)
        assert all(o.reduce_only for o in sent.values())

    async def test_exits_cancelled_together_are_gone_and_a_gone_one_is_not_found(self, venue: VenueHarness) -> None:
        """`cancel_orders` (one request where the venue has a batch cancel, else one per order):
        each id answered, none raised; a second cancel finds them gone."""
        venue.market(venue.price)
        venue.holding(Side.BUY, venue.quantity, venue.price)
        venue.fills_at(venue.price)
        tick = venue.rules.tick_size
        stop = OrderRequest(venue.symbol, Side.SELL, OrderKind.STOP, venue.quantity, "sp0001-sl",
                            trigger_price=venue.price - 100 * tick, reduce_only=True)
        target = OrderRequest(venue.symbol, Side.SELL, OrderKind.TAKE_PROFIT, venue.quantity, "sp0001-tp",
                              trigger_price=venue.price + 100 * tick, reduce_only=True)
        caps = venue.exchange.capabilities
        if caps.oco or caps.batch_orders:
            placed = [o for o in await venue.exchange.place_exit_pair(stop, target) if o is not None]
        else:
            placed = [await venue.exchange.place_order(stop), await venue.exchange.place_order(target)]
        ids = list(dict.fromkeys(o.id for o in placed))
        outcomes = await venue.exchange.cancel_orders(venue.symbol, ids)
        assert set(outcomes) == set(ids)
        # an OCO's legs go together: the second may already be gone
        assert all(err is None or isinstance(err, OrderNotFound) for err in outcomes.values()), outcomes
        assert any(err is None for err in outcomes.values())
        resting = {o.id for o in await venue.exchange.open_orders(venue.symbol)}
        assert not resting & set(ids)
        again = await venue.exchange.cancel_orders(venue.symbol, ids)
        assert all(isinstance(err, OrderNotFound) for err in again.values()), again

    async def test_position_is_read_from_the_venue(self, venue: VenueHarness) -> None:
        venue.market(venue.price)
        venue.holding(Side.SELL, venue.quantity, venue.price)
        assert await venue.exchange.position(venue.symbol) == Position(venue.symbol, Side.SELL, venue.quantity,
                                                                       venue.price)
        venue.holding(None)
        assert await venue.exchange.position(venue.symbol) is None

    async def test_each_instrument_has_one_spelling_and_positions_are_listed_under_it(
            self, venue: VenueHarness) -> None:
        """The spelling signals are keyed and recorded under is stable, and it is the one the venue's
        position listing uses, so a sync never takes a held position for a second one."""
        venue.market(venue.price)
        canonical = await venue.exchange.canonical_symbol(venue.symbol)
        assert await venue.exchange.canonical_symbol(canonical) == canonical
        assert await venue.exchange.canonical_symbol(canonical.lower()) == canonical
        venue.holding(Side.BUY, venue.quantity, venue.price)
        assert [p.symbol for p in await venue.exchange.positions()] == [canonical]

    @pytest.mark.parametrize("error", [InsufficientFunds, InvalidOrder, AuthenticationError, RateLimited])
    async def test_venue_errors_are_translated(self, venue: VenueHarness, error: type[ExchangeError]) -> None:
        venue.market(venue.price)
        venue.rejects_next_order(error)
        with pytest.raises(error):
            await venue.exchange.place_order(self.entry(venue, Side.BUY))

    async def test_unknown_outcome_is_resolved_by_client_id_never_by_resending(self, venue: VenueHarness) -> None:
        venue.market(venue.price)
        venue.next_order_outcome_unknown(venue.price)
        order = await send_order(venue.exchange, self.entry(venue, Side.BUY, "sp0001-e"))
        assert order.client_order_id == "sp0001-e" and order.status is OrderStatus.FILLED
        assert venue.order_requests() == 1
