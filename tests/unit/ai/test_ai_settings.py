"""The AI worker's settings: each bad value refused with a message naming the setting; GROQ_MODEL
and (for Groq) GROQ_API_KEY required to build the model, the key never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from sparky.ai.llm import GroqModel, OpenAiCompatibleModel
from sparky.ai.wiring import AiSettingsError, build_ai_parts, build_model
from sparky.cli.settings_errors import InvalidSettings, load_settings

KEY = "gsk_secret_value_1234"


def problem(env: pytest.MonkeyPatch, **values: str) -> str:
    for name, value in values.items():
        env.setenv(name, value)
    with pytest.raises(InvalidSettings) as refused:
        load_settings(_env_file=None)
    return str(refused.value)


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("AI_LLM_BASE_URL", "api.openai.com/v1", "AI_LLM_BASE_URL: must be a URL such as https://api.openai.com/v1"),
    ("AI_WEBHOOK_URL", "127.0.0.1:3000/webhook", "AI_WEBHOOK_URL: must be a URL such as http://127.0.0.1:3000/webhook"),
    ("AI_LLM_TIMEOUT_SEC", "0", "AI_LLM_TIMEOUT_SEC: Input should be greater than 0"),
    ("AI_LLM_TIMEOUT_SEC", "soon", "AI_LLM_TIMEOUT_SEC: Input should be a valid number"),
    ("AI_LLM_TIMEOUT_SEC", "inf", "AI_LLM_TIMEOUT_SEC: Input should be a finite number"),
    ("AI_LLM_MAX_RETRIES", "-1", "AI_LLM_MAX_RETRIES: Input should be greater than or equal to 0"),
    ("AI_LLM_MAX_RETRIES", "11", "AI_LLM_MAX_RETRIES: Input should be less than or equal to 10"),
    ("AI_LLM_TEMPERATURE", "3", "AI_LLM_TEMPERATURE: Input should be less than or equal to 2"),
    ("AI_LLM_TEMPERATURE", "NaN", "AI_LLM_TEMPERATURE: Input should be a finite number"),
    ("AI_CANDLE_INTERVAL", "2h", "AI_CANDLE_INTERVAL: Input should be '1m', '5m', '15m', '1h', '4h' or '1d'"),
    ("AI_PAPER_MARKET_DATA_VENUE", "paper", "AI_PAPER_MARKET_DATA_VENUE: must name a venue that serves candles"),
    ("AI_PAPER_MARKET_DATA_VENUE", " ", "AI_PAPER_MARKET_DATA_VENUE: must name a venue that serves candles"),
])
def test_a_bad_ai_setting_is_refused_naming_it(clean_env: pytest.MonkeyPatch, setting: str, value: str,
                                               says: str) -> None:
    assert problem(clean_env, **{setting: value}).startswith(says)


def test_defaults_and_blank_means_unset(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GROQ_MODEL", " ")
    clean_env.setenv("AI_LLM_BASE_URL", "")
    settings = load_settings(_env_file=None)
    assert (settings.groq_model, settings.ai_llm_base_url, settings.groq_api_key) == (None, None, None)
    assert (settings.ai_llm_timeout_sec, settings.ai_llm_max_retries, settings.ai_candle_interval) == (20, 2, "15m")
    assert settings.ai_paper_market_data_venue == "aster"
    assert settings.effective_ai_webhook_url == "http://127.0.0.1:3000/webhook"
    clean_env.setenv("PORT", "8080")
    assert load_settings(_env_file=None).effective_ai_webhook_url == "http://127.0.0.1:8080/webhook"


def test_the_model_needs_a_model_id(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GROQ_API_KEY", KEY)
    with pytest.raises(AiSettingsError, match="^GROQ_MODEL is not set"):
        build_model(load_settings(_env_file=None))


def test_groq_needs_its_key_and_never_shows_it(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GROQ_MODEL", "llama-3.3-70b-versatile")
    with pytest.raises(AiSettingsError, match="^GROQ_API_KEY is not set"):
        build_model(load_settings(_env_file=None))
    clean_env.setenv("GROQ_API_KEY", KEY)
    settings = load_settings(_env_file=None)
    assert KEY not in repr(settings) and KEY not in str(settings.model_dump())


async def test_the_provider_follows_the_base_url(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GROQ_MODEL", "llama-3.3-70b-versatile")
    clean_env.setenv("GROQ_API_KEY", KEY)
    groq = build_model(load_settings(_env_file=None))
    clean_env.setenv("AI_LLM_BASE_URL", "http://127.0.0.1:11434/v1")
    clean_env.delenv("GROQ_API_KEY")  # a local server may need no key
    local = build_model(load_settings(_env_file=None))
    try:
        assert isinstance(groq, GroqModel) and isinstance(local, OpenAiCompatibleModel)
    finally:
        await groq.aclose()
        await local.aclose()


def test_a_bad_key_value_is_never_echoed(clean_env: pytest.MonkeyPatch) -> None:
    message = problem(clean_env, GROQ_API_KEY=KEY, AI_LLM_TIMEOUT_SEC="x")
    assert "AI_LLM_TIMEOUT_SEC" in message and KEY not in message


async def test_an_unknown_paper_market_data_venue_stops_the_worker_naming_the_setting(
        clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    clean_env.setenv("AI_PAPER_MARKET_DATA_VENUE", "asterr")
    clean_env.setenv("SPARKY_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(AiSettingsError, match="^AI_PAPER_MARKET_DATA_VENUE: 'asterr' is not a venue Sparky knows"):
        await build_ai_parts(load_settings(_env_file=None))
