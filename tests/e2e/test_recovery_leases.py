"""Several servers on one store: at start-up a server resumes only the pending requests that are its
own or whose lease has ended, never one another server is running.

Two real apps share the Supabase store (the in-memory PostgREST of the store's tests) and one Aster
account (the scripted venue), each with its own data dir, hence its own server id. Their clock is
one the test moves: a lease ends without anyone waiting for it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import respx

from sparky.exchanges.base import OrderKind, Side
from sparky.execution.leases import LEASE_SEC
from sparky.execution.orders import client_order_id
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import RequestStatus, utcnow
from tests.conftest import make_settings, running
from tests.e2e.test_recovery import lose_database_from
from tests.unit.exchanges.aster.test_aster import BASE, KEY, SECRET, FakeAster
from tests.unit.store.supabase.test_store import KEY as SERVICE_KEY
from tests.unit.store.supabase.test_store import REST, URL, FakePostgrest

OPEN_LONG = {"exchange": "aster", "action": "buy", "symbol": "BTCUSDT", "price": 27000,
             "position_size_usd": 270, "stop_loss_percent": 2}


class Clock:
    """The servers' clock (in sync, as NTP keeps them), moved by the test."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def venue() -> FakeAster:
    return FakeAster()


@pytest.fixture
def shared(venue: FakeAster) -> Iterator[None]:
    """One Supabase project and one Aster account for every server the test starts."""
    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=REST).mock(side_effect=FakePostgrest())
        router.route(url__startswith=BASE).mock(side_effect=venue.handle)
        yield


@pytest.fixture
def server(tmp_path: Path, shared: None) -> Any:
    """`server("a", clock)`: start (or restart) the server whose data dir is `a`."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiUrl": BASE, "apiKey": KEY, "apiSecret": SECRET}}))

    def start(name: str, clock: Clock, **overrides: Any) -> Any:
        settings = make_settings(tmp_path / name, supabase_url=URL, supabase_service_role_key=SERVICE_KEY,
                                 config_path=config, **overrides)
        return running(settings, clock=clock)

    return start


def entries(venue: FakeAster) -> list[tuple[Side, OrderKind, str | None]]:
    return [(o.side, o.kind, o.client_order_id) for o in venue.sent_orders() if not o.reduce_only]


async def test_a_restarting_server_leaves_alone_the_request_another_server_is_running(server, venue) -> None:
    clock = Clock()
    async with server("b", clock, sync_budget_ms=50) as b:
        # B is still busy with an earlier BTCUSDT signal: this one is recorded and waits its turn
        busy = b.services.dispatcher.reserve((LOCAL_USER_ID, "aster", "BTCUSDT"))
        answer = await b.alert(**OPEN_LONG)
        assert answer.status_code == 202
        rid = answer.json()["request_id"]
        b_id = b.services.dispatcher.leases.owner

        async with server("a", clock) as a:  # A restarts meanwhile: the request is B's
            row = await a.services.store.get_webhook_request(rid)
            assert (row.status, row.lease_owner) == (RequestStatus.PENDING, b_id)
            assert row.lease_expires_at == clock.now + timedelta(seconds=LEASE_SEC)
        assert venue.sent_orders() == []

        clock.advance(LEASE_SEC - 10)
        await b.services.dispatcher.leases.renew()  # what B does every 20 s while the request is in flight
        clock.advance(20)  # past the lease B first had
        async with server("a", clock) as a:
            row = await a.services.store.get_webhook_request(rid)
            assert (row.status, row.lease_owner) == (RequestStatus.PENDING, b_id)
        assert venue.sent_orders() == []

        busy.release()  # B's turn: it executes the request, once
        await b.services.dispatcher.wait_idle()
        row = await b.services.store.get_webhook_request(rid)
        assert (row.status, row.result["action"]) == (RequestStatus.SUCCESS, "opened")
    assert entries(venue) == [(Side.BUY, OrderKind.MARKET, client_order_id(rid, "e"))]


async def test_a_server_resumes_its_own_requests_at_once_and_a_dead_servers_once_its_lease_ends(
        server, venue, monkeypatch) -> None:
    clock = Clock()
    rids = {}
    for name in ("a", "b"):  # each server sends its orders, then dies before finishing its row
        async with server(name, clock) as sparky:
            lose_database_from(monkeypatch, sparky.services.store, "finish_execution")
            response = await sparky.alert(**{**OPEN_LONG, "symbol": "ETHUSDT" if name == "a" else "BTCUSDT"})
            rids[name] = response.json()["request_id"]
            monkeypatch.undo()
    sent = venue.sent_orders()
    assert len(sent) == 4  # an entry and its stop each

    clock.advance(LEASE_SEC / 2)
    async with server("a", clock) as a:
        mine, theirs = [await a.services.store.get_webhook_request(rids[n]) for n in ("a", "b")]
        assert (mine.status, mine.result["action"]) == (RequestStatus.SUCCESS, "opened")  # at once: its own
        assert theirs.status is RequestStatus.PENDING  # B's lease still runs: B may be back any moment

    clock.advance(LEASE_SEC / 2)  # B's lease has ended: B is not running it
    async with server("a", clock) as a:
        theirs = await a.services.store.get_webhook_request(rids["b"])
        assert (theirs.status, theirs.result["action"]) == (RequestStatus.SUCCESS, "opened")
        assert theirs.lease_owner == a.services.dispatcher.leases.owner
    assert venue.sent_orders() == sent  # both were finished from the venue: nothing was sent twice
