"""Builds the server's long-lived objects in start-up order and closes them in reverse.

Owned by the app lifespan (no module-level singletons). Tests reach the same objects through
`app.state.services`, e.g. the paper exchange to make it fail chosen calls.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import httpx
import structlog
from pydantic import SecretStr

from sparky.ai.worker_key import load_or_create_worker_key
from sparky.background import TaskRunner, build_runner
from sparky.cache import Cache, InProcessCache
from sparky.cache_redis import RedisCache
from sparky.config import LegacyConfig, Settings
from sparky.exchanges.accounts import ExchangeAccounts, command_hint, dashboard_hint
from sparky.exchanges.base import Exchange, SymbolRules
from sparky.exchanges.factory import adapters_from_config
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.metadata import VenueMetadata
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.registry import ExchangeRegistry
from sparky.execution.dispatcher import Dispatcher
from sparky.execution.executor import TradeExecutor
from sparky.execution.ml_screen import MlScreen
from sparky.execution.options.executor import OptionsExecutor
from sparky.first_run import load_or_create_secret, welcome_text
from sparky.monitor.options import OptionsMonitor
from sparky.monitor.prices import PriceRefresh
from sparky.monitor.reconcile import ReconcileLoop
from sparky.monitor.wiring import options_monitor, reconcile_loop
from sparky.notifications import Notifier, notify_outcome
from sparky.observability.channels import split_urls
from sparky.observability.metrics import Metrics
from sparky.observability.metrics_server import CannotServeMetrics, MetricsServer
from sparky.observability.operator_alerts import OperatorAlerts
from sparky.observability.outbound import OutboundNotifications
from sparky.observability.scrape import scrape
from sparky.plan_limits import publish as publish_plan_limits
from sparky.private_files import secure_data_dir
from sparky.server_identity import load_or_create_server_id
from sparky.signals.auth import Authenticator, SecretDirectory
from sparky.signals.dedupe import DuplicateGuard
from sparky.signals.gates import Gates
from sparky.signals.pipeline import WebhookPipeline
from sparky.signals.rate_limits import RateLimits, parse_rates
from sparky.store.base import Store, utcnow
from sparky.store.option_trades import OptionTradeStore
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import TenantStore
from sparky.store.validation_log import ValidationLog
from sparky.store_watch import WATCH_INTERVAL_SEC, StoreWatch

log = structlog.get_logger("sparky.services")


@dataclass
class Services:
    settings: Settings
    legacy: LegacyConfig
    store: Store
    cache: Cache
    exchanges: ExchangeRegistry
    accounts: ExchangeAccounts
    executor: TradeExecutor
    dispatcher: Dispatcher
    pipeline: WebhookPipeline
    notifier: Notifier
    gates: Gates | None
    secrets: SecretDirectory
    background: TaskRunner
    admin_token: str
    started_at: float
    http: HttpClientPool
    #: venues' public metadata (symbol rules, markets, clock offsets) shared by every user's adapters
    metadata: VenueMetadata
    #: drops the caches below when another process (`sparky users`) changed the store
    store_watch: StoreWatch | None = None
    #: looks at every open position and resting entry between signals (monitor/reconcile.py)
    reconcile: ReconcileLoop | None = None
    #: open positions' prices and unrealized P&L (PRICE_REFRESH_SEC; `run_once` is one cycle)
    prices: PriceRefresh | None = None
    #: the time (UTC) the server goes by: leases, recovery, the AI worker's heartbeat age (tests move it)
    clock: Callable[[], datetime] = utcnow
    #: the ML validation service's HTTP client (ARTHUR_ML_URL), one for every request; None: off
    ml_http: httpx.AsyncClient | None = None
    #: Prometheus metrics (GET /metrics or METRICS_PORT)
    metrics: Metrics = field(default_factory=Metrics)
    #: notifications sent to channels (apprise), off the hot path
    outbound: OutboundNotifications | None = None
    #: the metrics on 127.0.0.1:METRICS_PORT
    metrics_server: MetricsServer | None = None
    #: follows tradier_options trades until they close (OPTIONS_MONITOR_SEC; `run_once` is one pass)
    options: OptionsMonitor | None = None

    async def reload_caches(self) -> int:
        """Forget cached strategies, settings, plans, credentials and notification preferences, and
        re-read the webhook secrets (their count is returned)."""
        if self.gates is not None:
            self.gates.reload()
        self.accounts.evict()
        self.notifier.forget_preferences()
        return await self.secrets.refresh()

    async def aclose(self) -> None:
        await self.background.aclose()  # first: loops may use the dispatcher, venues, store and Redis
        if self.metrics_server is not None:
            await self.metrics_server.aclose()
        await self.dispatcher.aclose()
        await self.notifier.drain()
        if self.outbound is not None:
            await self.outbound.aclose()
        await self.accounts.aclose()
        await self.exchanges.aclose()
        await self.metadata.aclose()
        await self.http.aclose()
        if self.ml_http is not None:
            await self.ml_http.aclose()
        await self.cache.aclose()
        await self.store.aclose()


def _secrets(settings: Settings, legacy: LegacyConfig) -> tuple[list[str], str]:
    """Webhook secrets and the admin token; generated and printed once when none is configured."""
    data_dir = settings.sparky_data_dir
    configured = [s for s in (settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
                              legacy.webhook_secret) if s]
    new_secret = None
    if not configured:
        secret, created = load_or_create_secret(data_dir / "webhook_secret")
        configured = [secret]
        new_secret = secret if created else None
    new_admin = None
    if settings.admin_token:
        admin = settings.admin_token.get_secret_value()
    else:
        admin, created = load_or_create_secret(data_dir / "admin_token")
        new_admin = admin if created else None
    if new_secret or new_admin:
        print(welcome_text(webhook_secret=new_secret, admin_token=new_admin, port=settings.port,
                           data_dir=data_dir), file=sys.stderr, flush=True)
    return configured, admin


def _plain(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def _operator_alerts(settings: Settings, outbound: OutboundNotifications) -> OperatorAlerts | None:
    urls = split_urls(_plain(settings.operator_notify_urls))
    if not urls:
        return None
    return OperatorAlerts(outbound, urls, loop_failures=settings.operator_alert_loop_failures,
                          ai_cycle_sec=settings.ai_cycle_sec)


def paper_rules(settings: Settings) -> dict[str, SymbolRules]:
    rules = {}
    for symbol, fields in settings.paper_symbol_rules.items():
        tick, step = fields["tick_size"], fields["step_size"]
        rules[symbol.upper()] = SymbolRules(symbol.upper(), tick, step, fields.get("min_quantity", step),
                                            fields.get("min_notional", Decimal(5)))
    return rules


def paper_exchange(settings: Settings, state_path: Path) -> Exchange:
    return PaperExchange(
        state_path=state_path,
        rules=paper_rules(settings),
        starting_equity=settings.paper_starting_equity,
        leverage=settings.paper_leverage,
        fee_rate=settings.paper_fee_rate,
        attached_brackets=settings.paper_attached_brackets,
    )


def build_exchanges(settings: Settings, legacy: LegacyConfig, http: HttpClientPool,
                    metadata: VenueMetadata | None = None) -> ExchangeRegistry:
    """The local user's venues: paper plus every config.json section."""
    registry = ExchangeRegistry()
    for adapter in adapters_from_config(legacy.exchanges, http, metadata):
        registry.add(adapter)
    registry.add(paper_exchange(settings, settings.paper_state_path))
    return registry


