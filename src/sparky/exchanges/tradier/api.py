"""Tradier's REST API for one account: authenticated requests, HTTP errors in our hierarchy,
order submission and order reads.

Every request carries `Authorization: Bearer <token>` and `Accept: application/json` (Tradier
answers XML otherwise). The pooled client is shared by every account on a base URL, so the
credentials travel per request, never on the client. Reads and cancels are retried when the error
is retryable; an order POST never is (`OutcomeUnknown` instead: look the order up by its tag).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from sparky.exchanges.base import OrderStatus
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.errors import (
    AuthenticationError,
    ExchangeError,
    ExchangeUnavailable,
    InvalidOrder,
    OrderNotFound,
    OutcomeUnknown,
    RateLimited,
    UnknownSymbol,
    logged_reply,
)
from sparky.exchanges.http import send, with_retries
from sparky.exchanges.tradier import wire

NAME = "tradier"
LIVE_URL = "https://api.tradier.com/v1"
SANDBOX_URL = "https://sandbox.tradier.com/v1"
_LIVE = frozenset({"live", "production", "prod"})
#: Tradier account numbers (VA12345678, 6YA05708): the id is part of every account path
ACCOUNT_ID = re.compile(r"[A-Za-z0-9]+")

log = structlog.get_logger("sparky.exchanges.tradier")


def base_url_for(credentials: VenueCredentials) -> str:
    """`live`/`production` → api.tradier.com, anything else → the sandbox; `base_url` overrides."""
    if credentials.base_url:
        return credentials.base_url.rstrip("/")
    environment = (credentials.environment or "").strip().lower()
    return LIVE_URL if environment in _LIVE else SANDBOX_URL


def official_hosts(exchange: str = NAME) -> frozenset[str]:
    """The brokerage and sandbox hosts: the only ones a user's own `apiUrl` may name."""
    return frozenset({"api.tradier.com", "sandbox.tradier.com"})


def _json(response: httpx.Response) -> Any:
    try:
        return response.json(parse_float=Decimal)  # money never goes through binary floats
    except ValueError:
        return None


class TradierApi:
    def __init__(self, client: httpx.AsyncClient, token: str, account_id: str, *, backoff: float) -> None:
        self._client = client
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self.account = f"/accounts/{quote(account_id)}"
        self.orders_path = f"{self.account}/orders"
        self._backoff = backoff

    async def call(self, method: str, path: str, *, places_order: bool = False, **kwargs: Any) -> dict[str, Any]:
        """One request; its JSON object. HTTP errors become ours (a 200 `errors` reply is returned)."""
        response = await send(self._client, method, path, exchange=NAME, places_order=places_order,
                              headers=self._headers, **kwargs)
        status, body = response.status_code, _json(response)
        if status < 300 and isinstance(body, dict):
            return body
        where = f"{method} {response.request.url.path}"
        log.info("tradier.refused", status=status, where=where, reply=logged_reply(response.text))
        if status in (401, 403):
            raise AuthenticationError(f"tradier: credentials refused ({status}) on {where}", exchange=NAME)
        if status == 429:
            raise RateLimited(f"tradier: rate limited on {where}", exchange=NAME)
        if status >= 500 or status < 300:  # a server error, or a 2xx we cannot read
            if places_order:
                raise OutcomeUnknown(f"tradier: {status} after an order request; look it up by tag", exchange=NAME)
            raise ExchangeUnavailable(f"tradier: {status} on {where}", exchange=NAME)
        if status == 404:
            raise OrderNotFound(f"tradier: not found: {where}", exchange=NAME)
        # the reply's own text stays in the log: only Tradier's error messages, shortened, are shown
        messages = wire.rejection(body) or [f"HTTP {status} on {where}"]
        error, _ = wire.classify(messages)  # a 4xx is a definite refusal: never "unsure"
        raise error(f"tradier: {'; '.join(messages)}", exchange=NAME)

    async def get(self, path: str, params: dict[str, str] | None = None) -> dict[str, Any]:
        return await with_retries(lambda: self.call("GET", path, params=params), backoff=self._backoff)

    async def quote(self, symbol: str) -> dict[str, Any]:
        found = wire.find_quote(await self.get("/markets/quotes", {"symbols": symbol}), symbol)
        if found is None:  # listed under `unmatched_symbols`
            raise UnknownSymbol(f"tradier: unknown symbol {symbol}", exchange=NAME)
        return found

    async def order(self, parent: str) -> dict[str, Any] | None:
        """One Tradier order (with its legs and tag); None when the account has no such order."""
        if not parent.isdigit():
            return None
        try:
            body = await self.get(f"{self.orders_path}/{parent}", {"includeTags": "true"})
        except (OrderNotFound, InvalidOrder):
            return None
        raw = body.get("order")
        return raw if isinstance(raw, dict) and not wire.rejection(body) else None

    async def orders(self) -> list[dict[str, Any]]:
        """Today's orders and resting ones, tags included (the default page holds only 25)."""
        body = await self.get(self.orders_path, {"includeTags": "true", "limit": "1000"})
        if messages := wire.rejection(body):
            raise wire.classify(messages)[0](f"tradier: {'; '.join(messages)}", exchange=NAME)
        return wire.items(body.get("orders"), "order")

    async def find_by_tag(self, symbol: str | None, client_order_id: str) -> dict[str, Any] | None:
        wanted = (symbol or "").strip().upper()
        matches = [raw for raw in await self.orders() if wire.tag_matches(raw, client_order_id)
                   and (not wanted or wanted in {o.symbol for o in wire.to_orders(raw).values()})]
        # a stop placed alone after a refused OCO shares its tag: prefer what is not rejected, then the newest
        return max(matches, key=lambda r: (wire.status_of(r) is not OrderStatus.REJECTED, int(r.get("id") or 0)),
                   default=None)

    async def cancel(self, parent: str) -> None:
        body = await with_retries(lambda: self.call("DELETE", f"{self.orders_path}/{parent}"), backoff=self._backoff)
        if messages := wire.rejection(body):
            raise InvalidOrder(f"tradier: cancel refused: {'; '.join(messages)}", exchange=NAME)

    async def submit(self, form: dict[str, str], symbol: str | None) -> str:
        """POST one order; its id. A 200-with-`errors` reply is a refusal unless it is unsure: then
        the order is looked up by its tag (among `symbol`'s share orders; None: any order)."""
        tag = form["tag"]
        body = await self.call("POST", self.orders_path, data=form, places_order=True)
        messages = wire.rejection(body)
        order = body.get("order")
        order_id = order.get("id") if isinstance(order, dict) else None
        if not messages and order_id is not None:
            log.info("tradier.order.sent", order_id=str(order_id), order_class=form["class"], tag=tag)
            return str(order_id)
        error, unsure = wire.classify(messages) if messages else (OutcomeUnknown, True)
        if unsure:  # the service may have taken it despite the errors: look before giving up
            try:
                found = await self.find_by_tag(symbol, tag)
            except ExchangeError as err:
                raise OutcomeUnknown(f"tradier: unclear reply to order {tag}: {messages}", exchange=NAME) from err
            if found is not None:
                log.warning("tradier.order.found_despite_errors", tag=tag, errors=messages)
                return str(found["id"])
        log.warning("tradier.order.rejected", tag=tag, errors=messages)
        raise error(f"tradier: order refused: {'; '.join(messages) or 'no order id in the reply'}", exchange=NAME)
