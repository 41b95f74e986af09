"""Secret directory caching, per-user exchange adapters, store selection — on a real SQLite store."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import httpx
import pytest
import respx
from pydantic import ValidationError

from sparky.config import Settings
from sparky.exchanges.accounts import ExchangeAccounts, MissingCredentials
from sparky.exchanges.errors import ExchangeError
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.registry import ExchangeRegistry
from sparky.services import build_store
from sparky.signals.auth import SecretDirectory
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import CredentialRecord, secret_digest

ALICE = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
async def store(tmp_path: Path):
    store = SqliteStore(tmp_path / "sparky.sqlite3", synchronous="NORMAL")
    await store.open()
    yield store
    await store.aclose()


class Counting:
    """Counts calls to one store method while the real method still runs (a spy, not a mock)."""

    def __init__(self, store: SqliteStore, name: str) -> None:
        self.calls = 0
        real = getattr(store, name)

        async def spy(*args, **kwargs):
            self.calls += 1
            return await real(*args, **kwargs)

        setattr(store, name, spy)


async def test_unknown_secrets_reach_the_store_once_per_minute(store: SqliteStore) -> None:
    clock = [0.0]
    directory = SecretDirectory(store, negative_ttl=60, clock=lambda: clock[0])
    lookups = Counting(store, "find_webhook_secret_owner")
    for _ in range(50):  # a flood of bad secrets
        assert await directory.owner("guess") is None
    assert lookups.calls == 1
    clock[0] = 61
    assert await directory.owner("guess") is None
    assert lookups.calls == 2


async def test_a_secret_added_after_a_miss_works_after_the_refresh(store: SqliteStore) -> None:
    directory = SecretDirectory(store, clock=lambda: 0.0)
    assert await directory.owner("alice-secret") is None
    await store.upsert_credentials(CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest("alice-secret")))
    assert await directory.refresh() == 1
    assert await directory.owner("alice-secret") == ALICE


async def test_a_users_adapter_is_cached_and_rebuilt_when_the_keys_change(store: SqliteStore, tmp_path: Path,
                                                                          venue_http: HttpClientPool) -> None:
    clock = [0.0]
    accounts = ExchangeAccounts(ExchangeRegistry(), store, venue_http, paper_dir=tmp_path / "paper",
                                paper_factory=lambda path: PaperExchange(state_path=path), ttl=60,
                                clock=lambda: clock[0])
    with pytest.raises(MissingCredentials):
        await accounts.get(ALICE, "aster")
    await store.upsert_credentials(CredentialRecord(ALICE, "aster", api_key="k1", api_secret="s1"))
    reads = Counting(store, "get_credentials")
    first = await accounts.get(ALICE, "aster")
    assert await accounts.get(ALICE, "aster") is first and reads.calls == 1  # cached within the TTL
    clock[0] = 61
    assert await accounts.get(ALICE, "aster") is first and reads.calls == 2  # re-read, unchanged: kept
    await store.upsert_credentials(CredentialRecord(ALICE, "aster", api_key="k2", api_secret="s2"))
    accounts.evict()
    second = await accounts.get(ALICE, "aster")
    assert second is not first  # new keys, new adapter (the old one is closed)
    assert await accounts.get(ALICE, "paper") is not await accounts.get("22222222-2222-4222-8222-222222222222",
                                                                        "paper")
    await accounts.aclose()


def test_the_store_is_supabase_only_when_both_settings_are_given(tmp_path: Path) -> None:
    base = {"_env_file": None, "sparky_data_dir": tmp_path}
    assert type(build_store(Settings(**base))).__name__ == "SqliteStore"
    with pytest.raises(ValidationError, match="SUPABASE_SERVICE_ROLE_KEY is not set"):  # not SQLite in disguise
        Settings(**base, supabase_url="https://x.supabase.co")
    chosen = build_store(Settings(**base, supabase_url="https://x.supabase.co", supabase_service_role_key="k"))
    assert type(chosen).__name__ == "SupabaseStore"


async def test_the_adapters_kept_are_bounded_and_one_dropped_is_rebuilt_from_its_own_keys(
        store: SqliteStore, tmp_path: Path, venue_http: HttpClientPool) -> None:
    bob, carol = "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
    accounts = ExchangeAccounts(ExchangeRegistry(), store, venue_http, paper_dir=tmp_path / "paper",
                                paper_factory=lambda path: PaperExchange(state_path=path), ttl=60,
                                clock=lambda: 0.0, max_adapters=2)
    for user in (ALICE, bob, carol):
        await store.upsert_credentials(CredentialRecord(user, "aster", api_key=f"key-{user[:1]}", api_secret="s"))
    reads = Counting(store, "get_credentials")
    alice, bob_adapter = await accounts.get(ALICE, "aster"), await accounts.get(bob, "aster")
    assert await accounts.get(ALICE, "aster") is alice  # used last: bob's is now the oldest
    await accounts.get(carol, "aster")  # a third user: bob's adapter is dropped
    assert reads.calls == 3
    assert await accounts.get(ALICE, "aster") is alice and reads.calls == 3  # still cached
    rebuilt = await accounts.get(bob, "aster")  # read again, built again, from bob's own row
    assert reads.calls == 4 and rebuilt is not bob_adapter
    assert await _key_sent_by(rebuilt) == "key-2" and await _key_sent_by(alice) == "key-1"
    await accounts.aclose()


async def _key_sent_by(adapter) -> str | None:
    """The API key the adapter signs its requests with, as the venue receives it."""
    with respx.mock(assert_all_called=False) as venue:
        venue.get(path__regex=r"/time$").mock(return_value=httpx.Response(200, json={"serverTime": time.time_ns() // 10**6}))
        route = venue.route().mock(return_value=httpx.Response(500, json={"code": -1000, "msg": "stop here"}))
        with contextlib.suppress(ExchangeError):
            await adapter.balance()
    keys = {call.request.headers.get("X-MBX-APIKEY") for call in route.calls} - {None}
    assert len(keys) == 1
    return keys.pop()
