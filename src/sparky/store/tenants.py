"""The multi-tenant half of the `Store` port: users' secrets, credentials, plans, limits, strategies,
notifications. Records mirror the tables the SignalStudio dashboard shares (original-sparky.md §3).

Webhook secrets: the dashboard writes `bot_credentials.webhook_secret` in plain text (exchange
'webhook', environment 'production'); users made with `sparky users add` store only
`sha256:<hex>` of theirs. Sparky compares digests, so both kinds work and a secret is never
compared byte by byte with early exit.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

#: plan → webhooks per UTC month (None: unlimited); an unknown plan gets Free's limit. Admin is the
#: dashboard's plan for its operators (unlimited there too).
DEFAULT_PLAN_LIMITS: dict[str, int | None] = {"Free": 5, "Basic": 75, "Premium": 300, "Pro": None, "Admin": None}


DIGEST_PREFIX = "sha256:"


def secret_digest(secret: str) -> str:
    """How a webhook secret is identified everywhere: `sha256:<64 hex>`."""
    return DIGEST_PREFIX + hashlib.sha256(secret.encode()).hexdigest()


def is_digest(value: str) -> bool:
    """`sha256:<64 lowercase hex>`: how `sparky users add` stores a webhook secret. Anything else,
    even with the prefix, is a plain secret (as the dashboard stores them); a stored digest is
    never accepted as the secret itself."""
    hexpart = value[len(DIGEST_PREFIX):]
    return value.startswith(DIGEST_PREFIX) and len(hexpart) == 64 and all(c in "0123456789abcdef" for c in hexpart)



def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The first instants (UTC) of the month `now` is in and of the next one."""
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now!r}: the store takes timezone-aware UTC times")
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if start.month == 12:
        return start, start.replace(year=start.year + 1, month=1)
    return start, start.replace(month=start.month + 1)


def canonical_plan(plan: str) -> str:
    """A known plan name in its canonical case ('pro' -> 'Pro'); another name as given."""
    name = plan.strip()
    if not name:
        raise ValueError("empty plan name")
    return next((known for known in DEFAULT_PLAN_LIMITS if known.lower() == name.lower()), name)


@dataclass
class CredentialRecord:
    """A `bot_credentials` row: one user's keys for one (exchange, environment)."""

    user_id: str
    exchange: str
    environment: str = "production"
    label: str | None = None
    api_key: str | None = None
    api_secret: str | None = None
    passphrase: str | None = None
    account_id: str | None = None
    #: exchange 'webhook' rows only: the plain secret (dashboard) or its digest (`sparky users add`)
    webhook_secret: str | None = None
    extra_metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    def __repr__(self) -> str:  # never print keys
        return f"CredentialRecord(user_id={self.user_id!r}, exchange={self.exchange!r}, environment={self.environment!r})"


@dataclass
class TradeSettings:
    """A `trade_settings_exchange` row. A field that is None (NULL) was never set and limits
    nothing; only what the user set is enforced (0 also means unlimited for the numeric limits).
    The dashboard writes every field of its form, so its rows enforce what its form showed."""

    user_id: str
    exchange: str
    trading_hours_preset: str | None = None  # 24/5 | 24/7 | ny-session | london-session | weekend | custom
    trading_window: list[str] | None = None  # ["HH:MM", "HH:MM"] UTC, for the custom preset
    max_trades_per_week: int | None = None
    max_loss_per_week_usd: Decimal | None = None
    max_open_positions: int | None = None
    allow_weekends: bool | None = None  # None: weekends are not refused
    max_signal_age_sec: int | None = None
    auto_close_outside_window: bool | None = None
    strike_tolerance_percent: Decimal | None = None
    entry_limit_offset_percent: Decimal | None = None
    #: entries per UTC day (midnight to midnight), counted like max_trades_per_week
    max_trades_per_day: int | None = None
    #: an entry's size in USD is capped at this (the original capped rather than refused)
    max_position_size_usd: Decimal | None = None
    position_size_percent: Decimal | None = None  # options: share of buying power
    id: str | None = None


@dataclass
class StrategyRecord:
    user_id: str
    name: str
    status: str = "inactive"  # active | inactive | testing
    id: str | None = None
    description: str | None = None
    asset_class: str | None = None
    stop_loss_percent: Decimal | None = None
    take_profit_percent: Decimal | None = None
    order_config: dict[str, Any] = field(default_factory=dict)
    #: ML pre-trade validation of its entries (docs/ML_VALIDATION.md); `ml_config` holds
    #: `confidence_threshold` (0..1, or a percentage when above 1)
    ml_assistance_enabled: bool = False
    ml_config: dict[str, Any] = field(default_factory=dict)


@dataclass
class NotificationRecord:
    user_id: str
    type: str  # info | success | warning | error | trade | position | limit | system
    title: str
    message: str
    metadata: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    read: bool = False
    created_at: datetime | None = None


@dataclass(frozen=True)
class WeeklyTradeStats:
    trades: int
    #: Σ |pnl_usd| of losing trades closed this week
    loss_usd: Decimal


