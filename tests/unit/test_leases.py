"""Leases on the requests a server has in flight: renewed while held, let go when released, and a
lease another server took over is reported (that request may run twice)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sparky.execution.leases import LEASE_SEC, Leases
from sparky.store.sqlite.store import SqliteStore
from tests.store_contract import T0, make_request

LEASE = timedelta(seconds=LEASE_SEC)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = SqliteStore(tmp_path / "sparky.sqlite3")
    await store.open()
    yield store
    await store.aclose()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


async def expiry(store: SqliteStore, request_id: str) -> datetime | None:
    record = await store.get_webhook_request(request_id)
    assert record is not None
    return record.lease_expires_at


async def test_held_requests_are_renewed_until_released(store: SqliteStore) -> None:
    clock = Clock()
    leases = Leases(store, "server-a", clock=clock)
    held, released = leases.stamp(make_request()), leases.stamp(make_request())
    assert (held.lease_owner, held.lease_expires_at) == ("server-a", T0 + LEASE)
    for record in (held, released):
        await store.insert_webhook_request(record)
        leases.hold(record.id)
    leases.release(released.id)
    clock.now = T0 + timedelta(seconds=20)
    await leases.renew()
    assert await expiry(store, held.id) == clock.now + LEASE
    assert await expiry(store, released.id) == T0 + LEASE
    await leases.aclose()
    assert leases.held == frozenset()


async def test_a_lease_taken_over_is_reported_and_no_longer_renewed(store: SqliteStore) -> None:
    clock = Clock()
    mine, other = Leases(store, "server-a", clock=clock), Leases(store, "server-b", clock=clock)
    record = mine.stamp(make_request())
    await store.insert_webhook_request(record)
    mine.hold(record.id)
    clock.now = T0 + LEASE  # A's renewals failed for a whole lease: B, starting, takes the request
    assert await other.claim(record) is True
    with capture_logs() as logs:
        await mine.renew()
    assert [(e["event"], e["request_ids"]) for e in logs] == [("webhook.lease_lost", [record.id])]
    assert mine.held == frozenset()
    assert await expiry(store, record.id) == clock.now + LEASE  # B's lease, untouched
    await mine.aclose()


async def test_a_store_outage_during_renewal_is_logged_and_the_lease_kept_for_the_next_try(
        store: SqliteStore) -> None:
    leases = Leases(store, "server-a", clock=Clock())
    leases.hold("r1")
    await store.aclose()
    with capture_logs() as logs:
        await leases.renew()
    assert [e["event"] for e in logs] == ["webhook.lease_renewal_failed"]
    assert leases.held == frozenset({"r1"})
    await leases.aclose()
