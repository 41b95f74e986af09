"""Settings: environment variables, validation of every setting, guessable secrets, first-run secrets."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from sparky.cli.main import main
from sparky.cli.settings_errors import InvalidSettings, load_settings
from sparky.config import LegacyConfig, Settings
from sparky.data_dir_lock import DataDirInUse, DataDirLock
from sparky.first_run import load_or_create_secret, welcome_text
from tests.support import message_after

REPOSITORY = Path(__file__).resolve().parents[2]
EXAMPLE_SECRET = json.loads((REPOSITORY / "config.example.json").read_text())["webhookSecret"]
STRONG = "Zq8-long-random-value"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """No setting from the machine running the tests, and no .env from its working directory."""
    for name in list(os.environ):
        if name.lower() in Settings.model_fields:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


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
                        admin_token="t0k-long-random-16")
    assert settings.effective_log_format == "json"


def test_production_accepts_the_config_json_secret(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"webhookSecret": "from-config-7Hq-long"}')
    Settings(_env_file=None, sparky_env="production", config_path=config, admin_token="t0k-long-random-16")


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


# --- every setting is validated, and the message names it as the user wrote it ---------------------


def problem(clean_env: pytest.MonkeyPatch, **env: str) -> str:
    """What the CLI prints for these environment variables (on loopback unless HOST is given)."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {"HOST": "127.0.0.1", **env}.items():
            patch.setenv(name, value)
        with pytest.raises(InvalidSettings) as refused:
            load_settings(_env_file=None)
    return str(refused.value)


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("LOG_LEVEL", "garbage", "LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL' (got"),
    ("LOG_FORMAT", "xml", "LOG_FORMAT: Input should be 'json' or 'console' (got 'xml')"),
    ("SPARKY_ENV", "prod", "SPARKY_ENV: Input should be 'development', 'production' or 'test' (got 'prod')"),
    ("SQLITE_SYNCHRONOUS", "fast", "SQLITE_SYNCHRONOUS: Input should be 'FULL' or 'NORMAL' (got 'fast')"),
    ("PORT", "http", "PORT: Input should be a valid integer"),
    ("PORT", "70000", "PORT: Input should be less than or equal to 65535"),
    ("HOST", " ", "HOST: must be an address to listen on"),
    ("SPARKY_DATA_DIR", "", "SPARKY_DATA_DIR: must name a directory"),
    ("SYNC_BUDGET_MS", "-1", "SYNC_BUDGET_MS: Input should be greater than or equal to 0"),
    ("MAX_BODY_BYTES", "10", "MAX_BODY_BYTES: Input should be greater than or equal to 1024"),
    ("DUPLICATE_WINDOW_SEC", "-5", "DUPLICATE_WINDOW_SEC: Input should be greater than or equal to 0"),
    ("SIGNAL_MAX_AGE_SEC", "inf", "SIGNAL_MAX_AGE_SEC: Input should be a finite number"),
    ("SECRET_REFRESH_SEC", "nan", "SECRET_REFRESH_SEC: Input should be a finite number"),
    ("TENANT_CACHE_SEC", "0", "TENANT_CACHE_SEC: Input should be greater than 0"),
    ("TENANT_CACHE_SEC", "3600", "TENANT_CACHE_SEC: Input should be less than or equal to 300"),
    ("TENANT_CACHE_SEC", "soon", "TENANT_CACHE_SEC: Input should be a valid number"),
    ("PRICE_REFRESH_SEC", "-1", "PRICE_REFRESH_SEC: Input should be greater than or equal to 0"),
    ("PRICE_REFRESH_SEC", "2", "PRICE_REFRESH_SEC: 0 (off) or at least 5 seconds"),
    ("PRICE_REFRESH_SEC", "7200", "PRICE_REFRESH_SEC: Input should be less than or equal to 3600"),
    ("PRICE_REFRESH_SEC", "inf", "PRICE_REFRESH_SEC: Input should be a finite number"),
    ("PRICE_REFRESH_SEC", "often", "PRICE_REFRESH_SEC: Input should be a valid number"),
    ("DEFAULT_TRADE_AMOUNT_USD", "NaN", "DEFAULT_TRADE_AMOUNT_USD: Input should be a finite number"),
    ("DEFAULT_STOP_LOSS_PERCENT", "100", "DEFAULT_STOP_LOSS_PERCENT: Input should be less than 100"),
    ("DEFAULT_TAKE_PROFIT_PERCENT", "-1", "DEFAULT_TAKE_PROFIT_PERCENT: Input should be greater than or equal to 0"),
    ("PROTECTION_ATTEMPTS", "0", "PROTECTION_ATTEMPTS: Input should be greater than or equal to 1"),
    ("CLOSE_CONFIRM_ATTEMPTS", "many", "CLOSE_CONFIRM_ATTEMPTS: Input should be a valid integer"),
    ("RECONCILE_FAST_SEC", "0", "RECONCILE_FAST_SEC: Input should be greater than 0"),
    ("RECONCILE_FAST_SEC", "inf", "RECONCILE_FAST_SEC: Input should be a finite number"),
    ("RECONCILE_SLOW_SEC", "soon", "RECONCILE_SLOW_SEC: Input should be a valid number"),
    ("RECONCILE_SLOW_SEC", "100000", "RECONCILE_SLOW_SEC: Input should be less than or equal to 86400"),
    ("LIMIT_ORDER_TTL", "-1", "LIMIT_ORDER_TTL: Input should be greater than or equal to 0"),
    ("LIMIT_ORDER_TTL", "1h", "LIMIT_ORDER_TTL: Input should be a valid number"),
    ("PAPER_STARTING_EQUITY", "0", "PAPER_STARTING_EQUITY: Input should be greater than 0"),
    ("PAPER_LEVERAGE", "500", "PAPER_LEVERAGE: Input should be less than or equal to 125"),
    ("PAPER_FEE_RATE", "1", "PAPER_FEE_RATE: Input should be less than 1"),
    ("PAPER_ATTACHED_BRACKETS", "maybe", "PAPER_ATTACHED_BRACKETS: Input should be a valid boolean"),
    ("PAPER_SYMBOL_RULES", "{oops", "PAPER_SYMBOL_RULES: not valid JSON"),
    ("PAPER_SYMBOL_RULES", '{"BTCUSDT": {"tick_size": "0.1"}}', "PAPER_SYMBOL_RULES: BTCUSDT: step_size missing"),
    ("PAPER_SYMBOL_RULES", '{"BTCUSDT": {"tick_size": "0", "step_size": "1"}}',
     "PAPER_SYMBOL_RULES: BTCUSDT: tick_size must be positive"),
    ("PAPER_SYMBOL_RULES", '{"BTCUSDT": {"tick": "1", "step_size": "1"}}', "PAPER_SYMBOL_RULES: BTCUSDT: unknown tick"),
    ("PAPER_SYMBOL_RULES", '{"BTCUSDT": {"tick_size": "x", "step_size": "1"}}',
     "PAPER_SYMBOL_RULES[BTCUSDT][tick_size]: Input should be a valid decimal"),
    ("PLAN_LIMITS", "five", "PLAN_LIMITS: not valid JSON"),
    ("PLAN_LIMITS", '{"Free": -1}', "PLAN_LIMITS[Free]: Input should be greater than or equal to 0"),
    ("PLAN_LIMITS", '{"Free": null}', "PLAN_LIMITS: Free: must be a number: plans without an entry and unknown "
                                      "plans get Free's limit, which is never unlimited"),
    ("PLAN_LIMITS", '{"free": null, "Basic": 10}', "PLAN_LIMITS: Free: must be a number"),
    ("PLAN_LIMITS", '{"Basic": 10, "basic": 20}', "PLAN_LIMITS: 'basic' is given twice (plan names ignore case)"),
    ("PLAN_LIMITS", '{" ": 10}', "PLAN_LIMITS: a plan name is empty"),
    ("PLAN_LIMITS", '{"Basic": 2.5}', "PLAN_LIMITS[Basic]: Input should be a valid integer"),
    ("REDIS_URL", "localhost:6379", "REDIS_URL: must be a URL such as redis://127.0.0.1:6379/0"),
    ("SUPABASE_URL", "project.supabase.co", "SUPABASE_URL: must be a URL such as https://<project>.supabase.co"),
    ("CONFIG_PATH", "nowhere/config.json", "CONFIG_PATH: nowhere/config.json does not exist"),
    ("ARTHUR_ML_URL", "arthur:8001", "ARTHUR_ML_URL: must be a URL such as http://127.0.0.1:8001"),
    ("ARTHUR_ML_URL", "ftp://arthur", "ARTHUR_ML_URL: must be a URL such as http://127.0.0.1:8001"),
    ("ARTHUR_ML_TIMEOUT_SEC", "3", "ARTHUR_ML_TIMEOUT_SEC: Input should be less than or equal to 2.5"),
    ("ARTHUR_ML_TIMEOUT_SEC", "0", "ARTHUR_ML_TIMEOUT_SEC: Input should be greater than 0"),
    ("ARTHUR_ML_TIMEOUT_SEC", "1s", "ARTHUR_ML_TIMEOUT_SEC: Input should be a valid number"),
    ("OPTIONS_MONITOR_SEC", "1", "OPTIONS_MONITOR_SEC: Input should be greater than or equal to 5"),
    ("OPTIONS_MONITOR_SEC", "often", "OPTIONS_MONITOR_SEC: Input should be a valid number"),
    ("OPTIONS_MONITOR_SEC", "7200", "OPTIONS_MONITOR_SEC: Input should be less than or equal to 3600"),
])
def test_a_bad_setting_is_refused_with_a_message_naming_it(clean_env, setting: str, value: str, says: str) -> None:
    assert says in problem(clean_env, **{setting: value}).splitlines()[0]


