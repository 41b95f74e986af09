"""Which exchange adapter acts for a user: the account a signal may touch, and no other.

The local user (legacy secret, config.json) trades on the registry's adapters. Every other user
trades on adapters built from their own `bot_credentials` row, cached per (user, exchange,
environment) for `ttl` seconds; an adapter whose credentials changed is replaced and closed.
`evict()` makes the next signal re-read them. At most `max_adapters` are kept (the least recently
used is dropped and closed first), so memory does not grow with every user who ever traded. Each
user gets their own paper account (state in `<data>/paper/<user uuid>.json`, named from the user
id only once it reads as a UUID).

Each (user, exchange) has at most one credentials read (and adapter build) in flight, whose answer
everyone asking meanwhile shares; different users' reads go on side by side, so one slow read
(Supabase answers in 20–50 ms) never holds up another user's signal. What a user's adapters load
that is the same for every account (symbol rules, a venue's markets) is shared through
`metadata.py`; their keys and account data never are.

Who wrote the rows decides what they may say: on the embedded SQLite store the operator did
(`sparky users credentials`), so a base URL there is used as given; on Supabase each tenant wrote
their own through the dashboard, so a base URL may only name one of the venue's official hosts
(`endpoints.py`) and anything else is refused before an adapter exists.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from sparky.errors import BadRequest
from sparky.exchanges.base import Exchange
from sparky.exchanges.credentials import VenueCredentials
from sparky.exchanges.endpoints import tenant_credentials
from sparky.exchanges.factory import NATIVE, create_adapter, is_supported
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.metadata import VenueMetadata
from sparky.exchanges.registry import ExchangeRegistry
from sparky.exchanges.warmup import WarmUps
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.tenants import CredentialRecord, TenantStore

log = structlog.get_logger("sparky.accounts")

CREDENTIALS_HINT = "Add your exchange API keys in SignalStudio → Settings → Bot Credentials"

#: venues whose keys may be stored under another venue's name: a Tradier account trades options with
#: the same token and account id, and the dashboard stored them under either name
CREDENTIALS_ALSO_UNDER = {"tradier_options": "tradier"}

#: users' adapters kept at most (one per user and venue): ~8 KiB each for the native venues, more for a
#: ccxt one (it holds its venue's markets once loaded); one dropped is rebuilt on its user's next signal
MAX_CACHED_ADAPTERS = 1000

#: where a user's missing keys are added: (user id, exchange) → the hint the refusal carries
CredentialsHint = Callable[[str, str], str]


def dashboard_hint(user_id: str, exchange: str) -> str:
    """With Supabase, users manage their own keys in the SignalStudio dashboard."""
    return CREDENTIALS_HINT


def command_hint(user_id: str, exchange: str) -> str:
    """Embedded (SQLite) mode has no dashboard: the operator stores keys with the CLI."""
    return (f"Store the {exchange} API keys on the Sparky server: sparky users credentials {user_id} {exchange} "
            f"… (`sparky users credentials --help` lists the options)")


class MissingCredentials(BadRequest):
    def __init__(self, exchange: str, hint: str = CREDENTIALS_HINT) -> None:
        super().__init__(f"No credentials stored for {exchange}", field="exchange", hint=hint)


@dataclass
class _Cached:
    exchange: Exchange
    fingerprint: tuple
    expires: float


@dataclass
class _Read:
    task: asyncio.Task[Exchange]
    #: `evict()` calls seen when it began: a caller after a later one must not take its answer
    evictions: int


def _fingerprint(record: CredentialRecord) -> tuple:
    """Changes whenever anything the adapter is built from changes."""
    extra = json.dumps(record.extra_metadata or {}, sort_keys=True, default=str)
    return (record.api_key, record.api_secret, record.passphrase, record.account_id, record.environment, extra)


def credentials_of(record: CredentialRecord) -> VenueCredentials:
    extra = dict(record.extra_metadata or {})
    return VenueCredentials(
        exchange=record.exchange,
        environment=str(extra.pop("environment", None) or record.environment or "production").lower(),
        api_key=record.api_key,
        api_secret=record.api_secret,
        passphrase=record.passphrase,
        account_id=record.account_id,
        access_token=extra.pop("access_token", None) or extra.pop("accessToken", None) or record.api_key,
        base_url=extra.pop("apiUrl", None) or extra.pop("baseUrl", None) or extra.pop("api_url", None),
        extra=extra,
    )


class ExchangeAccounts:
    def __init__(self, registry: ExchangeRegistry, store: TenantStore | None, http: HttpClientPool, *,
                 paper_factory: Callable[[Path], Exchange], paper_dir: Path, ttl: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, credentials_hint: CredentialsHint = dashboard_hint,
                 operator_credentials: bool = False, max_adapters: int = MAX_CACHED_ADAPTERS,
                 metadata: VenueMetadata | None = None) -> None:
        self._registry = registry
        self._store = store
        self._http = http
        self._paper_factory = paper_factory
        self._paper_dir = paper_dir
        self._ttl = ttl
        self._clock = clock
        self._hint = credentials_hint
        #: the rows were written by the operator (embedded store), not by each tenant (Supabase)
        self._operator_credentials = operator_credentials
        self._cache: OrderedDict[tuple[str, str], _Cached] = OrderedDict()  # least recently used first
        self._max_adapters = max_adapters
        self._papers: dict[str, Exchange] = {}
        #: the credentials read (and adapter build) in flight per (user, exchange)
        self._reads: dict[tuple[str, str], _Read] = {}
        self._evictions = 0
        self._metadata = metadata
        self._warm_ups = WarmUps()

    def warm_up(self) -> None:
        """Start warming up the local user's venues (config.json) in the background (`warmup.py`)."""
        for exchange in self._registry:
            self._warm_ups.start(exchange)

    async def warmed(self) -> None:
        """Until the warm-ups started so far have finished, well or not."""
        await self._warm_ups.settled()

    def supports(self, user_id: str, exchange: str) -> bool:
        """Whether a signal for `exchange` can be accepted from this user at all."""
        if user_id == LOCAL_USER_ID:
            return exchange in self._registry.names()
        return is_supported(exchange)

    def names_for(self, user_id: str) -> list[str]:
        if user_id == LOCAL_USER_ID:
            return self._registry.names()
        return ["paper", *sorted(NATIVE), "any CCXT exchange id"]  # the factory's own list

    async def get(self, user_id: str, exchange: str) -> Exchange:
        if user_id == LOCAL_USER_ID:
            return self._registry.get(exchange)
        if exchange == "paper":
            return self._paper(user_id)
        if self._store is None:
            raise MissingCredentials(exchange, self._hint(user_id, exchange))
        key = (user_id, exchange)
        while True:
            cached = self._cache.get(key)
            if cached is not None and cached.expires > self._clock():
                self._cache.move_to_end(key)
                return cached.exchange
            # one read per (user, exchange) at a time: the users' reads go on side by side
            read = self._reads.get(key)
            if read is None or read.task.done():
                evictions = self._evictions
                read = self._reads[key] = _Read(asyncio.ensure_future(self._read(key, evictions)), evictions)
                read.task.add_done_callback(functools.partial(self._read_done, key))
            if read.evictions == self._evictions:
                return await asyncio.shield(read.task)
            # begun before an eviction, its keys may be stale: let it finish (never two builds of
            # one key at once, so an older read cannot replace a newer adapter), then read again
            await asyncio.wait([read.task])

    async def _read(self, key: tuple[str, str], evictions: int) -> Exchange:
        """Read the user's keys, and build their adapter if none is cached for exactly these keys."""
        user_id, exchange = key
        record = await self._store.get_credentials(user_id, exchange, "production")
        if record is None and exchange in CREDENTIALS_ALSO_UNDER:
            record = await self._store.get_credentials(user_id, CREDENTIALS_ALSO_UNDER[exchange], "production")
        if record is None:
            raise MissingCredentials(exchange, self._hint(user_id, exchange))
        # keys read before an eviction may predate the change that caused it: use them once
        expires = self._clock() + self._ttl if evictions == self._evictions else 0
        cached = self._cache.get(key)
        fingerprint = _fingerprint(record)
        if cached is not None and cached.fingerprint == fingerprint:
            cached.expires = expires
            self._cache.move_to_end(key)
            return cached.exchange
        credentials = replace(credentials_of(record), exchange=exchange)  # the venue asked for, whoever's row
        if not self._operator_credentials:  # a tenant's own row: official hosts only
            credentials = tenant_credentials(credentials)
        adapter = create_adapter(credentials, self._http, self._metadata)
        self._cache[key] = _Cached(adapter, fingerprint, expires)
        self._cache.move_to_end(key)
        self._warm_ups.start(adapter)  # beside this signal, which needs the same rules and clock
        retired = []
        if cached is not None:  # keys changed: retire the old adapter
            log.info("exchange.credentials_changed", exchange=exchange)
            retired.append(cached.exchange)
        while len(self._cache) > self._max_adapters:
            retired.append(self._cache.popitem(last=False)[1].exchange)
        for old in retired:  # out of the cache above, before any await: nobody gets them any more
            await old.aclose()
        return adapter

    def _read_done(self, key: tuple[str, str], task: asyncio.Task[Exchange]) -> None:
        read = self._reads.get(key)
        if read is not None and read.task is task:
            del self._reads[key]
        if not task.cancelled():
            task.exception()  # retrieved: everyone waiting for it may have gone

    def _paper(self, user_id: str) -> Exchange:
        # the state file is named by the id: only a UUID, in its one spelling, may name it
        try:
            account = str(uuid.UUID(user_id))
        except ValueError:
            raise BadRequest("user_id is not a UUID: no paper account can be kept for it", field="user_id") from None
        paper = self._papers.get(account)
        if paper is None:
            paper = self._paper_factory(self._paper_dir / f"{account}.json")
            self._papers[account] = paper
        return paper

    def evict(self) -> None:
        """Forget cached adapters so the next signal re-reads credentials (POST /strategies/reload,
        or another process changed the store)."""
        self._evictions += 1
        for cached in self._cache.values():
            cached.expires = 0

    async def aclose(self) -> None:
        reads, self._reads = [r.task for r in self._reads.values()], {}
        for task in reads:  # a read still in flight must not cache an adapter nobody will close
            task.cancel()
        await asyncio.gather(*reads, return_exceptions=True)
        await self._warm_ups.aclose()
        adapters = [c.exchange for c in self._cache.values()] + list(self._papers.values())
        self._cache.clear()
        self._papers.clear()
        for adapter in adapters:
            try:
                await adapter.aclose()
            except Exception:
                log.exception("exchange.close_failed", exchange=adapter.name)
