"""ccxt's unified order fees → `Order.fee`, in the market's settlement currency or not at all."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal as D
from typing import Any

import pytest

from sparky.exchanges.base import SymbolRules
from sparky.exchanges.ccxt.markets import VenueMarket, venue_market
from sparky.exchanges.ccxt.wire import parse_order

LINEAR = VenueMarket("ETHUSDT", "ETH/USDT:USDT", True, D(1), D("0.01"), D("0.01"),
                     SymbolRules("ETHUSDT", D("0.01"), D("0.01"), D("0.01"), D("5")), settle="USDT")
ORDER = {"id": "1", "type": "market", "side": "buy", "amount": 0.05, "filled": 0.05, "average": 2000.0,
         "status": "closed"}


def fee_of(**raw: Any) -> D | None:
    return parse_order({**ORDER, **raw}, LINEAR, client_order_id="sp0000-e", now=datetime.now(UTC)).fee


@pytest.mark.parametrize(("raw", "fee"), [
    ({"fee": {"cost": 0.055, "currency": "USDT"}}, D("0.055")),
    ({"fees": [{"cost": 0.03, "currency": "USDT"}, {"cost": 0.025, "currency": "USDT"}]}, D("0.055")),
    ({"fee": {"cost": -0.01, "currency": "USDT"}}, D("-0.01")),  # a maker rebate
    ({"fee": {"cost": 0.055, "currency": None}}, D("0.055")),  # the venue names no currency: its own
    ({"fee": {"cost": 0.00002, "currency": "ETH"}}, None),  # paid in the base asset: not converted
    ({"fees": [{"cost": 0.03, "currency": "USDT"}, {"cost": 0.1, "currency": "BNB"}]}, None),  # part unknown
    ({"fee": None, "fees": []}, None),  # the venue reports none
    ({"fee": {"cost": None, "currency": "USDT"}}, None),
])
def test_fees_count_only_in_the_settlement_currency(raw: dict[str, Any], fee: D | None) -> None:
    assert fee_of(**raw) == fee


def test_the_settlement_currency_is_the_settle_coin_or_the_spot_quote() -> None:
    common = {"precision": {"price": 0.01, "amount": 0.01}, "limits": {}, "base": "ETH", "quote": "USDT"}
    linear = venue_market({**common, "symbol": "ETH/USDC:USDC", "contract": True, "settle": "USDC"}, "ETHUSDC", 4)
    spot = venue_market({**common, "symbol": "ETH/USDT", "contract": False}, "ETHUSDT", 4)
    assert (linear.settle, spot.settle) == ("USDC", "USDT")