@dataclass(frozen=True)
class LocalUser:
    id: str
    email: str | None
    plan: str
    created_at: datetime | None = None


class QuotaExceeded(Exception):
    """The user's monthly webhook quota is used up; the request was not recorded as accepted."""

    def __init__(self, current: int, limit: int) -> None:
        super().__init__(f"{current}/{limit}")
        self.current = current
        self.limit = limit


class TenantStore(ABC):
    """Multi-tenant reads and writes. Month and week boundaries are UTC (weeks start Monday 00:00)."""

    # secrets and credentials
    @abstractmethod
    async def webhook_secret_owners(self) -> dict[str, str]:
        """Every production webhook secret as {secret_digest: user_id} (for the in-memory cache)."""

    @abstractmethod
    async def find_webhook_secret_owner(self, secret: str) -> str | None:
        """The user whose production webhook secret is `secret` (plain or digest match), or None."""

    @abstractmethod
    async def get_credentials(self, user_id: str, exchange: str, environment: str = "production") -> CredentialRecord | None: ...

    @abstractmethod
    async def user_exists(self, user_id: str) -> bool:
        """Whether `user_id` (a canonical UUID) names a user of this store: a signed forward may
        act only for one."""

    @abstractmethod
    async def upsert_credentials(self, record: CredentialRecord) -> None:
        """Insert or replace by (user_id, exchange, environment)."""

    # plans and the monthly quota
    @abstractmethod
    async def subscription_plan(self, user_id: str) -> str:
        """The active subscription's plan, else 'Free'."""

    @abstractmethod
    async def record_counted_webhook_request(self, record: Any, *, monthly_limit: int | None) -> int:
        """Insert a webhook_requests row only if the user's count this UTC month (requests accepted
        for execution: rows whose status `counts_toward_quota`) is below `monthly_limit` (None:
        unlimited), atomically with the count, so concurrent requests never overshoot. Returns the
        count including this row. Raises QuotaExceeded (nothing inserted) or DuplicateRequest like
        insert_webhook_request; ValueError for a row whose status is never counted (a refusal)."""

    @abstractmethod
    async def month_request_count(self, user_id: str, now: datetime) -> int:
        """The user's requests in the UTC month of `now`, counted as the quota counts them (rows
        whose status `counts_toward_quota`): what `sparky users list` shows against the plan's limit."""

    # risk limits
    @abstractmethod
    async def get_trade_settings(self, user_id: str, exchange: str) -> TradeSettings | None: ...

    @abstractmethod
    async def upsert_trade_settings(self, settings: TradeSettings) -> None: ...

    @abstractmethod
    async def weekly_trade_stats(self, user_id: str, exchange: str, since: datetime) -> WeeklyTradeStats:
        """Trades entered since `since` — closed (trades) and still open (positions) — and the
        losses of trades closed since then."""

    @abstractmethod
    async def count_open_positions(self, user_id: str, exchange: str | None = None) -> int: ...

    # strategies
    @abstractmethod
    async def find_strategy(self, user_id: str, *, name: str | None = None,
                            strategy_id: str | None = None) -> StrategyRecord | None: ...

    @abstractmethod
    async def upsert_strategy(self, strategy: StrategyRecord) -> StrategyRecord: ...

    # notifications
    @abstractmethod
    async def notification_preferences(self, user_id: str) -> dict[str, bool]:
        """The user's `notification_preferences` booleans; {} when the user has no row (all on)."""

    @abstractmethod
    async def set_notification_preferences(self, user_id: str, preferences: dict[str, bool]) -> None:
        """Create or update the user's row with these `notify_*` booleans (others keep their value)."""

    @abstractmethod
    async def notification_channels(self, user_id: str) -> str | None:
        """The user's notification channels (`notification_preferences.notify_urls`: apprise URLs
        separated by spaces); None when they set none."""

    @abstractmethod
    async def set_notification_channels(self, user_id: str, urls: str | None) -> None:
        """Set (None: clear) the user's channels; their preferences keep their value."""

    @abstractmethod
    async def insert_notification(self, notification: NotificationRecord) -> None: ...

    @abstractmethod
    async def list_notifications(self, user_id: str, *, limit: int = 50) -> list[NotificationRecord]:
        """Most recent first."""

    # local users (embedded mode; on Supabase users live in auth.users and the dashboard)
    @abstractmethod
    async def add_local_user(self, user: LocalUser) -> None:
        """Create the user and an active subscription with `user.plan`."""

    @abstractmethod
    async def set_plan(self, user_id: str, plan: str) -> None: ...

    @abstractmethod
    async def list_local_users(self) -> list[LocalUser]: ...

    async def publish_plan_limits(self, limits: dict[str, int | None]) -> None:
        """Write the plan limits where the database's own functions read them (Supabase:
        `sparky_plan_limits`, for `check_webhook_limit`). A store without such functions keeps
        nothing: the server's settings are the only copy."""
        return None

    # other writers
    async def external_change_marker(self) -> int | None:
        """A value that changes whenever another process (`sparky users`, the dashboard) commits
        to the store, so a server can drop what it cached at once; None when the store cannot
        tell (the caches then expire on their own TTLs)."""
        return None
