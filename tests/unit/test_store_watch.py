"""Changes from another process: the store's change marker, the watch, and caches that never keep
a value read before they were cleared — on a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sparky.cache import InProcessCache
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.exchanges.http import HttpClientPool
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.exchanges.registry import ExchangeRegistry
from sparky.notifications import Notifier
from sparky.signals.auth import SecretDirectory
from sparky.signals.gates import Gates
from sparky.signals.models import Signal
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import CredentialRecord, LocalUser, secret_digest
from sparky.store_watch import StoreWatch

ALICE = "11111111-1111-4111-8111-111111111111"


@pytest.fixture
async def store(tmp_path: Path):
    store = SqliteStore(tmp_path / "sparky.sqlite3", synchronous="NORMAL")
    await store.open()
    yield store
    await store.aclose()


def commit_elsewhere(store: SqliteStore, sql: str, *args: object) -> None:
    """A write from another connection, as `sparky users` makes it."""
    with contextlib.closing(sqlite3.connect(store._path)) as conn:
        conn.execute(sql, args)
        conn.commit()


class Held:
    """Lets one call of a store method read, then holds its answer until released (a spy: the real
    method runs), so a change can land between the read and its use."""

    def __init__(self, store: SqliteStore, name: str) -> None:
        self.read = asyncio.Event()
        self.release = asyncio.Event()
        real = getattr(store, name)
        held = [True]

        async def spy(*args, **kwargs):
            answer = await real(*args, **kwargs)
            if held[0]:
                held[0] = False
                self.read.set()
                await self.release.wait()
            return answer

        setattr(store, name, spy)


async def test_the_marker_moves_for_other_connections_commits_only(store: SqliteStore) -> None:
    first = await store.external_change_marker()
    await store.set_notification_preferences(ALICE, {"notify_trade_success": False})  # the server's own write
    assert await store.external_change_marker() == first
    commit_elsewhere(store, "UPDATE notification_preferences SET notify_trade_success = 1")
    assert await store.external_change_marker() != first


async def test_the_watch_reloads_once_per_change_and_retries_a_failed_reload(store: SqliteStore) -> None:
    reloads: list[str] = []
    fail = [True]

    async def reload() -> None:
        reloads.append("reload")
        if fail[0]:
            fail[0] = False
            raise OSError("store busy")

    watch = StoreWatch(store, reload)
    assert await watch.start()
    assert await watch.poll() is False and reloads == []
    commit_elsewhere(store, "INSERT INTO notification_preferences (id, user_id) VALUES ('p1', ?)", ALICE)
    with pytest.raises(OSError):
        await watch.poll()
    assert await watch.poll() is True  # the change is still pending after the failed reload
    assert await watch.poll() is False
    assert (reloads, watch.changes) == (["reload", "reload"], 1)


async def test_a_plan_read_before_a_reload_is_not_kept(store: SqliteStore) -> None:
    await store.add_local_user(LocalUser(ALICE, None, "Pro"))
    gates = Gates(store, InProcessCache(), Notifier(store))
    entry = Signal.model_validate({"action": "buy", "symbol": "BTCUSDT", "exchange": "paper"})
    now = datetime.now(UTC)
    held = Held(store, "subscription_plan")
    first = asyncio.create_task(gates.admit(ALICE, entry, now))
    await held.read.wait()  # Pro was read; then the plan changes and the caches are cleared
    await store.set_plan(ALICE, "Free")
    gates.reload()
    held.release.set()
    assert (await first).plan == "Pro"
    assert (await gates.admit(ALICE, entry, now)).plan == "Free"


async def test_an_older_secret_refresh_never_overwrites_a_newer_one(store: SqliteStore) -> None:
    await store.upsert_credentials(CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest("old-secret")))
    directory = SecretDirectory(store)
    held = Held(store, "webhook_secret_owners")
    older = asyncio.create_task(directory.refresh())
    await held.read.wait()  # it read the old secret; the secret is rotated and a newer refresh runs
    await store.upsert_credentials(CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest("new-secret")))
    await directory.refresh()
    held.release.set()
    await older
    assert await directory.owner("new-secret") == ALICE
    assert await directory.owner("old-secret") is None


async def test_keys_read_before_an_eviction_are_used_once_then_read_again(store: SqliteStore, tmp_path: Path,
                                                                          venue_http: HttpClientPool) -> None:
    await store.upsert_credentials(CredentialRecord(ALICE, "aster", api_key="k1", api_secret="s1"))
    accounts = ExchangeAccounts(ExchangeRegistry(), store, venue_http, paper_dir=tmp_path / "paper",
                                paper_factory=lambda path: PaperExchange(state_path=path))
    held = Held(store, "get_credentials")
    first = asyncio.create_task(accounts.get(ALICE, "aster"))
    await held.read.wait()
    await store.upsert_credentials(CredentialRecord(ALICE, "aster", api_key="k2", api_secret="s2"))
    accounts.evict()
    held.release.set()
    old = await first
    new = await accounts.get(ALICE, "aster")
    assert new is not old  # rebuilt from k2 at once, not kept for the TTL
    await accounts.aclose()
