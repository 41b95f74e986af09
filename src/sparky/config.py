"""Settings from the environment and `.env` (pydantic-settings), plus the legacy config.json."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset(
    {"", "changeme", "change-me", "change_me", "secret", "password", "xxx", "todo", "placeholder",
     "your-secret-here", "your_webhook_secret", "your-webhook-secret", "your_secret_here"}
)


def is_placeholder(value: str | None) -> bool:
    if value is None:
        return True
    v = value.strip().lower()
    return v in PLACEHOLDER_SECRETS or v.startswith(("your", "replace", "<", "${"))


class ExchangeSection(BaseModel):
    """One exchange section of the legacy config.json (`"aster": {...}`)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    api_url: str | None = Field(None, validation_alias=AliasChoices("apiUrl", "baseUrl", "api_url"))
    api_key: str | None = Field(None, validation_alias=AliasChoices("apiKey", "api_key"))
    api_secret: str | None = Field(None, validation_alias=AliasChoices("apiSecret", "api_secret"))
    account_id: str | None = Field(None, validation_alias=AliasChoices("accountId", "account_id"))
    access_token: str | None = Field(None, validation_alias=AliasChoices("accessToken", "access_token"))
    environment: str | None = None
    trade_amount: Decimal | None = Field(
        None, gt=0, validation_alias=AliasChoices("tradeAmount", "trade_amount")
    )
    position_multiplier: Decimal = Field(
        Decimal(1), gt=0, validation_alias=AliasChoices("positionMultiplier", "position_multiplier")
    )


class RiskManagement(BaseModel):
    model_config = ConfigDict(extra="allow")

    max_positions: int | None = Field(None, ge=0, validation_alias=AliasChoices("maxPositions", "max_positions"))


class LegacyConfig(BaseModel):
    """The original's config.json: `webhookSecret`, exchange sections, `riskManagement`."""

    webhook_secret: str | None = None
    risk_management: RiskManagement = RiskManagement()
    exchanges: dict[str, ExchangeSection] = {}

    @model_validator(mode="before")
    @classmethod
    def _split_sections(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        exchanges = {
            key.lower(): value
            for key, value in data.items()
            if isinstance(value, dict) and key not in ("riskManagement", "risk_management")
        }
        return {
            "webhook_secret": data.get("webhookSecret") or data.get("webhook_secret"),
            "risk_management": data.get("riskManagement") or data.get("risk_management") or {},
            "exchanges": exchanges,
        }

    @classmethod
    def load(cls, path: Path | None) -> LegacyConfig:
        if path is None or not path.exists():
            return cls()
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))


class Settings(BaseSettings):
    """Every knob, read from the environment (upper-case names) and `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    sparky_env: Literal["development", "production", "test"] = "development"
    host: str = "0.0.0.0"
    port: int = Field(3000, ge=1, le=65535)
    sparky_data_dir: Path = Path("./data")
    webhook_secret: SecretStr | None = None
    admin_token: SecretStr | None = None
    config_path: Path | None = None
    #: shared cache, duplicate keys and (later) locks for several server instances; empty = in-process
    redis_url: str | None = None
    #: multi-tenant mode on Supabase (else the SQLite store in the data dir serves local users)
    supabase_url: str | None = None
    supabase_service_role_key: SecretStr | None = None
    #: key SignalStudio signs forwarded alerts with (X-Sparky-Signature); empty disables forwards
    signalstudio_forward_secret: SecretStr | None = None
    #: how often the per-user webhook secrets are re-read from the store
    secret_refresh_sec: float = Field(30, gt=0)
    #: webhooks per UTC month by plan (null = unlimited); unknown plans get Free's limit
    plan_limits: dict[str, int | None] = {"Free": 5, "Basic": 75, "Premium": 300, "Pro": None}
    log_level: str = "INFO"
    log_format: Literal["json", "console"] | None = None

    #: answer inline when execution finishes within this budget, else 202 + request id
    sync_budget_ms: int = Field(2500, ge=0, le=60_000)
    #: slowapi limit string per client IP on POST /webhook; empty disables it
    rate_limit: str = "30/minute"
    max_body_bytes: int = Field(64 * 1024, ge=1024, le=10 * 1024 * 1024)
    #: identical bodies from the same user within this window are duplicates
    duplicate_window_sec: float = Field(30, ge=0)
    #: requests left pending by a crash are executed on start-up only if younger than this
    signal_max_age_sec: float = Field(10, gt=0)
    #: entries whose alert `timestamp` is older than this are refused, for every user (0: not checked);
    #: TradingView delivers within seconds, but queues alerts for a minute or more when busy
    max_signal_age_sec: int = Field(120, ge=0)

    default_trade_amount_usd: Decimal = Field(Decimal(600), gt=0)
    #: stop-loss used when an alert names none; 0 allows unprotected entries
    default_stop_loss_percent: Decimal = Field(Decimal(8), ge=0, lt=100)
    default_take_profit_percent: Decimal = Field(Decimal(0), ge=0)
    #: attempts to place the stop-loss before the position is closed at market
    protection_attempts: int = Field(3, ge=1, le=10)
    #: how often a reversal re-reads the position before giving up on a confirmed close
    close_confirm_attempts: int = Field(5, ge=1, le=50)

    paper_starting_equity: Decimal = Field(Decimal(10_000), gt=0)
    paper_leverage: Decimal = Field(Decimal(10), gt=0, le=125)
    paper_fee_rate: Decimal = Field(Decimal(0), ge=0, lt=1)
    #: per-symbol rules for the paper exchange, JSON: {"BTCUSDT": {"tick_size": "0.1", "step_size":
    #: "0.001", "min_quantity": "0.001", "min_notional": "5"}}; other symbols derive rules from price
    paper_symbol_rules: dict[str, dict[str, Decimal]] = {}
    #: the paper venue attaches SL/TP to entries (one request per open, like OANDA); false makes
    #: it behave like venues that take SL/TP as separate orders after the fill (like Aster)
    paper_attached_brackets: bool = True
    #: SQLite PRAGMA synchronous: FULL survives power loss, NORMAL survives process crashes
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"

    @field_validator("log_level")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()

    @model_validator(mode="after")
    def _refuse_placeholders_in_production(self) -> Settings:
        if self.sparky_env != "production":
            return self
        problems = []
        secret = self.webhook_secret.get_secret_value() if self.webhook_secret else None
        legacy_secret = LegacyConfig.load(self.config_path).webhook_secret if self.config_path else None
        if is_placeholder(secret) and is_placeholder(legacy_secret):
            problems.append("WEBHOOK_SECRET (or config.json webhookSecret) is empty or a placeholder")
        if is_placeholder(self.admin_token.get_secret_value() if self.admin_token else None):
            problems.append("ADMIN_TOKEN is empty or a placeholder")
        forward = self.signalstudio_forward_secret
        if forward is not None and is_placeholder(forward.get_secret_value()):
            problems.append("SIGNALSTUDIO_FORWARD_SECRET is a placeholder")
        if problems:
            raise ValueError("refusing to start in production: " + "; ".join(problems))
        return self

    @property
    def is_production(self) -> bool:
        return self.sparky_env == "production"

    @property
    def effective_log_format(self) -> str:
        return self.log_format or ("json" if self.is_production else "console")

    @property
    def database_path(self) -> Path:
        return self.sparky_data_dir / "sparky.sqlite3"

    @property
    def paper_state_path(self) -> Path:
        return self.sparky_data_dir / "paper-exchange.json"
