"""Settings from the environment and `.env` (pydantic-settings), plus the legacy config.json."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sparky import settings_checks
from sparky.exchanges.tradier_options.settings import OptionsSettings
from sparky.plan_limits import merged_plan_limits
from sparky.secret_policy import refuse_guessable_secrets
from sparky.signals.rate_limits import parse_rates
from sparky.signals.source_ips import parse_networks


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


#: config.json section names that differ from the exchange's (`tradierOptions`, lower-cased)
LEGACY_SECTION_NAMES = {"tradieroptions": "tradier_options"}


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
            LEGACY_SECTION_NAMES.get(key.lower(), key.lower()): value
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


#: the shortest PRICE_REFRESH_SEC but 0 (off)
MIN_PRICE_REFRESH_SEC = 5


class Settings(BaseSettings):
    """Every knob, read from the environment (upper-case names) and `.env`."""

    # allow_inf_nan: "inf" or "nan" is never a meaningful number of seconds or dollars
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      allow_inf_nan=False)

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
    secret_refresh_sec: float = Field(10, gt=0)
    #: with REDIS_URL, a background loop that must run on one server only is led by the server
    #: holding its Redis lock, renewed every third of this; a server that dies is replaced within it
    background_leader_ttl_sec: float = Field(30, ge=3, le=600)
    #: how long plans, trade settings, strategies, credentials and notification preferences read
    #: from the store are reused: a dashboard edit applies within this many seconds
    tenant_cache_sec: float = Field(10, gt=0, le=300)
    #: webhooks per UTC month by plan (null = unlimited), laid over these defaults; plans without an
    #: entry and unknown plans get Free's limit, so Free needs a number (sparky.plan_limits)
    plan_limits: dict[str, Annotated[int, Field(ge=0)] | None] = {"Free": 5, "Basic": 75, "Premium": 300, "Pro": None,
                                                                  "Admin": None}
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    log_format: Literal["json", "console"] | None = None

    #: answer inline when execution finishes within this budget, else 202 + request id
    sync_budget_ms: int = Field(2500, ge=0, le=60_000)
    #: entries (buy/sell) per user, e.g. "60/minute;500/hour"; exits are never limited; empty disables it
    rate_limit: str = "60/minute;500/hour"
    #: RATE_LIMIT per plan, JSON: {"Free": "10/minute;100/hour", "Pro": "300/minute"}; other plans get RATE_LIMIT
    plan_rate_limits: dict[str, str] = {}
    #: failed attempts (unreadable body, wrong secret) per source address; past it they get 429; empty disables it
    auth_failure_limit: str = "10/minute"
    #: only these addresses may POST /webhook: IPs, CIDR blocks and `tradingview` (its published IPs); empty = any
    allowed_ips: str = ""
    #: proxies whose X-Forwarded-For names the client (`sparky serve --forwarded-allow-ips` overrides); `*` = any
    forwarded_allow_ips: str = "127.0.0.1,::1"
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
    #: the reconcile loop looks at keys with an order in flight or an unconfirmed stop this often (s)
    reconcile_fast_sec: float = Field(10, gt=0, le=3600)
    #: and at every other open position (and the venues' positions, to adopt) this often (s)
    reconcile_slow_sec: float = Field(120, gt=0, le=86_400)
    #: a limit entry still unfilled after this many seconds is cancelled (0: it rests until a signal replaces it)
    limit_order_ttl: float = Field(0, ge=0)

    paper_starting_equity: Decimal = Field(Decimal(10_000), gt=0)
    paper_leverage: Decimal = Field(Decimal(10), gt=0, le=125)
    paper_fee_rate: Decimal = Field(Decimal(0), ge=0, lt=1)
    #: per-symbol rules for the paper exchange, JSON: {"BTCUSDT": {"tick_size": "0.1", "step_size":
    #: "0.001", "min_quantity": "0.001", "min_notional": "5"}}; other symbols derive rules from price
    paper_symbol_rules: dict[str, dict[str, Decimal]] = {}
    #: the paper venue attaches SL/TP to entries (one request per open, like OANDA); false makes
    #: it behave like venues that take SL/TP as separate orders after the fill (like Aster)
    paper_attached_brackets: bool = True
    #: how often open positions get their current price and unrealized P&L (monitor/prices.py); 0: never
    price_refresh_sec: float = Field(30, ge=0, le=3600)
    #: the AI worker (`sparky ai-worker`): seconds from the start of one cycle to the start of the
    #: next (a cycle that takes longer is followed at once by the next, never overlapped); /health/ai-worker
    #: reports the worker down when its last cycle ended more than twice this long ago
    ai_cycle_sec: float = Field(45, ge=5, le=3600)
    #: AI strategies the worker runs at once (each a model call and maybe a webhook)
    ai_concurrency: int = Field(10, ge=1, le=500)
    #: SQLite PRAGMA synchronous: FULL survives power loss, NORMAL survives process crashes
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    #: ML pre-trade validation service (docs/ML_VALIDATION.md): entries of strategies with
    #: ml_assistance_enabled are asked of ARTHUR_ML_URL/validate-strategy-signal; empty: never asked
    arthur_ml_url: str | None = None
    #: how long an entry waits for that answer before it trades anyway; at most 2.5 s, so an alert
    #: is still answered within TradingView's 3 s
    arthur_ml_timeout_sec: float = Field(1.0, gt=0, le=2.5)

    # The AI worker's decisions (docs/AI_WORKER.md); GROQ_API_KEY and GROQ_MODEL are needed to run it
    groq_api_key: SecretStr | None = None
    #: the model id the provider serves (no default: ids are retired, the operator picks one)
    groq_model: str | None = None
    #: another OpenAI-compatible provider's base URL (the part before /chat/completions); empty: Groq
    ai_llm_base_url: str | None = None
    ai_llm_timeout_sec: float = Field(20, gt=0, le=300)
    #: retries of a model call answered 429 or 5xx, or not answered at all
    ai_llm_max_retries: int = Field(2, ge=0, le=10)
    ai_llm_temperature: Decimal = Field(Decimal("0.2"), ge=0, le=2)
    #: the candles the model sees (one of 1m 5m 15m 1h 4h 1d)
    ai_candle_interval: Literal["1m", "5m", "15m", "1h", "4h", "1d"] = "15m"
    #: where the worker posts its signals; empty: this server's own /webhook on 127.0.0.1:PORT
    ai_webhook_url: str | None = None
    #: the public market data strategies on the `paper` exchange watch (klines need no keys there)
    ai_paper_market_data_venue: str = "aster"

    #: the options executor's settings as JSON (exchanges/tradier_options/settings.py; docs/EXCHANGES.md),
    #: e.g. TRADIER_OPTIONS='{"min_days_to_expiry": 2, "strike_tolerance_percent": 3}'
    tradier_options: OptionsSettings = OptionsSettings()
    #: the options monitor follows every pending or open tradier_options trade this often (s)
    options_monitor_sec: float = Field(15, ge=5, le=3600)

    #: GET /metrics on 127.0.0.1:METRICS_PORT without the admin token (then not on the main port)
    metrics_port: int | None = Field(None, ge=1, le=65535)
    #: one `http.access` line per request: method, path without the query, status, duration, client
    access_log: bool = False
    #: the local user's notification channels, apprise URLs separated by spaces or commas (docs/NOTIFICATIONS.md)
    notify_urls: SecretStr | None = None
    #: the operator's channels: unprotected positions, failing background loops, a silent AI worker
    operator_notify_urls: SecretStr | None = None
    #: a background loop failing this many runs in a row alerts the operator (once, until it succeeds)
    operator_alert_loop_failures: int = Field(3, ge=1, le=1000)

    @field_validator(*settings_checks.BLANK_MEANS_UNSET, mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return settings_checks.blank_to_none(value)

    @field_validator(*settings_checks.ANY_CASE, mode="before")
    @classmethod
    def _any_case(cls, value: Any) -> Any:
        return settings_checks.normalise_case(value)

    @field_validator("host")
    @classmethod
    def _listen_host(cls, value: str) -> str:
        return settings_checks.listen_host(value)

    @field_validator("sparky_data_dir", mode="before")
    @classmethod
    def _data_dir(cls, value: Any) -> Any:
        return settings_checks.data_dir(value)

    @field_validator("config_path")
    @classmethod
    def _config_file(cls, value: Path | None) -> Path | None:
        return None if value is None else settings_checks.config_file(value, LegacyConfig.load)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        return settings_checks.url(value, ("redis", "rediss", "unix"), "redis://127.0.0.1:6379/0")

    @field_validator("arthur_ml_url")
    @classmethod
    def _arthur_ml_url(cls, value: str | None) -> str | None:
        checked = settings_checks.url(value, ("https", "http"), "http://127.0.0.1:8001")
        return checked.rstrip("/") if checked else checked

    @field_validator("supabase_url")
    @classmethod
    def _supabase_url(cls, value: str | None) -> str | None:
        return settings_checks.url(value, ("https", "http"), "https://<project>.supabase.co")

    @field_validator("groq_model", "ai_llm_base_url", "ai_webhook_url", "groq_api_key", mode="before")
    @classmethod
    def _ai_blank_is_unset(cls, value: Any) -> Any:
        return settings_checks.blank_to_none(value)

    @field_validator("ai_llm_base_url")
    @classmethod
    def _ai_llm_base_url(cls, value: str | None) -> str | None:
        return settings_checks.url(value, ("https", "http"), "https://api.openai.com/v1")

    @field_validator("ai_webhook_url")
    @classmethod
    def _ai_webhook_url(cls, value: str | None) -> str | None:
        return settings_checks.url(value, ("https", "http"), "http://127.0.0.1:3000/webhook")

    @field_validator("ai_paper_market_data_venue")
    @classmethod
    def _ai_paper_venue(cls, value: str) -> str:
        name = value.strip().lower()
        if not name or name == "paper":  # the paper venue keeps no price history
            raise ValueError("must name a venue that serves candles, such as aster (not paper)")
        return name

    @field_validator("paper_symbol_rules")
    @classmethod
    def _paper_symbol_rules(cls, value: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
        return settings_checks.paper_symbol_rules(value)

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        parse_rates(value, setting="RATE_LIMIT")
        return value.strip()

    @field_validator("auth_failure_limit")
    @classmethod
    def _auth_failure_limit(cls, value: str) -> str:
        parse_rates(value, setting="AUTH_FAILURE_LIMIT")
        return value.strip()

    @field_validator("plan_limits")
    @classmethod
    def _plan_limits(cls, value: dict[str, int | None]) -> dict[str, int | None]:
        return merged_plan_limits(value)

    @field_validator("plan_rate_limits")
    @classmethod
    def _plan_rates(cls, value: dict[str, str]) -> dict[str, str]:
        for plan, rates in value.items():
            if not parse_rates(rates, setting=f"PLAN_RATE_LIMITS[{plan!r}]"):
                raise ValueError(f"PLAN_RATE_LIMITS[{plan!r}]: empty; give the plan a limit or leave it out")
        return value

    @field_validator("price_refresh_sec")
    @classmethod
    def _price_refresh(cls, value: float) -> float:
        if 0 < value < MIN_PRICE_REFRESH_SEC:  # every cycle asks every venue: faster spends their rate limits
            raise ValueError(f"0 (off) or at least {MIN_PRICE_REFRESH_SEC:g} seconds")
        return value

    @field_validator("notify_urls", "operator_notify_urls")
    @classmethod
    def _notify_urls(cls, value: SecretStr | None, info: Any) -> SecretStr | None:
        return settings_checks.notify_urls(value, info.field_name.upper())

    @model_validator(mode="after")
    def _metrics_port(self) -> Settings:
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise ValueError(f"METRICS_PORT must differ from PORT ({self.port}): the metrics get a port of their own")
        return self

    @field_validator("allowed_ips")
    @classmethod
    def _allowed_ips(cls, value: str) -> str:
        parse_networks(value, setting="ALLOWED_IPS")
        return value.strip()

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _forwarded_allow_ips(cls, value: str) -> str:
        parse_networks(value, setting="FORWARDED_ALLOW_IPS (--forwarded-allow-ips)", presets=False, wildcard=True)
        return value.strip()

    @model_validator(mode="after")
    def _reconcile_cadence(self) -> Settings:
        if self.reconcile_slow_sec < self.reconcile_fast_sec:
            raise ValueError("RECONCILE_SLOW_SEC must be at least RECONCILE_FAST_SEC "
                             f"({self.reconcile_slow_sec:g} < {self.reconcile_fast_sec:g})")
        return self

    @model_validator(mode="after")
    def _supabase_needs_both(self) -> Settings:
        # half a Supabase configuration would silently serve the local SQLite store instead
        if bool(self.supabase_url) != bool(self.supabase_service_role_key):
            missing = "SUPABASE_SERVICE_ROLE_KEY" if self.supabase_url else "SUPABASE_URL"
            raise ValueError(f"{missing} is not set: Supabase mode needs SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY")
        return self

    @model_validator(mode="after")
    def _refuse_guessable_secrets(self) -> Settings:
        refuse_guessable_secrets(self.configured_secrets(), host=self.host, production=self.is_production)
        return self

    def configured_secrets(self) -> dict[str, str | None]:
        """Each secret the operator may configure, by the name a user knows it by (None: not configured,
        Sparky generates the webhook secret and the admin token): what the start-up refuses and `sparky
        check` warns about when guessable."""
        legacy_secret = LegacyConfig.load(self.config_path).webhook_secret if self.config_path else None
        return {
            "WEBHOOK_SECRET": _plain(self.webhook_secret),
            "config.json webhookSecret": legacy_secret or None,
            "ADMIN_TOKEN": _plain(self.admin_token),
            "SIGNALSTUDIO_FORWARD_SECRET": _plain(self.signalstudio_forward_secret),
        }

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

    @property
    def effective_ai_webhook_url(self) -> str:
        return self.ai_webhook_url or f"http://127.0.0.1:{self.port}/webhook"


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None
