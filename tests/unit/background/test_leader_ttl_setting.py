"""BACKGROUND_LEADER_TTL_SEC: the leader lock's period, checked like every setting."""

from __future__ import annotations

import pytest

from sparky.cli.settings_errors import InvalidSettings, load_settings


@pytest.mark.parametrize(("value", "says"), [
    ("2", "BACKGROUND_LEADER_TTL_SEC: Input should be greater than or equal to 3"),
    ("601", "BACKGROUND_LEADER_TTL_SEC: Input should be less than or equal to 600"),
    ("inf", "BACKGROUND_LEADER_TTL_SEC: Input should be a finite number"),
    ("half a minute", "BACKGROUND_LEADER_TTL_SEC: Input should be a valid number"),
])
def test_a_bad_leader_lock_period_is_refused_naming_the_setting(clean_env, value: str, says: str) -> None:
    clean_env.setenv("BACKGROUND_LEADER_TTL_SEC", value)
    with pytest.raises(InvalidSettings) as refused:
        load_settings(_env_file=None)
    assert says in str(refused.value).splitlines()[0]


def test_the_leader_lock_period_defaults_to_30_seconds_and_takes_a_value(clean_env) -> None:
    assert load_settings(_env_file=None).background_leader_ttl_sec == 30
    clean_env.setenv("BACKGROUND_LEADER_TTL_SEC", "12.5")
    assert load_settings(_env_file=None).background_leader_ttl_sec == 12.5
