"""The reconcile loop built from the server's long-lived objects (services.py calls it)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from sparky.monitor.reconcile import ReconcileLoop
from sparky.monitor.stops import StopKeeper
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import utcnow

if TYPE_CHECKING:
    from sparky.services import Services


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
