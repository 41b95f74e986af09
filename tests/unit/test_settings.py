"""Settings: environment variables, production refusal of placeholder secrets, first-run secrets."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from sparky.config import LegacyConfig, Settings
from sparky.first_run import load_or_create_secret, welcome_text


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "HOST", "SPARKY_DATA_DIR", "WEBHOOK_SECRET", "SPARKY_ENV", "RATE_LIMIT", "PLAN_RATE_LIMITS",
                 "AUTH_FAILURE_LIMIT", "ALLOWED_IPS", "FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert (settings.port, settings.sparky_data_dir, settings.sync_budget_ms) == (3000, Path("./data"), 2500)
    assert (settings.max_body_bytes, settings.duplicate_window_sec) == (65536, 30)
    assert (settings.rate_limit, settings.plan_rate_limits, settings.auth_failure_limit) == (
        "60/minute;500/hour", {}, "10/minute")
    assert (settings.allowed_ips, settings.forwarded_allow_ips) == ("", "127.0.0.1,::1")
    assert settings.effective_log_format == "console"


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "8080")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("PAPER_SYMBOL_RULES", '{"BTCUSDT": {"tick_size": "0.5", "step_size": "0.01"}}')
    settings = Settings(_env_file=None)
    assert settings.port == 8080 and settings.log_level == "DEBUG"
    assert str(settings.paper_symbol_rules["BTCUSDT"]["tick_size"]) == "0.5"


@pytest.mark.parametrize("secret", [None, "", "changeme", "your-webhook-secret", "replace-me", "${SECRET}"])
def test_production_refuses_placeholder_secrets(secret) -> None:
    with pytest.raises(ValidationError, match="refusing to start in production"):
        Settings(_env_file=None, sparky_env="production", webhook_secret=secret, admin_token="a-real-admin-token-1")


def test_production_accepts_real_secrets_and_logs_json() -> None:
    settings = Settings(_env_file=None, sparky_env="production", webhook_secret="k3P9-long-random",
                        admin_token="t0k-long-random")
    assert settings.effective_log_format == "json"


def test_production_accepts_the_config_json_secret(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"webhookSecret": "from-config-7Hq"}')
    Settings(_env_file=None, sparky_env="production", config_path=config, admin_token="t0k-long-random")


def test_legacy_config_sections(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"webhookSecret": "s", "Aster": {"apiUrl": "http://x", "apiKey": "k", "tradeAmount": 250},'
                      ' "riskManagement": {"maxPositions": 4}}')
    legacy = LegacyConfig.load(config)
    assert legacy.webhook_secret == "s" and legacy.risk_management.max_positions == 4
    assert legacy.exchanges["aster"].api_url == "http://x" and str(legacy.exchanges["aster"].trade_amount) == "250"


def test_generated_secret_is_private_and_stable(tmp_path: Path) -> None:
    secret, created = load_or_create_secret(tmp_path / "webhook_secret")
    assert created and len(secret) >= 40
    assert stat.S_IMODE((tmp_path / "webhook_secret").stat().st_mode) == 0o600
    assert load_or_create_secret(tmp_path / "webhook_secret") == (secret, False)


def test_welcome_text_has_a_ready_alert_and_curl_line(tmp_path: Path) -> None:
    text = welcome_text(webhook_secret="abc", admin_token="adm", port=3000, data_dir=tmp_path)
    assert '"secret": "abc"' in text and "curl -s -X POST http://localhost:3000/webhook" in text
    assert "Authorization: Bearer adm" in text


@pytest.mark.parametrize(("name", "value", "message"), [
    ("RATE_LIMIT", "garbage", "RATE_LIMIT: 'garbage' is not a rate limit; write e.g. '60/minute'"),
    ("RATE_LIMIT", "30", "RATE_LIMIT: '30' is not a rate limit"),
    ("RATE_LIMIT", "60/minute;", "RATE_LIMIT: '' is not a rate limit"),
    ("RATE_LIMIT", "60/fortnight", "RATE_LIMIT: '60/fortnight' is not a rate limit"),
    ("RATE_LIMIT", "0/minute", "RATE_LIMIT: '0/minute' must allow at least 1 request"),
    ("RATE_LIMIT", "5/30 days", "RATE_LIMIT: '5/30 days': windows longer than 7 days"),
    ("AUTH_FAILURE_LIMIT", "ten per minute", "AUTH_FAILURE_LIMIT: 'ten per minute' is not a rate limit"),
    ("PLAN_RATE_LIMITS", '{"Free": "lots"}', "PLAN_RATE_LIMITS['Free']: 'lots' is not a rate limit"),
    ("PLAN_RATE_LIMITS", '{"Free": ""}', "PLAN_RATE_LIMITS['Free']: empty"),
    ("PLAN_RATE_LIMITS", '["60/minute"]', "plan_rate_limits"),
    ("ALLOWED_IPS", "tradingview,300.1.2.3", "ALLOWED_IPS: '300.1.2.3' is not an IP address, a CIDR block"),
    ("ALLOWED_IPS", "10.0.0.1/8", "ALLOWED_IPS: '10.0.0.1/8' is not an IP address, a CIDR block"),
    ("ALLOWED_IPS", "trading-view", "ALLOWED_IPS: 'trading-view' is not"),
    ("ALLOWED_IPS", "*", "ALLOWED_IPS: '*' is not"),
    ("FORWARDED_ALLOW_IPS", "nginx", "FORWARDED_ALLOW_IPS (--forwarded-allow-ips): 'nginx' is not an IP address"),
    ("FORWARDED_ALLOW_IPS", "tradingview", "FORWARDED_ALLOW_IPS (--forwarded-allow-ips): 'tradingview' is not"),
])
def test_bad_rate_limit_and_address_settings_refuse_to_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str,
                                                             message: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=re.escape(message)):
        Settings(_env_file=None)


def test_rate_limit_and_address_settings_accept_their_documented_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE_LIMIT", " 30 per minute; 200/hour , 1000/day ")
    monkeypatch.setenv("PLAN_RATE_LIMITS", '{"Free": "10/minute", "Pro": "300/minute;5000/hour"}')
    monkeypatch.setenv("AUTH_FAILURE_LIMIT", "")  # empty switches a limit off
    monkeypatch.setenv("ALLOWED_IPS", "tradingview, 10.0.0.0/8, 2001:db8::/32, 198.51.100.7")
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "10.0.0.2,172.16.0.0/12")
    settings = Settings(_env_file=None)
    assert settings.rate_limit == "30 per minute; 200/hour , 1000/day"
    assert settings.plan_rate_limits == {"Free": "10/minute", "Pro": "300/minute;5000/hour"}
    assert settings.auth_failure_limit == "" and settings.forwarded_allow_ips == "10.0.0.2,172.16.0.0/12"