def test_paths_that_are_not_what_they_should_be(clean_env, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "broken.json").write_text('{"webhookSecret": ')
    (tmp_path / "list.json").write_text("[]")
    assert problem(clean_env, SPARKY_DATA_DIR="a-file") == "SPARKY_DATA_DIR: a-file exists and is not a directory"
    assert problem(clean_env, CONFIG_PATH=str(tmp_path)) == f"CONFIG_PATH: {tmp_path} is not a file"
    assert problem(clean_env, CONFIG_PATH="broken.json").startswith("CONFIG_PATH: broken.json is not valid JSON")
    assert problem(clean_env, CONFIG_PATH="list.json").startswith("CONFIG_PATH: list.json: the file: Input should be")


def test_half_a_supabase_configuration_is_refused_rather_than_served_from_sqlite(clean_env) -> None:
    assert problem(clean_env, SUPABASE_URL="https://x.supabase.co").startswith(
        "SUPABASE_SERVICE_ROLE_KEY is not set: Supabase mode needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
    assert problem(clean_env, SUPABASE_SERVICE_ROLE_KEY="service-role").startswith("SUPABASE_URL is not set")


def test_the_slow_reconcile_cadence_is_never_faster_than_the_fast_one(clean_env) -> None:
    assert problem(clean_env, RECONCILE_FAST_SEC="60", RECONCILE_SLOW_SEC="30").startswith(
        "RECONCILE_SLOW_SEC must be at least RECONCILE_FAST_SEC (30 < 60)")


def test_secrets_are_never_echoed_in_messages(clean_env) -> None:
    message = problem(clean_env, WEBHOOK_SECRET="Xy9-typo", HOST="0.0.0.0", PORT="x")
    assert "PORT:" in message and "Xy9-typo" not in message


def test_choices_ignore_case_and_blank_optional_settings_are_unset(clean_env) -> None:
    for name, value in {"LOG_LEVEL": "debug", "SQLITE_SYNCHRONOUS": "normal", "SPARKY_ENV": "Test",
                        "LOG_FORMAT": "JSON", "CONFIG_PATH": "", "REDIS_URL": " ", "WEBHOOK_SECRET": ""}.items():
        clean_env.setenv(name, value)
    settings = load_settings(_env_file=None)
    assert (settings.log_level, settings.sqlite_synchronous, settings.sparky_env, settings.log_format) == (
        "DEBUG", "NORMAL", "test", "json")
    assert (settings.config_path, settings.redis_url, settings.webhook_secret) == (None, None, None)


def test_the_documented_env_example_is_a_valid_env_file(clean_env, tmp_path: Path) -> None:
    shutil.copy(REPOSITORY / ".env.example", tmp_path / ".env")  # "Copy to .env and adjust"
    settings = load_settings()
    assert (settings.config_path, settings.log_format, settings.redis_url) == (None, None, None)
    assert settings.sparky_data_dir == Path("./data") and settings.port == 3000


# --- guessable secrets on a server other machines can reach -------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "sparky.example.com"])
def test_the_example_secret_is_refused_beyond_loopback(host: str) -> None:
    with pytest.raises(ValidationError, match=f"refusing to listen on {host}.*WEBHOOK_SECRET is a placeholder"):
        Settings(_env_file=None, host=host, webhook_secret=EXAMPLE_SECRET)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_accepts_any_secret_for_trying_things(host: str) -> None:
    settings = Settings(_env_file=None, host=host, webhook_secret=EXAMPLE_SECRET, admin_token="admin")
    assert settings.webhook_secret.get_secret_value() == EXAMPLE_SECRET


@pytest.mark.parametrize("setting", ["webhook_secret", "admin_token", "signalstudio_forward_secret"])
def test_short_and_placeholder_secrets_are_refused_beyond_loopback(setting: str) -> None:
    name = setting.upper()
    with pytest.raises(ValidationError, match=f"{name} is shorter than 16 characters"):
        Settings(_env_file=None, **{setting: "x" * 15})
    with pytest.raises(ValidationError, match=f"{name} is a placeholder"):
        Settings(_env_file=None, **{setting: "changeme-before-going-live"})
    assert Settings(_env_file=None, **{setting: "x" * 16}).host == "0.0.0.0"


def test_generated_secrets_need_no_configuration_on_every_interface() -> None:
    assert Settings(_env_file=None).host == "0.0.0.0"


@pytest.mark.parametrize("sparky_env", ["development", "production"])
def test_the_example_config_secret_is_refused_even_beside_a_strong_one(tmp_path: Path, sparky_env: str) -> None:
    # both secrets authenticate alerts, so the weak one is the way in
    config = tmp_path / "config.json"
    shutil.copy(REPOSITORY / "config.example.json", config)
    with pytest.raises(ValidationError, match="config.json webhookSecret is a placeholder"):
        Settings(_env_file=None, sparky_env=sparky_env, config_path=config, webhook_secret=STRONG, admin_token=STRONG)


def test_production_refuses_short_secrets_even_on_loopback() -> None:
    with pytest.raises(ValidationError, match="refusing to start in production: ADMIN_TOKEN is shorter than 16"):
        Settings(_env_file=None, sparky_env="production", host="127.0.0.1", webhook_secret=STRONG, admin_token="adm")


# --- one server per data dir -----------------------------------------------------------------------


def test_the_data_dir_lock_names_its_holder_and_is_released(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DataDirLock.acquire(data_dir):
        with pytest.raises(DataDirInUse) as second:
            DataDirLock.acquire(data_dir)  # a second open file on the same lock conflicts like another process
        assert second.value.holder_pid == os.getpid()
        assert f"the data dir {data_dir.resolve()} is in use by another Sparky server (pid {os.getpid()})" in str(
            second.value)
    DataDirLock.acquire(data_dir).release()


def test_sparky_users_names_a_bad_setting_without_a_traceback(clean_env, capsys: pytest.CaptureFixture[str]) -> None:
    clean_env.setenv("PLAN_LIMITS", "five")  # a JSON setting pydantic-settings cannot decode
    assert main(["users", "add"]) == 2
    err = capsys.readouterr().err
    assert "invalid settings (or pass --data-dir):\nPLAN_LIMITS: not valid JSON" in err and "Traceback" not in err


def test_sparky_serve_names_a_data_dir_it_cannot_create(clean_env, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("x")
    clean_env.setenv("SPARKY_DATA_DIR", str(tmp_path / "a-file" / "data"))
    assert main(["serve", "--host", "127.0.0.1", "--port", "1"]) == 2  # refused before any port is bound
    err = capsys.readouterr().err
    assert f"sparky: cannot use the data dir {tmp_path / 'a-file' / 'data'}: Not a directory" in err


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