def options_executor(settings: Settings, legacy: LegacyConfig, store: Store, accounts: ExchangeAccounts,
                     gates: Gates | None) -> OptionsExecutor:
    """Every user's `tradier_options` jobs; the local user's settings take config.json's section over
    TRADIER_OPTIONS (a bad value there stops the start-up, naming it), another user's take their
    `tradier_options` trade settings row."""
    section = legacy.exchanges.get("tradier_options")
    local = settings.tradier_options.over(section.model_extra or {}) if section is not None else None
    assert isinstance(store, OptionTradeStore)  # both stores keep tradier_option_trades
    return OptionsExecutor(store, accounts, settings.tradier_options, local_settings=local,
                           tenant_reads=gates.reads if gates else None)


def build_store(settings: Settings) -> Store:
    if settings.supabase_url and settings.supabase_service_role_key:
        from sparky.store.supabase.store import SupabaseStore  # only when configured

        return SupabaseStore(settings.supabase_url, settings.supabase_service_role_key.get_secret_value())
    return SqliteStore(settings.database_path, synchronous=settings.sqlite_synchronous)


def build_rate_limits(settings: Settings, cache: Cache, gates: Gates | None) -> RateLimits:
    """Per user (by plan when tenants have plans) and per source address for failed attempts."""
    by_plan = {plan: parse_rates(rates, setting=f"PLAN_RATE_LIMITS[{plan!r}]")
               for plan, rates in settings.plan_rate_limits.items()}
    return RateLimits(cache, per_user=parse_rates(settings.rate_limit, setting="RATE_LIMIT"),
                      failures_per_address=parse_rates(settings.auth_failure_limit, setting="AUTH_FAILURE_LIMIT"),
                      by_plan=by_plan, plan_of=gates.plan if gates is not None else None)


