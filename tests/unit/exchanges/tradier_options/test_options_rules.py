"""Tradier options, the pure parts: replies in Tradier's documented shapes (tests/fixtures/
tradier_options/), ticks, contract selection, prices and sizes, and the settings' checks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from sparky.errors import BadRequest
from sparky.exchanges.tradier_options import wire
from sparky.exchanges.tradier_options.rules import round_price, tick_for
from sparky.exchanges.tradier_options.selection import choose_contract, choose_expiration
from sparky.exchanges.tradier_options.settings import OptionsSettings
from sparky.execution.options.pricing import contracts_for, entry_prices
from tests.unit.exchanges.tradier_options.fake import fixture

JUNE = [date(2026, 6, 18), date(2026, 6, 19), date(2026, 6, 26), date(2026, 7, 17)]


@pytest.mark.parametrize("name, dates", [
    ("expirations.json", JUNE), ("expirations_single.json", [date(2026, 6, 19)]), ("expirations_null.json", []),
])  # fmt: skip
def test_expirations_as_a_list_a_single_date_or_null(name, dates) -> None:
    assert wire.expirations(fixture(name)) == dates


def test_a_chain_as_a_list_a_single_object_or_null() -> None:
    listed = wire.chain(fixture("chain.json"))
    assert [(c.symbol, c.option_type, c.strike, c.ask) for c in listed][:2] == [
        ("SPY260619C00495000", "call", D(495), D("4.2")), ("SPY260619C00500000", "call", D(500), D("2.34"))]
    assert listed[0].contract_size == 100 and listed[0].expiration_date == date(2026, 6, 19)
    assert [c.symbol for c in wire.chain(fixture("chain_single.json"))] == ["SPY260619C00500000"]
    assert wire.chain(fixture("chain_null.json")) == []


@pytest.mark.parametrize("name, power", [
    ("balances_margin.json", D("6363.86")), ("balances_cash.json", D("4343.38")), ("balances_pdt.json", D("2500.5")),
])  # fmt: skip
def test_option_buying_power_where_each_account_type_states_it(name, power) -> None:
    assert wire.option_buying_power(fixture(name)) == power


def test_no_buying_power_stated_is_none() -> None:
    assert wire.option_buying_power({"balances": {"total_equity": 10}}) is None
    assert wire.option_buying_power({"errors": {"error": "x"}}) is None


def test_occ_symbols_read_back() -> None:
    assert wire.parse_occ("SPY260619C00500000") == ("call", D(500), date(2026, 6, 19))
    assert wire.parse_occ("SPXW260619P05012500") == ("put", D("5012.5"), date(2026, 6, 19))
    assert wire.parse_occ("SPY261319C00500000") is None and wire.parse_occ("AAPL") is None


@pytest.mark.parametrize("price, root, tick", [
    (D("2.99"), "XYZ", D("0.05")), (D(3), "XYZ", D("0.10")), (D("2.99"), "SPY", D("0.01")), (D(3), "SPY", D("0.05")),
])  # fmt: skip
def test_ticks_below_and_from_three_dollars(price, root, tick) -> None:
    assert tick_for(price, root, {"SPY"}) == tick


@pytest.mark.parametrize("price, up, expected", [
    (D("2.96"), True, D("3.00")),   # nickels up to 3.00, which is on the dime
    (D("2.97"), True, D("3.00")),
    (D("3.01"), False, D("3.00")),
    (D("3.04"), True, D("3.10")),
    (D("1.21"), False, D("1.20")),
])  # fmt: skip
def test_prices_round_on_the_tick_of_the_rounded_price(price, up, expected) -> None:
    assert round_price(price, "XYZ", set(), up=up) == expected


def test_entry_up_target_down_stop_up_on_a_non_penny_class() -> None:
    prices = entry_prices(D("2.34"), root="XYZ", penny_roots=set(), offset_percent=D(2), stop_loss_percent=D(50),
                          take_profit_percent=D(30))
    # 2.3868 → 2.40 (up on nickels); 3.12 → 3.10 (down on dimes); 1.20 stays (already on the tick)
    assert (prices.entry, prices.target, prices.stop) == (D("2.40"), D("3.10"), D("1.20"))


def test_exits_that_round_onto_the_entry_are_refused() -> None:
    with pytest.raises(BadRequest) as tight:
        entry_prices(D("0.05"), root="XYZ", penny_roots=set(), offset_percent=D(0), stop_loss_percent=D(10),
                     take_profit_percent=D(50))
    assert tight.value.field == "take_profit_percent"
    with pytest.raises(BadRequest) as stop:
        entry_prices(D("0.05"), root="XYZ", penny_roots=set(), offset_percent=D(0), stop_loss_percent=D(10),
                     take_profit_percent=D(200))
    assert stop.value.field == "stop_loss_percent"


def test_contracts_are_floored_and_never_rounded_up_to_one() -> None:
    assert contracts_for(D("717"), D("2.39"), 100, field="size") == 3
    with pytest.raises(BadRequest) as small:
        contracts_for(D("238.99"), D("2.39"), 100, field="position_size_usd")
    assert small.value.field == "position_size_usd"


def test_expiration_requested_nearest_and_min_days() -> None:
    today = date(2026, 6, 18)
    pick = dict(listed=JUNE, underlying="SPY", today=today)
    assert choose_expiration(requested=None, min_days=1, **pick) == date(2026, 6, 19)
    assert choose_expiration(requested=None, min_days=0, **pick) == today
    assert choose_expiration(requested=date(2026, 7, 17), min_days=1, **pick) == date(2026, 7, 17)
    with pytest.raises(BadRequest) as unknown:
        choose_expiration(requested=date(2026, 6, 20), min_days=1, **pick)
    assert unknown.value.field == "expiration" and "next listed: 2026-06-18, 2026-06-19" in unknown.value.message
    with pytest.raises(BadRequest):
        choose_expiration(requested=None, min_days=60, **pick)


def test_strike_nearest_the_one_asked_or_the_money_within_tolerance() -> None:
    chain = wire.chain(fixture("chain.json"))
    pick = dict(chain=chain, expiration=date(2026, 6, 19), underlying="SPY", tolerance_percent=D(1))
    assert choose_contract(right="call", strike=D(502), underlying_price=None, **pick).strike == D(500)
    assert choose_contract(right="put", strike=None, underlying_price=D("503.5"), **pick).strike == D(505)
    assert choose_contract(right="call", strike=D("497.5"), underlying_price=None, **pick).strike == D(495)  # tie
    with pytest.raises(BadRequest) as far:
        choose_contract(right="call", strike=D(520), underlying_price=None, **pick)
    assert far.value.field == "strike"


@pytest.mark.parametrize("bad", [
    {"min_days_to_expiry": -1}, {"strikeTolerance": 80}, {"entry_limit_offset_percent": "x"},
    {"stop_loss_percent": 100}, {"take_profit_percent": 0}, {"size_percent": 101}, {"trading_window": "always"},
    {"penny_pilot_roots": 5}, {"expiry_cutoff_minutes": 400}, {"strike_tolerance_percent": "nan"},
])  # fmt: skip
def test_bad_settings_are_refused_naming_them(bad) -> None:
    with pytest.raises(ValidationError) as err:
        OptionsSettings.model_validate(bad)
    assert list(bad)[0] in str(err.value)


def test_a_legacy_section_overrides_by_either_name() -> None:
    base = OptionsSettings(strike_tolerance_percent=D(1))
    merged = base.over({"strikeTolerance": 3, "pennyPilotRoots": "spy, qqq", "apiKey": "ignored"})
    assert merged.strike_tolerance_percent == D(3) and merged.penny_pilot_roots == {"SPY", "QQQ"}
    assert base.over({"accessToken": "x"}) is base
