"""Runs a `tradier_options` job for any user: an entry buys to open (entry.py), a close or exit
sells to close (closes.py); partial exits send nothing, as for every venue. The dispatcher routes
every `tradier_options` job here (services.py), so an options alert never reaches the equities
executor; it records, orders and finishes each job exactly as for any other venue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import structlog

from sparky.errors import SparkyError
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.errors import ExchangeError
from sparky.exchanges.tradier_options.adapter import TradierOptionsExchange
from sparky.exchanges.tradier_options.settings import OptionsSettings
from sparky.execution.executor import Job
from sparky.execution.limits import SettingsReads
from sparky.execution.options.closes import OptionCloses
from sparky.execution.options.entry import OptionEntry
from sparky.execution.outcome import Outcome
from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.options import EXCHANGE
from sparky.store.base import utcnow
from sparky.store.option_trades import OptionTradeStore
from sparky.store.tenants import TradeSettings

log = structlog.get_logger("sparky.options")


def dashboard_values(row: TradeSettings | None) -> dict[str, Any]:
    """The options settings a user's `trade_settings_exchange` row (the dashboard's form) sets."""
    if row is None:
        return {}
    values: dict[str, Any] = {"strike_tolerance_percent": row.strike_tolerance_percent,
              "entry_limit_offset_percent": row.entry_limit_offset_percent,
              # the column's default 0 means "not set": the alert (or TRADIER_OPTIONS) gives the size
              "size_percent": row.position_size_percent or None,
              "auto_close_outside_window": row.auto_close_outside_window}
    if row.trading_hours_preset not in (None, "custom"):  # a custom window is the dashboard's own
        values["trading_window"] = row.trading_hours_preset
    return {k: v for k, v in values.items() if v is not None}


class OptionsExecutor:
    def __init__(self, store: OptionTradeStore, accounts: ExchangeAccounts, settings: OptionsSettings, *,
                 local_settings: OptionsSettings | None = None, tenant_reads: SettingsReads | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        """`settings` for every user; `local_settings` for the local user (config.json's section
        over them); each other user's `tradier_options` trade settings row over them
        (`tenant_reads`)."""
        self._accounts = accounts
        self._settings = settings
        self._local = local_settings or settings
        self._reads = tenant_reads
        self._clock = clock
        self.entry = OptionEntry(store)
        self.closes = OptionCloses(store)

    async def settings_for(self, user_id: str) -> OptionsSettings:
        """ValueError (a 400 naming the setting) when the user's row holds a value out of range."""
        if user_id == LOCAL_USER_ID or self._reads is None:
            return self._local if user_id == LOCAL_USER_ID else self._settings
        row = await self._reads.get_trade_settings(user_id, EXCHANGE)
        return self._settings.over(dashboard_values(row), source="your tradier_options trade settings")

    async def execute(self, job: Job) -> Outcome:
        signal = job.signal
        if signal.action.is_partial_exit:
            return Outcome.skipped("Partial exit: Sparky does not trade partial exits, so nothing was sent")
        try:
            venue = await self._accounts.get(job.user_id, signal.exchange)
            if not isinstance(venue, TradierOptionsExchange):  # never an equities order for an options alert
                return Outcome.rejected(f"{signal.exchange} is not a Tradier options account", http_status=400)
            if signal.action.is_entry:
                try:
                    settings = await self.settings_for(job.user_id)
                except ValueError as err:
                    return Outcome.rejected(str(err))
                return await self.entry.open(job, venue, settings, self._clock())
            return await self.closes.close(job, venue)
        except SparkyError as err:  # a refused field, or no credentials stored
            return Outcome.refusal(err)
        except ExchangeError as err:
            log.warning("exchange.error", error_type=type(err).__name__, error=err.message)
            return Outcome.venue_error(err, signal.exchange)
