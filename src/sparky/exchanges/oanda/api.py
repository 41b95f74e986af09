"""HTTP to one OANDA v20 account: auth headers, account paths, JSON, error translation, retries.

The pooled client is shared with every other OANDA account on the same base URL, so the bearer
token travels per request, never as a client default.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

import httpx
import structlog

from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import AuthenticationError, ExchangeUnavailable, OutcomeUnknown, logged_reply
from sparky.exchanges.http import HttpClientPool, send, with_retries
from sparky.exchanges.oanda.rules import NAME
from sparky.exchanges.oanda.wire import error_for_reply

Reply = tuple[int, dict[str, Any]]


log = structlog.get_logger("sparky.exchanges.oanda")

LIVE_URL = "https://api-fxtrade.oanda.com"
PRACTICE_URL = "https://api-fxpractice.oanda.com"
#: a v20 account id (101-004-1234567-001): it becomes part of every request's path
ACCOUNT_ID = re.compile(r"\d{3}-\d{3}-\d+-\d+")


def base_url(credentials: VenueCredentials) -> str:
    if credentials.base_url:
        return credentials.base_url.rstrip("/")
    env = (credentials.environment or "practice").strip().lower()
    return LIVE_URL if env in ("live", "production") else PRACTICE_URL


def official_hosts(exchange: str = NAME) -> frozenset[str]:
    """OANDA's live (fxTrade) and practice hosts: the only ones a user's own `apiUrl` may name."""
    return frozenset({"api-fxtrade.oanda.com", "api-fxpractice.oanda.com"})


class OandaApi:
    def __init__(self, credentials: VenueCredentials, http: HttpClientPool, *,
                 retry_attempts: int = 3, retry_backoff: float = 0.2) -> None:
        token = credentials.access_token or credentials.api_key
        if not credentials.account_id or not token:
            raise AuthenticationError("oanda: account_id and access_token are required", exchange=NAME)
        if not ACCOUNT_ID.fullmatch(credentials.account_id):
            raise AuthenticationError("oanda: the account_id must look like 101-004-1234567-001 (digits and dashes)",
                                      exchange=NAME)
        self.base_url = base_url(credentials)
        self._client = http.get(self.base_url)
        self._prefix = f"/v3/accounts/{credentials.account_id}"
        self._headers = {"Authorization": f"Bearer {token}", "Accept-Datetime-Format": "RFC3339"}
        self._attempts = retry_attempts
        self._backoff = retry_backoff

    async def send(self, method: str, path: str, *, params: dict[str, str] | None = None,
                   body: dict[str, Any] | None = None, places_order: bool = False,
                   accept: Collection[int] = (), account: bool = True) -> Reply:
        """One request. 2xx and the statuses in `accept` come back as (status, body); any other
        status is raised as our error (an order request answered 5xx is OutcomeUnknown). `path` is
        under the account, or under /v3 for what is not the account's (`account=False`: candles)."""
        prefix = self._prefix if account else "/v3"
        response = await send(self._client, method, prefix + path, exchange=NAME,
                              places_order=places_order, headers=self._headers, params=params, json=body)
        data = _body(response)
        if data is None:
            if response.is_success and places_order:
                raise OutcomeUnknown(f"oanda: unreadable reply ({response.status_code}) to an order request",
                                     exchange=NAME)
            if response.is_success:
                raise ExchangeUnavailable(f"oanda: unreadable reply ({response.status_code})", exchange=NAME)
            data = {}  # error pages (a proxy's HTML 502): the status alone decides
        if response.is_success or response.status_code in accept:
            return response.status_code, data
        log.info("oanda.refused", status=response.status_code, path=path, reply=logged_reply(response.text))
        raise error_for_reply(response.status_code, data, places_order=places_order)

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return (await self.send(method, path, **kwargs))[1]

    async def get(self, path: str, *, params: dict[str, str] | None = None,
                  accept: Collection[int] = (), account: bool = True) -> Reply:
        """A read: safe to repeat, so rate limits and outages are retried with backoff."""
        return await with_retries(lambda: self.send("GET", path, params=params, accept=accept, account=account),
                                  attempts=self._attempts, backoff=self._backoff)

    async def read(self, path: str, *, params: dict[str, str] | None = None,
                   account: bool = True) -> dict[str, Any]:
        return (await self.get(path, params=params, account=account))[1]

    async def idempotent(self, method: str, path: str, *, accept: Collection[int] = ()) -> Reply:
        """A write that is safe to repeat (cancelling an order), retried like a read."""
        return await with_retries(lambda: self.send(method, path, accept=accept),
                                  attempts=self._attempts, backoff=self._backoff)


def _body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        data = response.json()
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
