"""Building a ccxt client from a user's credentials, and the few venue quirks ccxt leaves to us.

The generic adapter talks to every venue through ccxt's unified API; what ccxt does not unify is
listed here, per ccxt id, instead of being spread through the adapter as `if name == …` branches:
how a venue spells a client order id, whether an order can be fetched by client id, whether
conditional orders live apart from plain ones, whether a market order needs a reference price.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import ccxt.async_support as ccxt_async

from sparky.exchanges.credentials import VenueCredentials

#: (ccxt id, config) → client; tests inject real ccxt classes with a faked HTTP layer
ClientFactory = Callable[[str, dict[str, Any]], Any]

SANDBOX_ENVIRONMENTS = frozenset({"sandbox", "testnet", "test"})
LIVE_ENVIRONMENTS = frozenset({"production", "live", "mainnet", "prod", ""})
DEMO_ENVIRONMENTS = frozenset({"demo"})

_OUR_CLIENT_ID = re.compile(r"^(sp[0-9a-f]{24})([a-z]+)$")


@dataclass(frozen=True)
class VenueQuirks:
    #: `fetch_order(None, symbol, {'clientOrderId': …})` finds an order by client id
    lookup_by_client_id: bool = False
    #: stop/take-profit orders are kept apart (Binance algo orders, OKX algo orders): listing and
    #: fetching them needs `{'trigger': True}`
    separate_trigger_orders: bool = False
    #: market orders are sent as aggressive limits and need a reference price (Hyperliquid)
    market_needs_price: bool = False
    #: client ids: "dash" (letters, digits, dash: ours as-is), "alnum" (no dash), "hex128"
    client_id_style: str = "dash"
    #: ccxt's `options.fetchMarkets.types` to load per market type (swap/spot): skips listings we
    #: never trade (Bybit loads spot, inverse and six option chains by default: ~12 requests)
    market_types: tuple[tuple[str, tuple[str, ...]], ...] = ()


_BY_KIND = (("swap", ("linear",)), ("spot", ("spot",)))
_BINANCE = VenueQuirks(lookup_by_client_id=True, separate_trigger_orders=True, market_types=_BY_KIND)
QUIRKS: dict[str, VenueQuirks] = {
    "binance": _BINANCE,
    "binanceusdm": _BINANCE,
    "bybit": VenueQuirks(market_types=_BY_KIND),
    # OKX clOrdId: up to 32 letters and digits
    "okx": VenueQuirks(lookup_by_client_id=True, separate_trigger_orders=True, client_id_style="alnum",
                       market_types=(("swap", ("swap",)), ("spot", ("spot",)))),
    # Hyperliquid cloid: a 128-bit hex string; market orders carry a slippage-bounded price
    "hyperliquid": VenueQuirks(lookup_by_client_id=True, market_needs_price=True, client_id_style="hex128",
                               market_types=(("swap", ("swap",)), ("spot", ("spot",)))),
}


def quirks_for(exchange_id: str) -> VenueQuirks:
    return QUIRKS.get(exchange_id, VenueQuirks())


def wire_client_id(client_order_id: str, quirks: VenueQuirks) -> str:
    """Our client id as the venue accepts it (deterministic: lookups spell it the same way)."""
    if quirks.client_id_style == "alnum":
        return re.sub(r"[^A-Za-z0-9]", "", client_order_id)[:32]
    if quirks.client_id_style == "hex128":
        return "0x" + hashlib.sha256(client_order_id.encode()).hexdigest()[:32]
    return client_order_id


def unwire_client_id(wire: str | None, quirks: VenueQuirks) -> str | None:
    """Best effort inverse of `wire_client_id` for ids we did not just send (listings)."""
    if wire is None or quirks.client_id_style != "alnum":
        return wire
    match = _OUR_CLIENT_ID.match(wire)
    return f"{match.group(1)}-{match.group(2)}" if match else wire


def client_config(credentials: VenueCredentials) -> dict[str, Any]:
    """The ccxt constructor config: keys, rate limiting, market type; never logged."""
    extra = credentials.extra or {}
    config: dict[str, Any] = {
        "enableRateLimit": True,
        "options": {
            "defaultType": str(extra.get("market_type") or "swap"),
            # markets are all we need at start; Binance would otherwise call its spot wallet
            # endpoints (sapi) for currencies, which futures-only keys may not reach
            "fetchCurrencies": False,
            # Bybit refuses fetchOrder unless told we know it only sees the last 500 orders
            "fetchOrder": {"acknowledged": True},
            # we always pass a symbol; never fall into Binance's 1600 s all-symbols throttle
            "warnOnFetchOpenOrdersWithoutSymbol": False,
        },
    }
    for key, value in (("apiKey", credentials.api_key), ("secret", credentials.api_secret),
                       ("password", credentials.passphrase or extra.get("password"))):
        if value:
            config[key] = value
    return config


def finish_client(client: Any, credentials: VenueCredentials) -> None:
    """Wallet credentials, environment and base URL: applied to whatever client the factory built."""
    extra = credentials.extra or {}
    required = getattr(client, "requiredCredentials", {}) or {}
    if required.get("walletAddress") and not getattr(client, "walletAddress", None):
        client.walletAddress = extra.get("wallet_address") or extra.get("walletAddress") or credentials.api_key
    if required.get("privateKey") and not getattr(client, "privateKey", None):
        client.privateKey = extra.get("private_key") or extra.get("privateKey") or credentials.api_secret
    if required.get("uid") and not getattr(client, "uid", None) and credentials.account_id:
        client.uid = credentials.account_id

    environment = (credentials.environment or "").lower()
    try:
        if environment in SANDBOX_ENVIRONMENTS:
            client.set_sandbox_mode(True)
        elif environment in DEMO_ENVIRONMENTS:
            client.enable_demo_trading(True)
        elif environment not in LIVE_ENVIRONMENTS:
            raise ValueError(f"environment {credentials.environment!r} is not one of live, sandbox, testnet, demo")
    except (ccxt_async.NotSupported, KeyError) as err:
        raise ValueError(f"{client.id} has no {environment} environment in ccxt: {err}") from err
    if credentials.base_url:
        client.urls["api"] = override_urls(client.urls["api"], credentials.base_url)
    types = dict(quirks_for(client.id).market_types).get(str(extra.get("market_type") or "swap"))
    fetch_markets = client.options.get("fetchMarkets")
    if types and isinstance(fetch_markets, dict):
        client.options["fetchMarkets"] = {**fetch_markets, "types": list(types)}


@cache
def official_hosts(exchange_id: str) -> frozenset[str]:
    """The hosts ccxt lists for the venue's API: live (`urls['api']`), testnet (`urls['test']`)
    and demo (`urls['demo']`), with ccxt's `{hostname}` filled in."""
    cls = getattr(ccxt_async, exchange_id, None)
    if exchange_id not in ccxt_async.exchanges or cls is None:
        return frozenset()
    client = cls()  # describes the venue; no session is opened before a request
    hosts = set()
    for key in ("api", "test", "demo"):
        for url in _strings(client.urls.get(key)):
            host = urlsplit(client.implode_hostname(url)).hostname
            if host and "{" not in host:  # a placeholder ccxt fills per request (region, account)
                hosts.add(host)
    return frozenset(hosts)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return []


def override_urls(urls: Any, base_url: str) -> Any:
    """Every API URL re-rooted at `base_url`, keeping its path (so a proxy or test server can route)."""
    root = base_url.rstrip("/")
    if isinstance(urls, dict):
        return {key: override_urls(value, base_url) for key, value in urls.items()}
    if isinstance(urls, str):
        return root + urlsplit(urls).path
    return urls


def default_factory(exchange_id: str, config: dict[str, Any]) -> Any:
    cls = getattr(ccxt_async, exchange_id, None)
    if exchange_id not in ccxt_async.exchanges or cls is None:
        raise ValueError(f"{exchange_id!r} is not a ccxt exchange id")
    return cls(config)
