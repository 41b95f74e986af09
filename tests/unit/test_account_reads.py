"""Users' first signals read their credentials side by side: one user's slow read (Supabase answers
in tens of milliseconds) never holds another's, and one user's signals arriving together read and
build once. On a real SQLite store, slowed per user by an event the test controls."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import httpx
import pytest
import respx

from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.errors import ExchangeError
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.registry import ExchangeRegistry
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import CredentialRecord

ALICE, BOB = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


class HeldReads:
    """The real store, except that reading a held user's credentials waits until released (the row
    is read first, so what comes back is what the store held when the read began)."""

    def __init__(self, store: SqliteStore) -> None:
        self.reads: list[str] = []
        self.started: dict[str, asyncio.Event] = {}
        self._gates: dict[str, asyncio.Event] = {}
        self.failing: set[str] = set()  # these users' reads fail (the store unreachable)
        real = store.get_credentials

        async def get_credentials(user_id: str, exchange: str, environment: str = "production"):
            self.reads.append(user_id)
            record = await real(user_id, exchange, environment)
            self.started.setdefault(user_id, asyncio.Event()).set()
            gate = self._gates.get(user_id)
            if gate is not None:
                await gate.wait()
            if user_id in self.failing:
                raise ConnectionError("the store is unreachable")
            return record

        store.get_credentials = get_credentials

    def hold(self, user_id: str) -> None:
        self._gates[user_id] = asyncio.Event()

    def release(self, user_id: str) -> None:
        self._gates.pop(user_id).set()

    async def began(self, user_id: str) -> None:
        await asyncio.wait_for(self.started.setdefault(user_id, asyncio.Event()).wait(), timeout=5)


@pytest.fixture
async def store(tmp_path: Path):
    store = SqliteStore(tmp_path / "sparky.sqlite3", synchronous="NORMAL")
    await store.open()
    for user in (ALICE, BOB):
        await store.upsert_credentials(CredentialRecord(user, "aster", api_key=f"key-{user[:1]}", api_secret="s"))
    yield store
    await store.aclose()


@pytest.fixture
async def accounts(store: SqliteStore, tmp_path: Path, venue_http: HttpClientPool):
    accounts = ExchangeAccounts(ExchangeRegistry(), store, venue_http, paper_dir=tmp_path / "paper",
                                paper_factory=lambda path: PaperExchange(state_path=path), ttl=60)
    yield accounts
    await accounts.aclose()


async def test_one_users_slow_credentials_read_does_not_hold_another_users_signal(store, accounts) -> None:
    reads = HeldReads(store)
    reads.hold(ALICE)
    alice = asyncio.ensure_future(accounts.get(ALICE, "aster"))
    await reads.began(ALICE)  # Alice's read is under way and stays there
    bob = await asyncio.wait_for(accounts.get(BOB, "aster"), timeout=5)
    assert await _key_sent_by(bob) == "key-2" and not alice.done()
    reads.release(ALICE)
    assert await _key_sent_by(await alice) == "key-1"


async def test_one_users_signals_arriving_together_read_the_keys_once_and_share_one_adapter(store, accounts) -> None:
    reads = HeldReads(store)
    reads.hold(ALICE)
    signals = [asyncio.ensure_future(accounts.get(ALICE, "aster")) for _ in range(5)]
    await reads.began(ALICE)
    reads.release(ALICE)
    adapters = await asyncio.gather(*signals)
    assert all(adapter is adapters[0] for adapter in adapters)
    assert reads.reads == [ALICE]  # one credentials read for the five signals


async def test_a_signal_after_an_eviction_does_not_take_the_keys_read_before_it(store, accounts) -> None:
    reads = HeldReads(store)
    reads.hold(ALICE)
    before = asyncio.ensure_future(accounts.get(ALICE, "aster"))
    await reads.began(ALICE)  # read key-1 …
    await store.upsert_credentials(CredentialRecord(ALICE, "aster", api_key="key-new", api_secret="s"))
    accounts.evict()  # … then the keys changed and the cache was told so
    after = asyncio.ensure_future(accounts.get(ALICE, "aster"))
    reads.release(ALICE)
    old, new = await before, await after
    assert reads.reads == [ALICE, ALICE]  # the later signal read the keys again
    assert await _key_sent_by(new) == "key-new"
    assert await accounts.get(ALICE, "aster") is new  # and the new keys' adapter is the one kept
    assert old is not new


async def test_a_failed_read_fails_every_signal_waiting_for_it_and_the_next_signal_reads_again(
        store, accounts) -> None:
    reads = HeldReads(store)
    reads.hold(ALICE)
    reads.failing.add(ALICE)
    waiting = [asyncio.ensure_future(accounts.get(ALICE, "aster")) for _ in range(3)]
    await reads.began(ALICE)
    reads.release(ALICE)
    results = await asyncio.gather(*waiting, return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError] * 3 and reads.reads == [ALICE]  # one read, one answer
    reads.failing.clear()
    assert await _key_sent_by(await accounts.get(ALICE, "aster")) == "key-1"  # nothing failed is kept


async def _key_sent_by(adapter) -> str | None:
    """The API key the adapter signs its requests with, as the venue receives it."""
    with respx.mock(assert_all_called=False) as venue:
        venue.get(path__regex=r"/time$").mock(
            return_value=httpx.Response(200, json={"serverTime": time.time_ns() // 10**6}))
        route = venue.route().mock(return_value=httpx.Response(500, json={"code": -1000, "msg": "stop here"}))
        with contextlib.suppress(ExchangeError):
            await adapter.balance()
    keys = {call.request.headers.get("X-MBX-APIKEY") for call in route.calls} - {None}
    assert len(keys) == 1
    return keys.pop()
