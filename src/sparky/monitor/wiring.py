"""The reconcile loop and the options monitor built from the server's long-lived objects (services.py calls it)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from datetime import time as dt_time
from typing import TYPE_CHECKING

import structlog

from sparky.monitor.option_steps import MARKET_CLOSE_MINUTE, ClosePolicy
from sparky.monitor.option_venue import EXCHANGE, OptionAccounts
from sparky.monitor.options import OptionsMonitor, PolicyOf
from sparky.monitor.reconcile import ReconcileLoop
from sparky.monitor.stops import StopKeeper
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import utcnow
from sparky.store.option_trades import OptionTradeRecord

log = structlog.get_logger("sparky.monitor.options")

if TYPE_CHECKING:
    from sparky.exchanges.tradier_options.settings import OptionsSettings
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




def options_monitor(services: Services, settings_for: Callable[[str], Awaitable[OptionsSettings]], *,
                    now: Callable[[], datetime] = utcnow) -> OptionsMonitor:
    """The options monitor (OPTIONS_MONITOR_SEC, leader-only). `settings_for`: a user's options
    settings as the options executor reads them (TRADIER_OPTIONS, under the local user's config.json
    section or a user's own `tradier_options` trade settings)."""
    reads = services.gates.reads if services.gates is not None else None
    dispatcher = services.dispatcher

    def hold(row: OptionTradeRecord) -> AbstractAsyncContextManager[None]:
        # the key a tradier_options alert for the row's underlying runs under
        return dispatcher.exclusive(dispatcher.key(row.user_id, EXCHANGE, row.underlying_symbol))

    policy = close_policy(settings_for, services.settings.tradier_options, reads)
    return OptionsMonitor(services.store, OptionAccounts(services.accounts), services.notifier, policy, hold=hold,
                          now=now)


def close_policy(settings_for: Callable[[str], Awaitable[OptionsSettings]], fallback: OptionsSettings,
                 reads: CachedTenantReads | None) -> PolicyOf:
    """When a user's open option trades are closed at market: their options settings' window,
    auto-close and expiry cut-off (a custom window: the one their own trade settings give)."""

    async def policy_of(row: OptionTradeRecord) -> ClosePolicy:
        try:
            options = await settings_for(row.user_id)
        except ValueError as err:  # the user's own row holds a value out of range: the server's settings
            log.warning("options.settings_invalid", user_id=row.user_id, error=str(err))
            options = fallback
        own = await reads.get_trade_settings(row.user_id, EXCHANGE) if reads is not None else None
        custom = own is not None and own.trading_hours_preset == "custom"
        minutes = options.expiry_cutoff_minutes
        return ClosePolicy(
            auto_close_outside_window=options.auto_close_outside_window,
            trading_hours_preset="custom" if custom else options.trading_window,
            trading_window=own.trading_window if custom and own is not None else None,
            expiry_cutoff=None if minutes == 0 else dt_time(*divmod(MARKET_CLOSE_MINUTE - minutes, 60)))

    return policy_of
