"""A ccxt venue's market list, loaded once and shared by every user's client of that venue.

ccxt keeps the markets on each client (megabytes on the big venues); loading them per user meant
one full download and one parsed copy per user. `load_markets()` runs once per venue, market type
and hosts (`markets_key`), and every other client is handed the loaded tables with ccxt's own
`set_markets_from_exchange`, which assigns them by reference (it copies nothing). The tables are
only ever replaced, never changed in place: a reload gives the loading client new ones
(`set_markets`), and each client picks them up on its next look-up.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sparky.exchanges.ccxt.markets import find_market
from sparky.exchanges.errors import UnknownSymbol

#: what `set_markets_from_exchange` reads from its source besides `options`
TABLES = ("markets", "markets_by_id", "symbols", "ids", "currencies", "currencies_by_id", "baseCurrencies",
          "quoteCurrencies", "codes")


@dataclass
class LoadedMarkets:
    """The tables of one loaded client, in the shape `set_markets_from_exchange` reads them."""

    id: str
    tables: dict[str, Any]
    #: the venue's market helpers ccxt lists in `options['marketHelperProps']` (Kraken, Hyperliquid)
    options: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["tables"][name]
        except KeyError:
            raise AttributeError(name) from None

    @classmethod
    def of(cls, client: Any) -> LoadedMarkets:
        helpers = list(client.options.get("marketHelperProps") or [])
        options = {"marketHelperProps": helpers, **{name: client.options.get(name) for name in helpers}}
        return cls(client.id, {name: getattr(client, name, None) for name in TABLES}, options)

    def lists(self, symbol: str, market_type: str) -> bool:
        """Whether an alert's symbol finds a market among these (`markets.find_market`)."""
        try:
            find_market(self.markets, symbol, market_type)
        except UnknownSymbol:
            return False
        return True

    def hand_to(self, client: Any) -> None:
        if client.markets is not self.markets:
            client.set_markets_from_exchange(self)


def hosts(client: Any) -> str:
    """The hosts a client sends to (live, testnet or demo; a proxy's base URL), as one comparable text."""
    return json.dumps(client.urls.get("api"), sort_keys=True, default=str)


def markets_key(client: Any, market_type: str) -> tuple[str, ...]:
    """What decides a client's market list: the venue, the market type, which listings are fetched
    (`options['fetchMarkets']`) and the hosts."""
    return ("ccxt.markets", client.id, market_type,
            json.dumps(client.options.get("fetchMarkets"), sort_keys=True, default=str), hosts(client))