def build_ml_screen(settings: Settings, tenants: TenantStore | None, store: Store, accounts: ExchangeAccounts,
                    notifier: Notifier) -> tuple[httpx.AsyncClient | None, MlScreen | None]:
    """ML pre-trade validation when ARTHUR_ML_URL is set and the store has strategies, with the
    one HTTP client it uses (closed with the services)."""
    if not settings.arthur_ml_url or tenants is None or not isinstance(store, ValidationLog):
        return None, None
    timeout = settings.arthur_ml_timeout_sec
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), follow_redirects=False)
    return client, MlScreen(url=settings.arthur_ml_url, timeout=timeout, client=client, tenants=tenants,
                            validations=store, accounts=accounts, notifier=notifier)


async def build_services(settings: Settings, *, clock: Callable[[], datetime] = utcnow,
                         monotonic: Callable[[], float] = time.monotonic) -> Services:
    """`clock`: the time leases and recovery go by; `monotonic`: the clock the store read caches
    expire by (tests move both)."""
    secure_data_dir(settings.sparky_data_dir)  # 0700, its files 0600: API keys and secrets live there
    legacy = LegacyConfig.load(settings.config_path)
    webhook_secrets, admin_token = _secrets(settings, legacy)
    store = build_store(settings)
    await store.open()
    tenants = store if isinstance(store, TenantStore) else None
    cache: Cache = RedisCache(settings.redis_url) if settings.redis_url else InProcessCache()
    metrics = Metrics()
    http = HttpClientPool()
    http.measure_with(metrics)  # every venue request timed (exchanges/http.py `send`)
    metadata = VenueMetadata()
    exchanges = build_exchanges(settings, legacy, http, metadata)
    accounts = ExchangeAccounts(exchanges, tenants, http, paper_dir=settings.sparky_data_dir / "paper",
                                paper_factory=lambda path: paper_exchange(settings, path),
                                credentials_hint=command_hint if isinstance(store, SqliteStore) else dashboard_hint,
                                operator_credentials=isinstance(store, SqliteStore),  # else tenants wrote them
                                ttl=settings.tenant_cache_sec, clock=monotonic, metadata=metadata)
    outbound = OutboundNotifications(metrics)
    operator = _operator_alerts(settings, outbound)
    notifier = Notifier(tenants, ttl=settings.tenant_cache_sec, clock=monotonic, outbound=outbound,
                        local_urls=split_urls(_plain(settings.notify_urls)), operator=operator,
                        any_channel=isinstance(store, SqliteStore))  # `sparky users` wrote them: the operator
    gates = (Gates(tenants, cache, notifier, plan_limits=settings.plan_limits, ttl=settings.tenant_cache_sec,
                   clock=monotonic) if tenants is not None else None)
    executor = TradeExecutor(store, accounts, settings, legacy, tenant_reads=gates.reads if gates else None,
                             cache=cache)
    ml_http, screen = build_ml_screen(settings, tenants, store, accounts, notifier)
    options = options_executor(settings, legacy, store, accounts, gates)
    dispatcher = Dispatcher(store, executor, accounts, sync_budget=settings.sync_budget_ms / 1000,
                            signal_max_age=settings.signal_max_age_sec,
                            server_id=load_or_create_server_id(settings.sparky_data_dir), clock=clock,
                            on_outcome=lambda job, outcome: notify_outcome(notifier, job, outcome), cache=cache,
                            screen=screen, routes={"tradier_options": options.execute})
    directory = SecretDirectory(tenants)
    forward = settings.signalstudio_forward_secret
    pipeline = WebhookPipeline(
        authenticator=Authenticator(webhook_secrets, directory,
                                    forward_secret=forward.get_secret_value() if forward else None,
                                    worker_key=(load_or_create_worker_key(settings.sparky_data_dir)
                                                if forward is None and tenants is not None else None)),
        dedupe=DuplicateGuard(cache, settings.duplicate_window_sec),
        dispatcher=dispatcher,
        store=store,
        accounts=accounts,
        gates=gates,
        limits=build_rate_limits(settings, cache, gates),
        max_signal_age_sec=settings.max_signal_age_sec,
    )
    background = build_runner(settings.redis_url, dispatcher.leases.owner,
                              leader_ttl=settings.background_leader_ttl_sec)  # loops start in the app lifespan
    services = Services(settings, legacy, store, cache, exchanges, accounts, executor, dispatcher, pipeline, notifier,
                        gates, directory, background, admin_token, time.monotonic(), http, metadata,
                        clock=clock, ml_http=ml_http, metrics=metrics, outbound=outbound)
    background.observe(metrics.loop_ran)
    if operator is not None:
        background.observe(operator.loop_ran)
        if hasattr(store, "ai_worker_heartbeats"):
            background.every("ai_worker.watch", settings.ai_cycle_sec, lambda: operator.check_ai_worker(store),
                             leader_only=True)  # one server tells the operator
    if settings.metrics_port is not None:
        services.metrics_server = MetricsServer(lambda: scrape(services))
        try:
            await services.metrics_server.start(settings.metrics_port)
        except CannotServeMetrics:
            await services.aclose()  # nothing started trading yet: the store and clients close again
            raise
    services.reconcile = reconcile_loop(services, now=clock, monotonic=monotonic)
    background.every("positions.reconcile", settings.reconcile_fast_sec, services.reconcile.run_once,
                     leader_only=True)  # one server reconciles; the per-key lock guards the rest
    services.prices = PriceRefresh(store, accounts)
    if settings.price_refresh_sec:  # one server per store writes the prices (the leader lock with Redis)
        background.every("prices.refresh", settings.price_refresh_sec, services.prices.run_once, leader_only=True)
    services.options = options_monitor(services, options.settings_for, now=clock)
    background.every("options.monitor", settings.options_monitor_sec, services.options.run_once,
                     leader_only=True)  # one server sends an option's close; none when no row is followed
    if tenants is not None:
        await directory.refresh()
        await publish_plan_limits(tenants, settings.plan_limits)  # what check_webhook_limit answers
        background.every("secrets.refresh", settings.secret_refresh_sec, directory.refresh)
        services.store_watch = StoreWatch(tenants, services.reload_caches)
        if await services.store_watch.start():
            background.every("store.watch", WATCH_INTERVAL_SEC, services.store_watch.poll)
    accounts.warm_up()  # in the background: never delays start-up, nor fails it when a venue is down
    return services
