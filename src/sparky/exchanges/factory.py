"""Build exchange adapters from credentials: legacy config.json sections now, per-user rows later.

Adapters are imported lazily, so a server that trades only on paper never imports ccxt.
"""

from __future__ import annotations

import importlib
from functools import cache
from typing import Any

import structlog

from sparky.config import ExchangeSection
from sparky.exchanges.base import Exchange
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.metadata import VenueMetadata

log = structlog.get_logger("sparky.exchanges")

#: venues with a native adapter (module exposing `create(credentials, http, metadata)`)
NATIVE = {
    "aster": "sparky.exchanges.aster.adapter",
    "oanda": "sparky.exchanges.oanda.adapter",
    "tradier": "sparky.exchanges.tradier.adapter",
    "tradier_options": "sparky.exchanges.tradier_options.adapter",
}
CCXT_MODULE = "sparky.exchanges.ccxt.adapter"
DEFAULT_ENVIRONMENT = {"oanda": "practice", "tradier": "sandbox", "tradier_options": "sandbox"}


@cache
def ccxt_ids() -> frozenset[str]:
    import ccxt  # heavy: only when a non-native venue is configured

    return frozenset(ccxt.exchanges)


def is_supported(name: str) -> bool:
    return name == "paper" or name in NATIVE or name in ccxt_ids()


def credentials_from_section(name: str, section: ExchangeSection) -> VenueCredentials:
    return VenueCredentials(
        exchange=name,
        environment=(section.environment or DEFAULT_ENVIRONMENT.get(name, "production")).lower(),
        api_key=section.api_key,
        api_secret=section.api_secret,
        account_id=section.account_id,
        access_token=section.access_token,
        passphrase=(section.model_extra or {}).get("passphrase"),
        base_url=section.api_url,
        extra=dict(section.model_extra or {}),
    )


def _venue_module(name: str) -> Any:
    return importlib.import_module(NATIVE.get(name, CCXT_MODULE))


def create_adapter(credentials: VenueCredentials, http: HttpClientPool,
                   metadata: VenueMetadata | None = None) -> Exchange:
    """`metadata`: the venues' public metadata shared between adapters (`metadata.py`); None gives
    the adapter its own."""
    credentials.check_characters()
    return _venue_module(credentials.exchange).create(credentials, http, metadata)


def official_hosts(name: str) -> frozenset[str]:
    """The hosts the venue publishes for its API (live, practice/sandbox, testnet, demo): the only
    ones a tenant's own credentials may point at. Each venue's `api.py`, beside its base URLs, says."""
    package = NATIVE.get(name, CCXT_MODULE).rsplit(".", 1)[0]
    return importlib.import_module(f"{package}.api").official_hosts(name)


def adapters_from_config(sections: dict[str, ExchangeSection], http: HttpClientPool,
                         metadata: VenueMetadata | None = None) -> list[Exchange]:
    adapters = []
    for name, section in sections.items():
        if name == "paper":
            continue
        if not is_supported(name):
            log.warning("exchange.unknown_config_section", exchange=name)
            continue
        try:
            adapters.append(create_adapter(credentials_from_section(name, section), http, metadata))
        except Exception as err:  # one bad section must not keep the server (and paper) down
            log.error("exchange.not_configured", exchange=name, error=f"{type(err).__name__}: {err}")
    return adapters
