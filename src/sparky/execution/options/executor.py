"""Runs a `tradier_options` job for any user: an entry buys to open (entry.py), a close or exit
sells to close (closes.py); partial exits send nothing, as for every venue. The dispatcher routes
every `tradier_options` job here (services.py), so an options alert never reaches the equities
executor; it records, orders and finishes each job exactly as for any other venue."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import structlog

from sparky.errors import SparkyError
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.errors import ExchangeError
from sparky.exchanges.tradier_options.adapter import TradierOptionsExchange
from sparky.exchanges.tradier_options.settings import OptionsSettings
from sparky.execution.executor import Job
from sparky.execution.options.closes import OptionCloses
from sparky.execution.options.entry import OptionEntry
from sparky.execution.outcome import Outcome
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import utcnow
from sparky.store.option_trades import OptionTradeStore

log = structlog.get_logger("sparky.options")


class OptionsExecutor:
    def __init__(self, store: OptionTradeStore, accounts: ExchangeAccounts, settings: OptionsSettings, *,
                 local_settings: OptionsSettings | None = None, clock: Callable[[], datetime] = utcnow) -> None:
        """`settings` for every user; `local_settings` for the local user (config.json's section
        over them)."""
        self._accounts = accounts
        self._settings = settings
        self._local = local_settings or settings
        self._clock = clock
        self.entry = OptionEntry(store)
        self.closes = OptionCloses(store)

    def settings_for(self, user_id: str) -> OptionsSettings:
        return self._local if user_id == LOCAL_USER_ID else self._settings

    async def execute(self, job: Job) -> Outcome:
        signal = job.signal
        if signal.action.is_partial_exit:
            return Outcome.skipped("Partial exit: Sparky does not trade partial exits, so nothing was sent")
        try:
            venue = await self._accounts.get(job.user_id, signal.exchange)
            if not isinstance(venue, TradierOptionsExchange):  # never an equities order for an options alert
                return Outcome.rejected(f"{signal.exchange} is not a Tradier options account", http_status=400)
            if signal.action.is_entry:
                return await self.entry.open(job, venue, self.settings_for(job.user_id), self._clock())
            return await self.closes.close(job, venue)
        except SparkyError as err:  # a refused field, or no credentials stored
            outcome = Outcome.rejected(err.message, http_status=err.status_code)
            outcome.body.update({k: v for k, v in err.body().items() if k in ("field", "hint", "data")})
            return outcome
        except ExchangeError as err:
            log.warning("exchange.error", error_type=type(err).__name__, error=err.message)
            message = err.named(signal.exchange)
            outcome = Outcome.failed(message) if err.http_status == 200 else Outcome.rejected(
                message, http_status=err.http_status)
            outcome.extra["exchange_error"] = err
            return outcome
