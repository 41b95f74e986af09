"""A `tradier_options` alert's option fields become the signal's `option` terms: validated, named in
errors as the alert wrote them, stored with the signal and read back unchanged by recovery."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from sparky.errors import BadRequest
from sparky.signals.models import Signal
from sparky.signals.normalise import build_signal


def signal(**fields) -> Signal:
    return build_signal(fields, lambda name: True)


def test_option_fields_are_gathered_and_survive_the_stored_signal() -> None:
    parsed = signal(action="buy", exchange="tradier_options", symbol="AMEX:SPY", option_type="PUT", strike="500.5",
                    expiration="2026-06-19", sizePercent="7.5")
    assert parsed.symbol == "SPY"
    terms = parsed.option
    assert (terms.right, terms.strike, terms.expiration, terms.size_percent) == ("put", D("500.5"),
                                                                                date(2026, 6, 19), D("7.5"))
    assert Signal.model_validate(parsed.model_dump(mode="json")) == parsed  # what recovery runs


def test_a_close_by_option_symbol_alone_takes_the_underlying_from_its_root() -> None:
    parsed = signal(action="exit", exchange="tradier_options", option_symbol="spy260619c00500000")
    assert (parsed.symbol, parsed.option.option_symbol) == ("SPY", "SPY260619C00500000")
    assert signal(action="close", exchange="tradier_options", underlying_symbol="qqq").symbol == "QQQ"


def test_other_venues_never_carry_option_terms() -> None:
    parsed = signal(action="sell", exchange="paper", symbol="BTCUSDT", right="put", strike=5,
                    option={"right": "call"})
    assert parsed.option is None


@pytest.mark.parametrize("fields, field", [
    ({"right": "both"}, "right"), ({"option_type": 1}, "right"), ({"strike": -5}, "strike"),
    ({"expiration": "tomorrow"}, "expiration"), ({"sizePercent": 150}, "size"), ({"size": "lots"}, "size"),
    ({"option_symbol": "SPY 500 C"}, "option_symbol"), ({"underlying": "QQQ"}, "underlying"),
    ({"underlying": "SP Y"}, "underlying"), ({"action": "short"}, "action"),
])  # fmt: skip
def test_bad_option_fields_are_400s_naming_the_field(fields, field) -> None:
    with pytest.raises(BadRequest) as refused:
        signal(**{"action": "buy", "exchange": "tradier_options", "symbol": "SPY", **fields})
    assert refused.value.field == field, refused.value.message
