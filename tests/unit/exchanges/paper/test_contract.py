"""The paper venue runs the shared adapter suite (and so checks the suite itself)."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from sparky.exchanges.base import Side, SymbolRules
from sparky.exchanges.errors import ExchangeError, OutcomeUnknown
from sparky.exchanges.paper.adapter import PaperExchange
from tests.exchange_contract import ExchangeContract, SentOrder

RULES = SymbolRules("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D("5"))


class PaperHarness:
    symbol = "BTCUSDT"
    rules = RULES
    price = D("27000.0")
    quantity = D("0.010")

    def __init__(self) -> None:
        self.exchange = PaperExchange(rules={"BTCUSDT": RULES}, starting_equity=D(100_000))

    def market(self, price: D) -> None:
        self.exchange._book.note_price(self.symbol, price)

    def holding(self, side: Side | None, quantity: D = D(0), entry: D = D(0)) -> None:
        book = self.exchange._book
        if side is None:
            book.positions.pop(self.symbol, None)
        else:
            book.positions[self.symbol] = (quantity if side is Side.BUY else -quantity, entry)

    def fills_at(self, price: D) -> None:
        self.market(price)

    def rejects_next_order(self, error: type[ExchangeError]) -> None:
        self.exchange.fail("place_order", error=error("paper: scripted rejection"))

    def next_order_outcome_unknown(self, fill_price: D) -> None:
        self.market(fill_price)
        self.exchange.fail("place_order", applied=True, error=OutcomeUnknown("paper: timeout"))

    def sent(self) -> list[SentOrder]:
        return [SentOrder(r.side, r.kind, r.quantity, r.client_order_id, r.price, r.trigger_price, r.reduce_only)
                for r in self.exchange.requests]

    def order_requests(self) -> int:
        return len(self.exchange.requests)

    def round_trips(self) -> int:
        return len(self.exchange.requests)


class TestPaperContract(ExchangeContract):
    @pytest.fixture
    def venue(self) -> PaperHarness:
        return PaperHarness()


