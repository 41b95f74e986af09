"""PLAN_LIMITS: laid over the defaults, and an unknown plan never unlimited."""

from __future__ import annotations

import pytest

from sparky.config import Settings
from sparky.plan_limits import merged_plan_limits, monthly_limit
from sparky.store.tenants import DEFAULT_PLAN_LIMITS


def test_setting_one_plan_keeps_the_others(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAN_LIMITS", '{"Basic": 100, "gold": null, " premium ": 500}')
    limits = Settings(_env_file=None).plan_limits
    assert limits == {"Free": 5, "Basic": 100, "Premium": 500, "Pro": None, "Admin": None, "gold": None}
    assert monthly_limit(limits, "Free") == 5
    assert monthly_limit(limits, "BASIC") == 100
    assert monthly_limit(limits, "Gold") is None  # a plan the operator made unlimited
    assert monthly_limit(limits, "Platinum") == 5  # unknown: Free's limit
    assert monthly_limit(limits, "") == 5


def test_the_default_is_the_documented_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAN_LIMITS", raising=False)
    assert Settings(_env_file=None).plan_limits == DEFAULT_PLAN_LIMITS == {
        "Free": 5, "Basic": 75, "Premium": 300, "Pro": None, "Admin": None}


@pytest.mark.parametrize("plan", ["Admin", "admin", " ADMIN "])
def test_admin_is_unlimited_as_on_the_dashboard(plan: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLAN_LIMITS", raising=False)
    assert monthly_limit(Settings(_env_file=None).plan_limits, plan) is None
    assert monthly_limit(merged_plan_limits({"Free": 3}), plan) is None  # setting another plan keeps it


def test_without_a_free_entry_an_unknown_plan_gets_the_smallest_limit_never_unlimited() -> None:
    assert monthly_limit({"Basic": 75, "Premium": 300, "Pro": None}, "Platinum") == 75
    assert monthly_limit({"Pro": None}, "Platinum") == 0
    assert monthly_limit({}, "Free") == 0


def test_limits_given_directly_are_merged_and_checked_the_same_way() -> None:
    assert merged_plan_limits({}) == DEFAULT_PLAN_LIMITS
    with pytest.raises(ValueError, match="Basic: must be a whole number of webhooks"):
        merged_plan_limits({"Basic": -1})
    with pytest.raises(ValueError, match="Basic: must be a whole number of webhooks"):
        merged_plan_limits({"Basic": True})
