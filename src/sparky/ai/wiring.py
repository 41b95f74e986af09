"""Everything the AI worker process needs, built from the same settings as the server.

The store, the venues of config.json and the users' accounts are built with the server's own
builders (services.py, exchanges/factory.py), so the worker reads the same credentials and spells
symbols the same way. The worker takes no data-dir lock and writes no server file: it runs beside
`sparky serve`, opens no paper venue (one would write its stale state back over the server's on
close) but reads the paper accounts' files (portfolio.py), and sends no order to any venue (its
orders go through the webhook).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sparky.ai.contracts import MarketData, Step
from sparky.ai.delivery import SignalDelivery
from sparky.ai.llm import DecisionModel, GroqModel, OpenAiCompatibleModel
from sparky.ai.market_data import CycleMarketData, MarketVenues, candles_needed
from sparky.ai.portfolio import Portfolio, paper_book_reader
from sparky.ai.step import StrategyStep
from sparky.ai.worker_key import load_or_create_worker_key
from sparky.config import LegacyConfig, Settings
from sparky.exchanges.accounts import ExchangeAccounts, command_hint, dashboard_hint
from sparky.exchanges.base import Exchange
from sparky.exchanges.candles import interval_length
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.factory import adapters_from_config, credentials_from_section, is_supported
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.metadata import VenueMetadata
from sparky.exchanges.registry import ExchangeRegistry
from sparky.services import build_store
from sparky.store.base import Store
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import TenantStore

#: how long the webhook may take to answer a signal (it answers within SYNC_BUDGET_MS, then 202)
WEBHOOK_TIMEOUT_SEC = 90.0


class AiSettingsError(ValueError):
    """A setting the worker needs is missing or unusable (the message names it)."""


@dataclass
class AiParts:
    step: Step
    new_market_data: Callable[[], MarketData]
    store: Store
    _closers: list[Callable[[], object]] = field(default_factory=list)

    async def aclose(self) -> None:
        for close in reversed(self._closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result


def _no_paper_adapter(path: Path) -> Exchange:
    raise RuntimeError("the AI worker reads paper accounts (portfolio.py) and never opens one")


def build_model(settings: Settings) -> DecisionModel:
    if not settings.groq_model:
        raise AiSettingsError("GROQ_MODEL is not set: name the model the AI worker asks (docs/AI_WORKER.md)")
    key = settings.groq_api_key.get_secret_value() if settings.groq_api_key else None
    common: dict[str, Any] = {"model": settings.groq_model, "timeout": settings.ai_llm_timeout_sec,
              "temperature": float(settings.ai_llm_temperature), "max_retries": settings.ai_llm_max_retries}
    if settings.ai_llm_base_url:  # another OpenAI-compatible provider (a local one may need no key)
        return OpenAiCompatibleModel(base_url=settings.ai_llm_base_url, api_key=key, **common)
    if not key:
        raise AiSettingsError("GROQ_API_KEY is not set: the AI worker needs it to ask Groq (docs/AI_WORKER.md)")
    return GroqModel(api_key=key, **common)


def public_endpoints(legacy: LegacyConfig) -> dict[str, VenueCredentials]:
    """Where each venue of config.json serves its public market data: the section's environment
    and base URL (a testnet's candles for a testnet account), never its keys."""
    endpoints = {}
    for name, section in legacy.exchanges.items():
        if name == "paper" or not is_supported(name):
            continue
        full = credentials_from_section(name, section)
        endpoints[name] = VenueCredentials(exchange=name, environment=full.environment, base_url=full.base_url,
                                           extra=full.extra)
    return endpoints


def legacy_secret(settings: Settings, legacy: LegacyConfig) -> str | None:
    """The local user's webhook secret as the server reads it (never created here)."""
    if settings.webhook_secret:
        return settings.webhook_secret.get_secret_value()
    if legacy.webhook_secret:
        return legacy.webhook_secret
    path: Path = settings.sparky_data_dir / "webhook_secret"
    return (path.read_text(encoding="utf-8").strip() or None) if path.exists() else None


async def build_ai_parts(settings: Settings, *, webhook_client: httpx.AsyncClient | None = None,
                         model: DecisionModel | None = None,
                         sleep: Callable[[float], Awaitable[object]] = asyncio.sleep) -> AiParts:
    """`webhook_client`: what posts signals (default: a client of AI_WEBHOOK_URL); `model`: the
    model (default: from the settings); `sleep`: the pause between delivery attempts. Tests give them."""
    if not is_supported(settings.ai_paper_market_data_venue):  # checked here: it loads ccxt's list of venues
        raise AiSettingsError(f"AI_PAPER_MARKET_DATA_VENUE: {settings.ai_paper_market_data_venue!r} is not a venue "
                              "Sparky knows (aster, oanda, tradier or a ccxt exchange id)")
    model = model or build_model(settings)
    legacy = LegacyConfig.load(settings.config_path)
    store = build_store(settings)
    try:
        await store.open()
    except BaseException:
        await model.aclose()
        raise
    tenants = store if isinstance(store, TenantStore) else None
    http = HttpClientPool()
    metadata = VenueMetadata()
    # the local user's venues as the server has them, but no paper venue: a paper adapter here
    # would load the server's paper files and write them back, stale, when it closes
    exchanges = ExchangeRegistry()
    for adapter in adapters_from_config(legacy.exchanges, http, metadata):
        exchanges.add(adapter)
    embedded = isinstance(store, SqliteStore)
    accounts = ExchangeAccounts(exchanges, tenants, http, paper_dir=settings.sparky_data_dir / "paper",
                                paper_factory=_no_paper_adapter,
                                credentials_hint=command_hint if embedded else dashboard_hint,
                                operator_credentials=embedded, ttl=settings.tenant_cache_sec, metadata=metadata)
    venues = MarketVenues(accounts, http, metadata, endpoints=public_endpoints(legacy))
    own_client = webhook_client is None
    client = webhook_client or httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_SEC)
    forward = settings.signalstudio_forward_secret
    delivery = SignalDelivery(client, settings.effective_ai_webhook_url,
                              forward_secret=(forward.get_secret_value() if forward
                                              else load_or_create_worker_key(settings.sparky_data_dir)),
                              legacy_secret=legacy_secret(settings, legacy), sleep=sleep)
    portfolio = Portfolio(store, accounts, paper_book=paper_book_reader(
        data_dir=settings.sparky_data_dir, local_state_path=settings.paper_state_path,
        starting_equity=settings.paper_starting_equity, leverage=settings.paper_leverage,
        fee_rate=settings.paper_fee_rate))
    step = StrategyStep(model=model, venues=venues, portfolio=portfolio, delivery=delivery, store=store,
                        interval=settings.ai_candle_interval,
                        paper_market_data_venue=settings.ai_paper_market_data_venue)
    limit = candles_needed(interval_length(settings.ai_candle_interval).total_seconds())
    closers: list[Callable[[], object]] = [store.aclose, http.aclose, metadata.aclose, exchanges.aclose,
                                           accounts.aclose, venues.aclose, model.aclose]
    if own_client:
        closers.append(client.aclose)
    return AiParts(step=step, new_market_data=lambda: CycleMarketData(venues, limit=limit), store=store,
                   _closers=closers)
