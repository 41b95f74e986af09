"""MAX_SIGNAL_AGE_SEC as an operator sets it: the default, 0 to turn it off, bad values refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sparky.config import Settings


def test_the_default_suits_tradingview_delivery_and_zero_turns_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_SIGNAL_AGE_SEC", raising=False)
    assert Settings(_env_file=None).max_signal_age_sec == 120
    monkeypatch.setenv("MAX_SIGNAL_AGE_SEC", "0")
    assert Settings(_env_file=None).max_signal_age_sec == 0
    monkeypatch.setenv("MAX_SIGNAL_AGE_SEC", "300")
    assert Settings(_env_file=None).max_signal_age_sec == 300


@pytest.mark.parametrize("value", ["-1", "two minutes", "1.5", ""])
def test_a_bad_value_is_refused_naming_the_setting(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("MAX_SIGNAL_AGE_SEC", value)
    with pytest.raises(ValidationError, match="max_signal_age_sec"):
        Settings(_env_file=None)
