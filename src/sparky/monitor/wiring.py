"""The reconcile loop and the options monitor built from the server's long-lived objects (services.py calls it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from datetime import time as dt_time
from typing import TYPE_CHECKING

from sparky.monitor.option_steps import ClosePolicy
from sparky.monitor.option_venue import EXCHANGE, OptionAccounts
from sparky.monitor.options import OptionsMonitor, PolicyOf
from sparky.monitor.reconcile import ReconcileLoop
from sparky.monitor.stops import StopKeeper
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import utcnow
from sparky.store.option_trades import OptionTradeRecord
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import TenantStore

if TYPE_CHECKING:
    from sparky.config import Settings
    from sparky.services import Services
    from sparky.signals.gates import CachedTenantReads


def reconcile_loop(services: Services, *, now: Callable[[], datetime] = utcnow,
                   monotonic: Callable[[], float] = time.monotonic) -> ReconcileLoop:
    """`now`: the time resting entries expire by; `monotonic`: the cadence's clock (tests move both)."""
    executor, settings = services.executor, services.settings
    return ReconcileLoop(
        store=services.store, accounts=services.accounts, dispatcher=services.dispatcher,
        reconciler=executor.reconciler, resting=executor.resting_entries,
        stops=StopKeeper(services.store, executor.protector, executor.emergency), notifier=services.notifier,
        fast_sec=settings.reconcile_fast_sec, slow_sec=settings.reconcile_slow_sec,
        limit_ttl_sec=settings.limit_order_ttl,
        # the operator's own venues are scanned for positions opened outside Sparky even when none is stored
        now=now, clock=monotonic,
        local_venues=lambda: [(LOCAL_USER_ID, exchange.name) for exchange in services.exchanges],
    )


def options_monitor(services: Services, *, now: Callable[[], datetime] = utcnow) -> OptionsMonitor:
    """The options monitor on the users' own Tradier accounts (OPTIONS_MONITOR_SEC, leader-only)."""
    settings, store = services.settings, services.store
    tenants = store if isinstance(store, TenantStore) else None
    accounts = OptionAccounts(tenants, services.legacy, services.http,
                              operator_credentials=isinstance(store, SqliteStore))  # else tenants wrote them
    reads = services.gates.reads if services.gates is not None else None
    dispatcher = services.dispatcher

    def hold(row: OptionTradeRecord) -> AbstractAsyncContextManager[None]:
        # the key a tradier_options signal for the row's underlying runs under
        return dispatcher.exclusive(dispatcher.key(row.user_id, EXCHANGE, row.underlying_symbol))

    return OptionsMonitor(store, accounts, services.notifier, close_policy(settings, reads), hold=hold, now=now)


def close_policy(settings: Settings, reads: CachedTenantReads | None) -> PolicyOf:
    """A user's own `tradier_options` trade settings where they set them, else the server's."""
    hour, minute = (int(part) for part in settings.options_expiry_close_time.split(":"))
    cutoff = dt_time(hour, minute)

    async def policy_of(row: OptionTradeRecord) -> ClosePolicy:
        own = await reads.get_trade_settings(row.user_id, EXCHANGE) if reads is not None else None
        auto = own.auto_close_outside_window if own is not None else None
        preset = own.trading_hours_preset if own is not None else None
        return ClosePolicy(
            auto_close_outside_window=settings.options_auto_close_outside_window if auto is None else bool(auto),
            trading_hours_preset=preset or settings.options_trading_hours_preset,
            trading_window=own.trading_window if preset else settings.options_trading_window,  # type: ignore[union-attr]
            expiry_cutoff=cutoff)

    return policy_of
