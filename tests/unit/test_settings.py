"""Settings: environment variables, production refusal of placeholder secrets, first-run secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from sparky.config import LegacyConfig, Settings
from sparky.first_run import load_or_create_secret, welcome_text
from tests.support import message_after


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PORT", "HOST", "SPARKY_DATA_DIR", "WEBHOOK_SECRET", "SPARKY_ENV", "RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert (settings.port, settings.sparky_data_dir, settings.sync_budget_ms) == (3000, Path("./data"), 2500)
    assert (settings.rate_limit, settings.max_body_bytes, settings.duplicate_window_sec) == ("30/minute", 65536, 30)
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
    assert json.loads(message_after(text, "TradingView alert message")) == {
        "secret": "abc", "action": "{{strategy.market_position}}", "symbol": "{{ticker}}", "exchange": "paper",
        "price": "{{close}}", "stop_loss_percent": 2, "take_profit_percent": 4, "timestamp": "{{timenow}}",
        "alert_id": "{{ticker}}-{{strategy.order.id}}-{{timenow}}",
    }
    assert "flat closes" in text and "docs/TRADINGVIEW.md" in text
    assert "curl -s -X POST http://localhost:3000/webhook" in text
    assert "Authorization: Bearer adm" in text
