"""The Tradier account an option trade lives on, as the options monitor uses it.

Each row carries its user; the account is that user's own Tradier credentials (a `tradier_options`
credentials row, else their `tradier` one; the local user's config.json `tradier_options`,
`tradierOptions` or `tradier` section), on the environment the entry was placed in (the row's
`extra_metadata.environment`: `sandbox` or `live`), so a row opened in the sandbox is never looked
for on the live account. Transport, authentication and error translation are the equities
adapter's (`exchanges/tradier/api.py`).
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from sparky.config import LegacyConfig
from sparky.exchanges.accounts import MissingCredentials, credentials_of
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.endpoints import tenant_credentials
from sparky.exchanges.errors import AuthenticationError
from sparky.exchanges.factory import credentials_from_section
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.tradier import wire
from sparky.exchanges.tradier.api import ACCOUNT_ID, TradierApi, base_url_for
from sparky.monitor.option_orders import OptionOrder, parent_id, parse_order
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.option_trades import OptionTradeRecord
from sparky.store.tenants import TenantStore

EXCHANGE = "tradier_options"
#: credentials rows (and config.json sections, lower-cased) an options account may be stored under
CREDENTIAL_NAMES = ("tradier_options", "tradieroptions", "tradier")


class OptionAccount:
    """One Tradier account's option orders: read one, find one by tag, cancel one, sell to close."""

    def __init__(self, api: TradierApi) -> None:
        self._api = api

    async def order(self, order_id: str | None) -> OptionOrder | None:
        """The order (an OTOCO with its legs, or a plain one); None when the account has none such."""
        parent = parent_id(order_id)
        raw = await self._api.order(parent) if parent else None
        return parse_order(raw) if raw is not None else None

    async def find_by_tag(self, tag: str) -> OptionOrder | None:
        """Today's or a resting order carrying `tag` (an order sent whose reply was lost)."""
        found = [raw for raw in await self._api.orders() if wire.tag_matches(raw, tag)]
        newest = max(found, key=lambda raw: int(raw.get("id") or 0), default=None)
        return parse_order(newest) if newest is not None else None

    async def cancel(self, order_id: str) -> None:
        """Cancel an order; for an OTOCO, the legs still working (Tradier cancels them together)."""
        parent = parent_id(order_id)
        if parent:
            await self._api.cancel(parent)

    async def sell_to_close(self, row: OptionTradeRecord, quantity: Decimal, tag: str) -> str:
        """One market `sell_to_close` of `quantity` contracts (a day order); its Tradier id."""
        form = {"class": "option", "symbol": row.underlying_symbol, "option_symbol": row.option_symbol,
                "side": "sell_to_close", "quantity": f"{quantity.normalize():f}", "type": "market",
                "duration": "day", "tag": tag}
        return await self._api.submit(form, "")  # found by tag alone when the reply is unclear


class OptionAccounts:
    """Builds the `OptionAccount` a row belongs to. Nothing is cached across runs: the credentials
    a user changes apply at the next run; within one run `Lookup` reuses them per user."""

    def __init__(self, tenants: TenantStore | None, legacy: LegacyConfig, http: HttpClientPool, *,
                 operator_credentials: bool, retry_backoff: float = 0.2) -> None:
        self._tenants = tenants
        self._legacy = legacy
        self._http = http
        self._operator_credentials = operator_credentials
        self._backoff = retry_backoff

    async def credentials(self, user_id: str) -> VenueCredentials:
        if user_id == LOCAL_USER_ID:
            for name in CREDENTIAL_NAMES:
                section = self._legacy.exchanges.get(name)
                if section is not None:
                    return credentials_from_section("tradier", section)
            raise MissingCredentials(EXCHANGE, "add a tradier_options section to config.json")
        if self._tenants is not None:
            for name in CREDENTIAL_NAMES:
                record = await self._tenants.get_credentials(user_id, name)
                if record is not None:
                    found = replace(credentials_of(record), exchange="tradier")
                    return found if self._operator_credentials else tenant_credentials(found)
        raise MissingCredentials(EXCHANGE)

    def account(self, credentials: VenueCredentials, environment: Any) -> OptionAccount:
        """The account on the row's environment (its entry was placed there), else the credentials'."""
        if isinstance(environment, str) and environment.strip():
            credentials = replace(credentials, environment=environment.strip().lower())
        token = credentials.access_token or credentials.api_key
        if not token or not credentials.account_id or not ACCOUNT_ID.fullmatch(credentials.account_id):
            raise AuthenticationError("tradier: no usable access token and account id stored", exchange=EXCHANGE)
        api = TradierApi(self._http.get(base_url_for(credentials)), token, credentials.account_id,
                         backoff=self._backoff)
        return OptionAccount(api)

    def lookup(self) -> Lookup:
        return Lookup(self)


class Lookup:
    """One run's accounts: each user's credentials read once, whatever number of rows they have."""

    def __init__(self, accounts: OptionAccounts) -> None:
        self._accounts = accounts
        self._credentials: dict[str, VenueCredentials] = {}

    async def account_of(self, row: OptionTradeRecord) -> OptionAccount:
        credentials = self._credentials.get(row.user_id)
        if credentials is None:
            credentials = self._credentials[row.user_id] = await self._accounts.credentials(row.user_id)
        return self._accounts.account(credentials, (row.extra_metadata or {}).get("environment"))
