"""TRADIER_OPTIONS (the options executor's settings, JSON) and the legacy config.json section's
option keys: read, and refused with a message naming what is wrong."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

from sparky.cli.settings_errors import InvalidSettings, load_settings
from sparky.exchanges.tradier_options.settings import OptionsSettings


def settings_with(monkeypatch: pytest.MonkeyPatch, value: str):
    monkeypatch.setenv("TRADIER_OPTIONS", value)
    monkeypatch.setenv("HOST", "127.0.0.1")
    return load_settings(_env_file=None)


def test_tradier_options_is_read_from_the_environment(monkeypatch) -> None:
    settings = settings_with(monkeypatch, json.dumps({"min_days_to_expiry": 2, "strikeTolerance": 3,
                                                      "penny_pilot_roots": ["spy", "aapl"]}))
    options = settings.tradier_options
    assert (options.min_days_to_expiry, options.strike_tolerance_percent) == (2, D(3))
    assert options.penny_pilot_roots == {"SPY", "AAPL"} and options.stop_loss_percent == D(50)


def test_tradier_options_defaults(monkeypatch) -> None:
    monkeypatch.delenv("TRADIER_OPTIONS", raising=False)
    monkeypatch.setenv("HOST", "127.0.0.1")
    assert load_settings(_env_file=None).tradier_options == OptionsSettings()


@pytest.mark.parametrize("value, says", [
    ('{"min_days_to_expiry": -1}', "TRADIER_OPTIONS[min_days_to_expiry]: Input should be greater than or equal to 0"),
    ('{"trading_window": "always"}', "TRADIER_OPTIONS[trading_window]: must be one of 24/7"),
    ('{"stop_loss_percent": 150}', "TRADIER_OPTIONS[stop_loss_percent]: Input should be less than 100"),
    ("min_days=2", "TRADIER_OPTIONS: not valid JSON"),
])  # fmt: skip
def test_bad_tradier_options_are_refused_naming_the_key(monkeypatch, value, says) -> None:
    with pytest.raises(InvalidSettings) as refused:
        settings_with(monkeypatch, value)
    assert says in str(refused.value)


def test_a_bad_legacy_section_value_is_refused_naming_the_key_as_written() -> None:
    with pytest.raises(ValueError) as refused:
        OptionsSettings().over({"strikeTolerance": 90, "minDaysToExpiry": "soon"})
    message = str(refused.value)
    assert message.startswith("config.json tradier_options section: ")
    assert "strikeTolerance: Input should be less than or equal to 50" in message and "minDaysToExpiry:" in message


async def test_a_server_with_a_bad_legacy_section_does_not_start(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"tradierOptions": {"accountId": "VA000001", "accessToken": "t",
                                                     "minDaysToExpiry": -3}}))
    with pytest.raises(ValueError, match="minDaysToExpiry"):
        async with start(config_path=config):
            pass
