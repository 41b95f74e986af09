"""METRICS_PORT, ACCESS_LOG, NOTIFY_URLS, OPERATOR_NOTIFY_URLS, OPERATOR_ALERT_LOOP_FAILURES, AI_CYCLE_SEC:
checked like every setting, and an apprise URL's secret never shown in the refusal."""

from __future__ import annotations

import pytest

from sparky.cli.settings_errors import InvalidSettings, load_settings


def refusal(env: pytest.MonkeyPatch, **values: str) -> str:
    for name, value in values.items():
        env.setenv(name, value)
    with pytest.raises(InvalidSettings) as refused:
        load_settings(_env_file=None)
    return str(refused.value)


@pytest.mark.parametrize(("value", "says"), [
    ("0", "METRICS_PORT: Input should be greater than or equal to 1"),
    ("65536", "METRICS_PORT: Input should be less than or equal to 65535"),
    ("nine thousand", "METRICS_PORT: Input should be a valid integer"),
    ("3000", "METRICS_PORT must differ from PORT (3000)"),
])
def test_a_bad_metrics_port_is_refused_naming_the_setting(clean_env, value: str, says: str) -> None:
    assert says in refusal(clean_env, METRICS_PORT=value)


def test_metrics_port_and_access_log_default_off_and_take_values(clean_env) -> None:
    settings = load_settings(_env_file=None)
    assert settings.metrics_port is None and settings.access_log is False
    clean_env.setenv("METRICS_PORT", "9100")
    clean_env.setenv("ACCESS_LOG", "true")
    settings = load_settings(_env_file=None)
    assert settings.metrics_port == 9100 and settings.access_log is True
    clean_env.setenv("METRICS_PORT", "")  # blank: unset
    assert load_settings(_env_file=None).metrics_port is None


def test_a_bad_access_log_value_is_refused(clean_env) -> None:
    assert "ACCESS_LOG: Input should be a valid boolean" in refusal(clean_env, ACCESS_LOG="sometimes")


@pytest.mark.parametrize("setting", ["NOTIFY_URLS", "OPERATOR_NOTIFY_URLS"])
def test_a_url_apprise_cannot_send_to_is_refused_without_showing_it(clean_env, setting: str) -> None:
    text = refusal(clean_env, **{setting: "discord://1234/goodtoken nothttp://secret-token-xyz"})
    assert f"{setting}: not an apprise URL apprise can send to: #2 (nothttp)" in text
    assert "secret-token-xyz" not in text and "goodtoken" not in text


def test_apprise_urls_are_split_on_spaces_and_on_commas_before_a_scheme(clean_env) -> None:
    from sparky.observability.channels import split_urls

    clean_env.setenv("NOTIFY_URLS", "discord://1/t,tgram://123456789:abc/42\nmailto://u:p@example.com?to=a@x.com,b@y.com")
    settings = load_settings(_env_file=None)
    assert split_urls(settings.notify_urls.get_secret_value()) == (
        "discord://1/t", "tgram://123456789:abc/42", "mailto://u:p@example.com?to=a@x.com,b@y.com")
    assert "tgram" not in repr(settings)  # a SecretStr: never printed


@pytest.mark.parametrize(("values", "says"), [
    ({"OPERATOR_ALERT_LOOP_FAILURES": "0"}, "OPERATOR_ALERT_LOOP_FAILURES: Input should be greater than or equal to 1"),
    ({"AI_CYCLE_SEC": "0"}, "AI_CYCLE_SEC: Input should be greater than or equal to 5"),
    ({"AI_CYCLE_SEC": "soon"}, "AI_CYCLE_SEC: Input should be a valid number"),
])
def test_bad_alert_thresholds_are_refused(clean_env, values: dict[str, str], says: str) -> None:
    assert says in refusal(clean_env, **values)
