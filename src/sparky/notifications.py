"""`notifications` rows for the dashboard, honouring each user's `notification_preferences`, and
the same notices on channels through apprise (observability/outbound.py, docs/NOTIFICATIONS.md):
each user's own (`notify_urls` beside their preferences; the local user's are NOTIFY_URLS), and the
operator's for every unprotected position (OPERATOR_NOTIFY_URLS).

Fire-and-forget: `notify` returns at once and never raises; the write runs as a tracked task whose
failure is logged. Preferences and channels are cached per user (`ttl`, TENANT_CACHE_SEC).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from sparky.execution.outcome import cents
from sparky.observability.channels import USER_SCHEMES, split_urls, user_channel_urls
from sparky.observability.operator_alerts import OperatorAlerts
from sparky.observability.outbound import OutboundNotifications
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.tenants import NotificationRecord, TenantStore

log = structlog.get_logger("sparky.notifications")

#: event → (preference column, notifications.type); no column: always sent (a safety alarm)
EVENTS: dict[str, tuple[str | None, str]] = {
    "trade_opened": ("notify_trade_success", "trade"),
    "trade_failed": ("notify_trade_failed", "error"),
    # the dashboard colours and filters by type: a gain or a target is a success, a loss or a stop a warning
    "position_closed_profit": ("notify_position_closed_profit", "success"),
    "position_closed_loss": ("notify_position_closed_loss", "warning"),
    "take_profit_triggered": ("notify_take_profit_triggered", "success"),
    "stop_loss_triggered": ("notify_stop_loss_triggered", "warning"),
    "weekly_trade_limit": ("notify_weekly_trade_limit", "limit"),
    "weekly_loss_limit": ("notify_weekly_loss_limit", "limit"),
    "webhook_limit_warning": ("notify_webhook_limit_warning", "warning"),
    "webhook_limit_reached": ("notify_webhook_limit_reached", "limit"),
    "exchange_api_error": ("notify_exchange_api_error", "error"),
    "invalid_credentials": ("notify_invalid_credentials", "error"),
    "position_unprotected": (None, "error"),
    # an entry the ML pre-trade validation kept from trading (docs/ML_VALIDATION.md)
    "trade_blocked": ("notify_trade_failed", "warning"),
}
#: risk limit (`limitType`) → the event telling the user it was reached
LIMIT_EVENTS = {"max_trades_per_week": "weekly_trade_limit", "max_loss_per_week_usd": "weekly_loss_limit"}


class Notifier:
    def __init__(self, store: TenantStore | None, *, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, outbound: OutboundNotifications | None = None,
                 local_urls: tuple[str, ...] = (), operator: OperatorAlerts | None = None,
                 any_channel: bool = False) -> None:
        """`outbound`: sends to channels (apprise); `local_urls`: the local user's (NOTIFY_URLS);
        `operator`: the operator's alerts (OPERATOR_NOTIFY_URLS), told of every unprotected position;
        `any_channel`: users' stored channels were written by the operator (embedded mode), so any
        apprise URL is sent to — else only USER_SCHEMES (users write their own rows)."""
        self._store = store
        self._outbound = outbound
        self._local_urls = local_urls
        self._operator = operator
        self._any_channel = any_channel
        self._ttl = ttl
        self._clock = clock
        self._preferences: dict[str, tuple[float, dict[str, bool]]] = {}
        self._channels: dict[str, tuple[float, tuple[str, ...]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def notify(self, user_id: str, event: str, title: str, message: str, **metadata: Any) -> None:
        if event not in EVENTS:
            return
        if event == "position_unprotected" and self._operator is not None:
            self._operator.position_unprotected(user_id, title, message)
        if user_id == LOCAL_USER_ID:  # no dashboard: the local user's channels are NOTIFY_URLS
            if self._outbound is not None:
                self._outbound.send("user", self._local_urls, title, message)
            return
        if self._store is None:
            return
        self.spawn(self._write(user_id, event, title, message, metadata), name=f"notify:{event}")

    def spawn(self, work: Coroutine[Any, Any, None], *, name: str = "notify") -> None:
        """Run `work` in the background, keeping a reference until it ends (failures are logged)."""
        task = asyncio.create_task(self._guarded(work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception as err:
            log.warning("notification.failed", error=f"{type(err).__name__}: {err}")

    async def _write(self, user_id: str, event: str, title: str, message: str, metadata: dict[str, Any]) -> None:
        preference, kind = EVENTS[event]
        try:
            if preference is not None and not (await self._preferences_of(user_id)).get(preference, True):
                return
            if self._outbound is not None:  # queued: never waits for the channel
                self._outbound.send("user", await self._channels_of(user_id), title, message)
            await self._store.insert_notification(  # type: ignore[union-attr]
                NotificationRecord(user_id=user_id, type=kind, title=title, message=message,
                                   metadata={"event": event, **metadata}))
        except Exception as err:  # a notification must never fail anything
            log.warning("notification.failed", notification=event, error=f"{type(err).__name__}: {err}")

    async def _preferences_of(self, user_id: str) -> dict[str, bool]:
        cached = self._preferences.get(user_id)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        preferences = await self._store.notification_preferences(user_id)  # type: ignore[union-attr]
        self._preferences[user_id] = (self._clock() + self._ttl, preferences)
        return preferences

    async def _channels_of(self, user_id: str) -> tuple[str, ...]:
        cached = self._channels.get(user_id)
        if cached is not None and cached[0] > self._clock():
            return cached[1]
        stored = await self._store.notification_channels(user_id)  # type: ignore[union-attr]
        urls, refused = (split_urls(stored), []) if self._any_channel else user_channel_urls(stored)
        if refused:  # named by position and scheme: the URLs carry the channels' tokens
            log.warning("notification.channel_refused", refused_user_id=user_id, channels=refused,
                        allowed=sorted(USER_SCHEMES))
        self._channels[user_id] = (self._clock() + self._ttl, urls)
        return urls

    def forget_preferences(self) -> None:
        self._preferences.clear()
        self._channels.clear()

    async def drain(self) -> None:
        """Wait for pending writes (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def notify_outcome(notifier: Notifier, job: Any, outcome: Any) -> None:
    """Tell the user what a webhook did (called by the dispatcher after every execution)."""
    user, symbol, body = job.user_id, job.signal.symbol, outcome.body
    action = body.get("action")
    closed_on_exchange = outcome.extra.get("closed_on_exchange")
    if closed_on_exchange is not None:
        notify_closed_on_exchange(notifier, closed_on_exchange, only_exits=True)
    if action in ("opened", "reversed"):
        position = body.get("position", {})
        notifier.notify(user, "trade_opened", f"Opened {position.get('side')} {symbol}",
                        f"{position.get('quantity')} {symbol} at {position.get('entryPrice')}", symbol=symbol)
    pnl = body.get("pnl") or (body.get("reversed") or {}).get("pnl")
    if pnl is not None and action in ("closed", "reversed", "protection_failed"):
        event = "position_closed_profit" if pnl.get("usd", 0) > 0 else "position_closed_loss"
        notifier.notify(user, event, f"Closed {symbol}", f"P&L {pnl.get('usd')} USD ({pnl.get('percent')} %)",
                        symbol=symbol, pnl=pnl.get("usd"), pnlPercent=pnl.get("percent"))
    error = outcome.extra.get("exchange_error")
    if error is not None:
        from sparky.exchanges.errors import AuthenticationError

        if isinstance(error, AuthenticationError):
            notifier.notify(user, "invalid_credentials", f"{job.signal.exchange} refused your API keys",
                            str(error), exchange=job.signal.exchange)
        else:
            notifier.notify(user, "exchange_api_error", f"{job.signal.exchange} error on {symbol}",
                            str(error), exchange=job.signal.exchange, error_type=type(error).__name__)
    limit_type = (body.get("data") or {}).get("limitType") if body.get("error") == "Risk limit exceeded" else None
    if limit_type in LIMIT_EVENTS:  # reached at the moment of entering (the gate let it through)
        notifier.notify(user, LIMIT_EVENTS[limit_type], "Risk limit reached", str(body.get("message")),
                        limitType=limit_type)
    if outcome.extra.get("unprotected"):  # a position may be open without its stop: the user must act
        notifier.notify(user, "position_unprotected", f"UNPROTECTED POSITION on {symbol}", str(body.get("error")),
                        symbol=symbol, exchange=job.signal.exchange)
    elif action in ("failed", "protection_failed", "reversal_failed", "close_failed"):
        notifier.notify(user, "trade_failed", f"Trade failed on {symbol}", str(body.get("error")), symbol=symbol)


def notify_closed_on_exchange(notifier: Notifier, trade: Any, *, only_exits: bool = False) -> None:
    """Tell the user the venue closed a position on its own: its stop or target filled, or (unless
    `only_exits`) it was closed otherwise — liquidated, or by hand."""
    user, symbol, reason = trade.user_id, trade.symbol, trade.exit_reason
    pnl = cents(trade.pnl_usd)
    if reason in ("STOP_LOSS", "TAKE_PROFIT"):
        event = "stop_loss_triggered" if reason == "STOP_LOSS" else "take_profit_triggered"
        notifier.notify(user, event, f"{reason.replace('_', ' ').title()} hit on {symbol}",
                        f"{symbol} closed at {trade.exit_price}: {pnl} USD",
                        symbol=symbol, pnl=float(pnl), pnlPercent=float(trade.pnl_percent))
    elif not only_exits:
        event = "position_closed_profit" if pnl > 0 else "position_closed_loss"
        notifier.notify(user, event, f"{symbol} closed on {trade.exchange}",
                        f"{symbol} closed outside Sparky near {trade.exit_price}: {pnl} USD",
                        symbol=symbol, pnl=float(pnl), pnlPercent=float(trade.pnl_percent), exitReason=reason)
