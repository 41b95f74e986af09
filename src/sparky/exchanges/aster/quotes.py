"""Aster's quotes for the background price refresh: every symbol's best bid and ask in one request.

`GET /fapi/v1/ticker/bookTicker` without `symbol` answers a list of every listed symbol's book
(weight 5 of the 2,400 per minute each address may spend; with `symbol`, weight 2 and one object).
The endpoint is public: the request is unsigned and carries no API key, so the quotes one user's
adapter reads may serve every user of the same host (`price_scope`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Sequence
from decimal import Decimal
from typing import Any

from sparky.exchanges.aster.wire import dec, read
from sparky.exchanges.base import Quote

BOOK_TICKER = "/fapi/v1/ticker/bookTicker"


def _positive(value: Any) -> Decimal | None:
    price = dec(value) if value not in (None, "") else None
    return price if price is not None and price > 0 else None


def parse_book_tickers(body: Any, wanted: Sequence[str]) -> dict[str, Quote]:
    """The quotes of `wanted` in a bookTicker reply (one object, or the list of every symbol)."""
    rows = body if isinstance(body, list) else [body]
    names = set(wanted)
    quotes = {}
    for row in rows:
        symbol = str(row["symbol"])
        if symbol in names:
            quote = Quote(symbol, bid=_positive(row.get("bidPrice")), ask=_positive(row.get("askPrice")))
            if quote.bid is not None or quote.ask is not None:
                quotes[symbol] = quote
    return quotes


class AsterQuotes:
    """The `prices` and `price_scope` of the Aster adapter (mixed into `AsterExchange`)."""

    _call: Callable[..., Awaitable[Any]]
    _client: Any

    async def prices(self, symbols: Sequence[str]) -> dict[str, Quote]:
        if not symbols:
            return {}
        one = [("symbol", symbols[0])] if len(symbols) == 1 else []  # else every symbol, one request
        body = await self._call("GET", BOOK_TICKER, one, what="book ticker")
        return read(lambda: parse_book_tickers(body, symbols), what="book ticker")

    @property
    def price_scope(self) -> Hashable | None:
        return ("aster", str(self._client.base_url))
