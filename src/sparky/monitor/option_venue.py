"""The Tradier account an option trade lives on, as the options monitor uses it.

Each row carries its user; the account is the one that user's `tradier_options` alerts use
(`ExchangeAccounts.get(user, "tradier_options")`: their own keys, or the local user's config.json
section), through the options adapter's `OptionsApi` (transport, authentication and error
translation are the equities adapter's). A row is only looked for on the environment its entry
was placed in (`extra_metadata.environment`, `sandbox` or `live`): after a user switched their
keys to the other environment, its orders are not on that account, and the row waits, logged.
"""

from __future__ import annotations

from decimal import Decimal

from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.errors import AuthenticationError
from sparky.exchanges.tradier_options.adapter import TradierOptionsExchange
from sparky.exchanges.tradier_options.api import NAME, OptionsApi
from sparky.exchanges.tradier_options.forms import market_close_form
from sparky.exchanges.tradier_options.orders import OptionOrder, parent_id, parse_order
from sparky.store.option_trades import OptionTradeRecord

EXCHANGE = NAME


class OptionAccount:
    """One Tradier account's option orders: read one, find one by tag, cancel one, sell to close."""

    def __init__(self, api: OptionsApi) -> None:
        self._api = api

    async def order(self, order_id: str | None) -> OptionOrder | None:
        """The order (an OTOCO with its legs, or a plain one); None when the account has none such."""
        parent = parent_id(order_id)
        return await self._api.read(parent) if parent else None

    async def find_by_tag(self, tag: str) -> OptionOrder | None:
        """Today's or a resting order carrying `tag` (an order sent whose reply was lost)."""
        raw = await self._api.find(tag)
        return parse_order(raw) if raw is not None else None

    async def cancel(self, order_id: str) -> None:
        """Cancel an order; for an OTOCO, the legs still working (Tradier cancels them together)."""
        parent = parent_id(order_id)
        if parent:
            await self._api.cancel(parent)

    async def sell_to_close(self, row: OptionTradeRecord, quantity: Decimal, tag: str) -> str:
        """One market `sell_to_close` of `quantity` contracts (a day order); its Tradier id."""
        form = market_close_form(underlying=row.underlying_symbol, option_symbol=row.option_symbol,
                                 contracts=int(quantity), tag=tag)
        return await self._api.submit(form)


class OptionAccounts:
    def __init__(self, accounts: ExchangeAccounts) -> None:
        self._accounts = accounts

    async def account_of(self, row: OptionTradeRecord) -> OptionAccount:
        venue = await self._accounts.get(row.user_id, EXCHANGE)
        if not isinstance(venue, TradierOptionsExchange):
            raise AuthenticationError(f"{EXCHANGE}: the account is not a Tradier options account", exchange=EXCHANGE)
        placed_on = str((row.extra_metadata or {}).get("environment") or venue.environment).lower()
        if placed_on != venue.environment:
            raise AuthenticationError(f"{EXCHANGE}: the trade was placed on Tradier's {placed_on} environment and "
                                      f"the stored keys are for {venue.environment}", exchange=EXCHANGE)
        return OptionAccount(venue.options)
