"""SupabaseStore against PostgREST mocked at the HTTP layer (respx).

Two halves:
- the exact requests supabase-py sends for every method (method, path, query, Prefer, JSON body,
  the service role key in `apikey` and `Authorization: Bearer`), answered with reply shapes from
  PostgREST's documentation stored in tests/fixtures/supabase/; error translation.
- the shared `StoreContract` and `TenantContract` suites, run against a small in-memory PostgREST
  (`FakePostgrest`, the subset of the URL grammar the store uses, and the SQL functions of
  migrations/0006-0019 re-enacted in Python; the SQL itself is tested on a real PostgreSQL in
  tests/postgres/test_record_webhook_request.py).
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus, unquote_plus

import httpx
import pytest
import respx

pytest.importorskip("supabase", reason="supabase-py is not installed (pip install supabase)")

from sparky.store.base import DuplicateRequest, RequestStatus, StoreUnavailable  # noqa: E402
from sparky.store.supabase import codec  # noqa: E402
from sparky.store.supabase.store import SupabaseStore  # noqa: E402
from sparky.store.tenants import (  # noqa: E402
    DEFAULT_PLAN_LIMITS,
    CredentialRecord,
    LocalUser,
    NotificationRecord,
    QuotaExceeded,
    StrategyRecord,
    TradeSettings,
    WeeklyTradeStats,
    is_digest,
    secret_digest,
)
from tests import store_contract  # noqa: E402
from tests.store_contract import (  # noqa: E402
    T0,
    StoreContract,
    make_position,
    make_request,
    make_resting_entry,
    make_trade,
)
from tests.tenant_contract import A, B, TenantContract  # noqa: E402

URL = "https://sparky-test.supabase.co"
REST = f"{URL}/rest/v1"
KEY = "eyJhbGciOiJIUzI1NiJ9.service-role-test-key.c2lnbmF0dXJl"
FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "supabase"
ROWS = json.loads((FIXTURES / "rows.json").read_text())
ERRORS = json.loads((FIXTURES / "errors.json").read_text())
RPC = json.loads((FIXTURES / "rpc.json").read_text())
REQUEST_ID = ROWS["webhook_request"]["id"]


def error(name: str) -> httpx.Response:
    return httpx.Response(ERRORS[name]["status"], json=ERRORS[name]["body"])


def rows(data: Any, *, total: int | None = None, start: int = 0) -> httpx.Response:
    """A PostgREST list reply; with `total`, the Content-Range of `Prefer: count=exact`."""
    headers = {}
    if total is not None:
        headers["Content-Range"] = f"{start}-{start + len(data) - 1}/{total}" if data else f"*/{total}"
    return httpx.Response(200, json=data, headers=headers)


def query(request: httpx.Request) -> list[tuple[str, str]]:
    return list(request.url.params.multi_items())


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def assert_keyed(request: httpx.Request) -> None:
    assert request.headers.get("apikey") == KEY, request.url
    assert request.headers.get("authorization") == f"Bearer {KEY}", request.url
    assert request.url.host == "sparky-test.supabase.co" and request.url.path.startswith("/rest/v1/")


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    """PostgREST, mocked; after the test: no request ever went out without the service role key."""
    with respx.mock(base_url=REST, assert_all_called=False) as router:
        yield router
    for call in router.calls:
        assert_keyed(call.request)


@pytest.fixture
async def store(api: respx.MockRouter) -> AsyncIterator[SupabaseStore]:
    store = SupabaseStore(URL, KEY)
    await store.open()
    yield store
    await store.aclose()


SELECT_REQUEST = codec.SELECT_REQUEST


# -- requests, exactly ---------------------------------------------------------------------------


class TestRequests:
    async def test_every_request_carries_the_service_role_key(self, store: SupabaseStore,
                                                              api: respx.MockRouter) -> None:
        api.get("/positions").mock(return_value=rows([], total=0))
        api.post("/rpc/record_close").mock(return_value=httpx.Response(204))
        api.head("/positions").mock(return_value=httpx.Response(200, headers={"Content-Range": "*/0"}))
        await store.list_positions(exchange="aster")
        await store.record_close(make_trade(exchange="aster"))
        await store.count_open_positions(A, "aster")
        assert api.calls.call_count == 3
        for call in api.calls:  # (the `api` fixture checks this after every test of this module)
            assert call.request.headers["apikey"] == KEY
            assert call.request.headers["authorization"] == f"Bearer {KEY}"
            assert call.request.headers["accept-profile"] == "public"

    async def test_insert_webhook_request(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/webhook_requests").mock(return_value=httpx.Response(201))
        record = make_request(
            user_id=A, idempotency_key="alert-1", strategy_id="not-a-uuid",
            payload={"price": Decimal("27000.1")}, created_at=datetime(2026, 5, 15, 14, tzinfo=timezone(timedelta(hours=2))),
        )  # fmt: skip
        await store.insert_webhook_request(record)
        request = route.calls.last.request
        assert query(request) == []
        assert request.headers["prefer"] == "return=minimal"
        assert request.headers["content-type"] == "application/json"
        sent = body(request)
        assert sent["id"] == record.id and sent["status"] == "pending" and sent["user_id"] == A
        assert sent["created_at"] == "2026-05-15T12:00:00.000000+00:00"
        assert sent["payload"] == {"price": "27000.1"}
        assert sent["signal"] == {"action": "buy", "symbol": "BTCUSDT", "size": {"usd": "100"}}
        assert sent["strategy_id"] is None  # not a uuid: the payload keeps it
        assert sent["webhook_secret"] == "sha256:0123456789ab" and sent["idempotency_key"] == "alert-1"
        assert set(sent) == set(codec.columns(type(record)))

    async def test_duplicate_key_names_the_existing_request(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        api.post("/webhook_requests").mock(return_value=error("unique_violation"))
        lookup = api.get("/webhook_requests").mock(return_value=rows([{"id": REQUEST_ID}]))
        with pytest.raises(DuplicateRequest) as caught:
            await store.insert_webhook_request(make_request(user_id=A, idempotency_key="alert-1"))
        assert caught.value.existing_id == REQUEST_ID
        assert query(lookup.calls.last.request) == [
            ("select", "id"), ("idempotency_key", "eq.alert-1"), ("user_id", f"eq.{A}"), ("limit", "1"),
        ]  # fmt: skip

    async def test_duplicate_key_without_user(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        api.post("/webhook_requests").mock(return_value=error("unique_violation"))
        lookup = api.get("/webhook_requests").mock(return_value=rows([{"id": REQUEST_ID}]))
        with pytest.raises(DuplicateRequest):
            await store.insert_webhook_request(make_request(user_id=None, idempotency_key="k"))
        assert ("user_id", "is.null") in query(lookup.calls.last.request)

    async def test_unknown_strategy_is_recorded_without_it(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        strategy = str(uuid.uuid4())
        route = api.post("/webhook_requests").mock(
            side_effect=[error("foreign_key_violation"), httpx.Response(201)]
        )
        await store.insert_webhook_request(make_request(user_id=A, strategy_id=strategy))
        first, second = (body(c.request) for c in route.calls)
        assert first["strategy_id"] == strategy and second["strategy_id"] is None
        assert {k: v for k, v in first.items() if k != "strategy_id"} == {
            k: v for k, v in second.items() if k != "strategy_id"
        }

    async def test_finish_moves_only_a_pending_row(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.patch("/webhook_requests").mock(return_value=httpx.Response(204))
        await store.finish_webhook_request(
            REQUEST_ID, RequestStatus.SUCCESS, error_message=None, result={"pnl": Decimal("1.5")}, http_status=200
        )
        request = route.calls.last.request
        assert query(request) == [("id", f"eq.{REQUEST_ID}"), ("status", "eq.pending")]
        assert request.headers["prefer"] == "return=minimal"
        sent = body(request)
        assert sent.pop("processed_at").endswith("+00:00")
        assert sent == {"status": "success", "error_message": None, "result": {"pnl": "1.5"}, "http_status": 200}
        with pytest.raises(ValueError):
            await store.finish_webhook_request(REQUEST_ID, RequestStatus.PENDING, error_message=None,
                                               result=None, http_status=None)  # fmt: skip

    async def test_get_webhook_request(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/webhook_requests").mock(return_value=rows([ROWS["webhook_request"]]))
        record = await store.get_webhook_request(REQUEST_ID)
        assert query(route.calls.last.request) == [("select", SELECT_REQUEST), ("id", f"eq.{REQUEST_ID}"), ("limit", "1")]
        assert record is not None and record.status is RequestStatus.SUCCESS
        assert record.created_at == datetime(2026, 5, 15, 12, 0, 0, 123456, tzinfo=UTC)
        assert record.processed_at == datetime(2026, 5, 15, 12, 0, 1, tzinfo=UTC)
        assert record.payload["position_size_usd"] == "100" and record.result == {"success": True, "action": "opened"}
        assert record.lease_owner == "0b7c2f4e9a1d4c6f8e3b5a7d9c1e2f40"
        assert record.lease_expires_at == datetime(2026, 5, 15, 12, 1, tzinfo=UTC)
        route.mock(return_value=rows([]))
        assert await store.get_webhook_request(str(uuid.uuid4())) is None

    async def test_claim_is_one_conditional_update(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.patch("/webhook_requests").mock(return_value=rows([{"id": REQUEST_ID}]))
        now = datetime(2026, 5, 15, 14, 0, tzinfo=timezone(timedelta(hours=2)))
        taken = await store.claim_webhook_request(REQUEST_ID, "server-a", lease_until=now + timedelta(seconds=60),
                                                  now=now)
        assert taken is True
        request = route.calls.last.request
        assert query(request) == [
            ("id", f"eq.{REQUEST_ID}"), ("status", "eq.pending"),
            ("or", '(lease_owner.is.null,lease_owner.eq."server-a",lease_expires_at.is.null,'
                   'lease_expires_at.lte."2026-05-15T12:00:00.000000+00:00")'),
            ("select", "id"),
        ]  # fmt: skip
        assert request.headers["prefer"] == "return=representation"
        assert body(request) == {"lease_owner": "server-a", "lease_expires_at": "2026-05-15T12:01:00.000000+00:00"}
        route.mock(return_value=rows([]))  # another server holds it, or it was finished
        assert await store.claim_webhook_request(REQUEST_ID, "server-a", lease_until=now, now=now) is False

    async def test_renewal_is_one_update_per_batch(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        other = str(uuid.uuid4())
        route = api.patch("/webhook_requests").mock(return_value=rows([{"id": REQUEST_ID}]))
        until = datetime(2026, 5, 15, 12, 1, tzinfo=UTC)
        renewed = await store.renew_webhook_leases([REQUEST_ID, other, "not-a-uuid"], "server-a", lease_until=until)
        assert renewed == {REQUEST_ID}
        request = route.calls.last.request
        assert query(request) == [("id", f"in.({REQUEST_ID},{other})"), ("status", "eq.pending"),
                                  ("lease_owner", "eq.server-a"), ("select", "id")]
        assert body(request) == {"lease_expires_at": "2026-05-15T12:01:00.000000+00:00"}
        assert await store.renew_webhook_leases(["not-a-uuid"], "server-a", lease_until=until) == set()
        assert route.call_count == 1

    async def test_ids_that_are_not_uuids_match_nothing_without_asking(self, store: SupabaseStore,
                                                                       api: respx.MockRouter) -> None:
        assert await store.get_webhook_request("not-a-uuid") is None
        assert await store.claim_webhook_request("not-a-uuid", "server-a", lease_until=T0, now=T0) is False
        await store.finish_webhook_request("x", RequestStatus.FAILED, error_message=None, result=None, http_status=None)
        assert await store.find_strategy(A, strategy_id="my-strategy") is None
        assert not api.calls

    async def test_list_webhook_requests(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/webhook_requests").mock(return_value=rows([ROWS["webhook_request"]]))
        assert [r.id for r in await store.list_webhook_requests(user_id=A, limit=5)] == [REQUEST_ID]
        assert query(route.calls.last.request) == [
            ("select", SELECT_REQUEST), ("user_id", f"eq.{A}"), ("order", "created_at.desc,id.desc"), ("limit", "5"),
        ]  # fmt: skip
        assert await store.list_webhook_requests(limit=0) == []
        assert route.call_count == 1

    async def test_pending_requests_are_read_page_by_page(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        # a server whose max_rows (2) is below the store's page size still gets read to the end
        page = [dict(ROWS["webhook_request"], status="pending", id=str(uuid.uuid4())) for _ in range(3)]
        route = api.get("/webhook_requests").mock(
            side_effect=[rows(page[:2], total=3), rows(page[2:], start=2)]
        )
        assert [r.id for r in await store.pending_webhook_requests()] == [p["id"] for p in page]
        first, second = (c.request for c in route.calls)
        base = [("select", SELECT_REQUEST), ("status", "eq.pending"), ("order", "created_at.asc,id.asc")]
        assert query(first) == [*base, ("offset", "0"), ("limit", "1000")]
        assert first.headers["prefer"] == "count=exact"
        assert query(second) == [*base, ("offset", "2"), ("limit", "1000")]
        assert "prefer" not in second.headers

    async def test_get_position_exact_decimals_and_utc(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/positions").mock(return_value=rows([ROWS["position"]]))
        position = await store.get_position(A, "aster", "BTC USDT&x=1")
        request = route.calls.last.request
        assert query(request) == [
            ("select", codec.SELECT_POSITION), ("user_id", f"eq.{A}"), ("exchange", "eq.aster"),
            ("symbol", "eq.BTC USDT&x=1"), ("limit", "1"),
        ]  # fmt: skip
        assert b"symbol=eq.BTC+USDT%26x%3D1" in request.url.raw_path  # data, not more parameters
        assert "entry_price::text" in codec.SELECT_POSITION.split(",")
        assert position is not None
        assert position.quantity == Decimal("0.000012345678901234567")
        assert str(position.stop_loss_price) == "26000.00" and position.take_profit_price is None
        assert position.entry_time == datetime(2026, 5, 15, 12, 0, 0, 500000, tzinfo=UTC)
        assert position.entry_time.utcoffset() == timedelta(0)

    async def test_list_positions(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/positions").mock(return_value=rows([ROWS["position"]], total=1))
        assert len(await store.list_positions(user_id=A, exchange="aster")) == 1
        assert query(route.calls.last.request) == [
            ("select", codec.SELECT_POSITION), ("user_id", f"eq.{A}"), ("exchange", "eq.aster"),
            ("order", "entry_time.asc,id.asc"), ("offset", "0"), ("limit", "1000"),
        ]  # fmt: skip

    async def test_upsert_position(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/positions").mock(return_value=httpx.Response(201))
        await store.upsert_position(make_position(user_id=A, exchange="aster", id="old", created_at=datetime.now(UTC)))
        request = route.calls.last.request
        assert query(request) == [("on_conflict", "user_id,exchange,symbol")]
        assert request.headers["prefer"] == "return=minimal,resolution=merge-duplicates"
        sent = body(request)
        assert not {"id", "created_at", "updated_at"} & set(sent)  # the database's, kept on update
        assert (sent["entry_price"], sent["quantity"], sent["position_size_usd"]) == ("27000.1", "0.00012345", "3.333027345")
        assert sent["entry_time"] == "2024-03-01T12:00:00.123456+00:00" and sent["strategy_id"] is None

    async def test_a_position_naming_no_strategy_is_saved_without_it(self, store: SupabaseStore,
                                                                      api: respx.MockRouter) -> None:
        strategy = str(uuid.uuid4())
        route = api.post("/positions").mock(side_effect=[error("foreign_key_violation"), httpx.Response(201)])
        await store.upsert_position(make_position(user_id=A, exchange="aster", strategy_id=strategy))
        assert [body(c.request)["strategy_id"] for c in route.calls] == [strategy, None]
        route.mock(side_effect=None, return_value=error("foreign_key_violation"))  # the user, then
        with pytest.raises(StoreUnavailable, match="23503"):
            await store.upsert_position(make_position(user_id=A, exchange="aster", strategy_id=None))

    async def test_delete_position(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.delete("/positions").mock(return_value=httpx.Response(204))
        await store.delete_position(A, "aster", "BTCUSDT")
        request = route.calls.last.request
        assert query(request) == [("user_id", f"eq.{A}"), ("exchange", "eq.aster"), ("symbol", "eq.BTCUSDT")]
        assert request.headers["prefer"] == "return=minimal"

    async def test_put_resting_entry_replaces_the_keys_entry(self, store: SupabaseStore,
                                                             api: respx.MockRouter) -> None:
        route = api.post("/resting_entries").mock(return_value=httpx.Response(201))
        await store.put_resting_entry(make_resting_entry(user_id=A, id="old"))
        request = route.calls.last.request
        assert query(request) == [("on_conflict", "user_id,exchange,symbol")]
        assert request.headers["prefer"] == "return=minimal,resolution=merge-duplicates"
        sent = body(request)
        assert "id" not in sent  # the database's, kept when a new entry replaces the old one
        assert (sent["limit_price"], sent["quantity"], sent["take_profit_price"]) == (
            "26000.1", "0.00012345", "27040.000000001")
        assert (sent["client_order_id"], sent["order_id"]) == ("sp0123456789abcdef01234567-e", "o-limit")
        assert sent["created_at"] == "2024-03-01T12:00:00.123456+00:00" and sent["strategy_id"] is None

    async def test_get_and_list_resting_entries(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/resting_entries").mock(return_value=rows([], total=0))
        assert await store.get_resting_entry(A, "paper", "BTCUSDT") is None
        assert query(route.calls.last.request) == [
            ("select", codec.SELECT_RESTING), ("user_id", f"eq.{A}"), ("exchange", "eq.paper"),
            ("symbol", "eq.BTCUSDT"), ("limit", "1"),
        ]  # fmt: skip
        assert "limit_price::text" in codec.SELECT_RESTING.split(",")
        assert await store.list_resting_entries(user_id=A, exchange="paper") == []
        assert query(route.calls.last.request) == [
            ("select", codec.SELECT_RESTING), ("user_id", f"eq.{A}"), ("exchange", "eq.paper"),
            ("order", "created_at.asc,id.asc"), ("offset", "0"), ("limit", "1000"),
        ]  # fmt: skip

    async def test_delete_resting_entry_names_its_client_id(self, store: SupabaseStore,
                                                            api: respx.MockRouter) -> None:
        route = api.delete("/resting_entries").mock(return_value=httpx.Response(204))
        await store.delete_resting_entry(make_resting_entry(user_id=A))
        request = route.calls.last.request
        assert query(request) == [("user_id", f"eq.{A}"), ("exchange", "eq.paper"), ("symbol", "eq.BTCUSDT"),
                                  ("client_order_id", "eq.sp0123456789abcdef01234567-e")]
        assert request.headers["prefer"] == "return=minimal"

    async def test_record_close_is_one_rpc(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/rpc/record_close").mock(return_value=httpx.Response(204))
        strategy = str(uuid.uuid4())
        await store.record_close(make_trade(user_id=A, exchange="aster", strategy_id=strategy))
        sent = body(route.calls.last.request)
        assert set(sent) == {"p_trade"}
        trade = sent["p_trade"]
        uuid.UUID(trade["id"])  # made here: a retry is recognised by it
        assert trade["created_at"].endswith("+00:00") and trade["strategy_id"] == strategy
        assert (trade["pnl_usd"], trade["is_winner"], trade["exit_reason"]) == ("0.0617435175", True, "TAKE_PROFIT")
        assert route.calls.last.request.url.params == httpx.QueryParams()

    async def test_a_cycles_price_marks_are_one_rpc(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/rpc/mark_positions").mock(return_value=httpx.Response(200, json=1))
        held = make_position(user_id=A, exchange="aster", id=str(uuid.uuid4()))
        at = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=2)))
        marks = [store_contract.price_mark(held, Decimal("27500.5"), Decimal("0.06"), Decimal("1.85"), at),
                 store_contract.price_mark(replace(held, id="not-a-uuid"), Decimal(1), Decimal(1), Decimal(1), at)]
        assert await store.mark_positions(marks) == 1
        [sent] = body(route.calls.last.request)["p_marks"]  # a row whose id is no uuid cannot exist there
        assert sent == {"id": held.id, "user_id": A, "exchange": "aster", "symbol": "BTCUSDT", "side": "BUY",
                        "quantity": "0.00012345", "entry_price": "27000.1", "current_price": "27500.5",
                        "unrealized_pnl_usd": "0.06", "unrealized_pnl_percent": "1.85",
                        "last_price_update": "2026-03-02T07:30:00.000000+00:00"}
        assert await store.mark_positions([]) == 0 and route.call_count == 1  # nothing to write: no request

    async def test_record_partial_close_is_one_rpc(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/rpc/record_partial_close").mock(return_value=httpx.Response(204))
        rest = make_position(user_id=A, exchange="aster", quantity=Decimal("0.6"), fees_usd=Decimal("0.12"))
        await store.record_partial_close(make_trade(user_id=A, exchange="aster", fees_usd=Decimal("0.0825")), rest)
        sent = body(route.calls.last.request)
        assert set(sent) == {"p_trade", "p_position"}
        uuid.UUID(sent["p_trade"]["id"])  # made here: a retry is recognised by it
        assert (sent["p_trade"]["fees_usd"], sent["p_trade"]["strategy_id"]) == ("0.0825", None)
        assert (sent["p_position"]["quantity"], sent["p_position"]["fees_usd"]) == ("0.6", "0.12")
        assert not {"id", "created_at", "updated_at"} & set(sent["p_position"])  # the database's own

    async def test_list_trades(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/trades").mock(return_value=rows(ROWS["trades"]))
        simulated = api.get("/paper_trades").mock(return_value=rows([]))  # the paper venue's (0020)
        (trade,) = await store.list_trades(user_id=A, symbol="ETHUSDT", limit=2)
        for read in (route, simulated):
            assert query(read.calls.last.request) == [
                ("select", codec.SELECT_TRADE), ("user_id", f"eq.{A}"), ("symbol", "eq.ETHUSDT"),
                ("order", "exit_time.desc,created_at.desc,id.desc"), ("limit", "2"),
            ]  # fmt: skip
        assert trade.pnl_usd == Decimal("24.75") and trade.is_winner is True
        assert await store.list_trades(limit=0) == [] and route.call_count == 1
        with pytest.raises(ValueError):
            await store.list_trades(limit=-1)

    # tenants

    async def test_webhook_secret_owners(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/bot_credentials").mock(return_value=rows(ROWS["webhook_secrets"], total=2))
        assert await store.webhook_secret_owners() == {
            secret_digest("dashboard-plain-secret"): A,
            secret_digest("user-added-secret"): B,
        }
        request = route.calls.last.request
        assert query(request) == [
            ("select", "user_id,webhook_secret"), ("exchange", "eq.webhook"), ("environment", "eq.production"),
            ("webhook_secret", "not.is.null"), ("order", "id.asc"), ("offset", "0"), ("limit", "1000"),
        ]  # fmt: skip
        assert request.headers["prefer"] == "count=exact"

    async def test_find_webhook_secret_owner(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/rpc/find_webhook_secret_owners").mock(
            return_value=httpx.Response(200, json=RPC["find_webhook_secret_owners"])
        )
        assert await store.find_webhook_secret_owner("dashboard-plain-secret") == A
        request = route.calls.last.request
        assert query(request) == [] and body(request) == {"p_secret": "dashboard-plain-secret"}
        route.mock(return_value=httpx.Response(200, json=[]))
        assert await store.find_webhook_secret_owner("not-a-secret-of-anyone") is None
        assert await store.find_webhook_secret_owner("") is None and route.call_count == 2

    async def test_a_secret_two_users_hold_proves_no_one(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        api.post("/rpc/find_webhook_secret_owners").mock(
            return_value=httpx.Response(200, json=[{"user_id": A}, {"user_id": B}])
        )
        assert await store.find_webhook_secret_owner("shared") is None

    @pytest.mark.parametrize("secret", ["dashboard-plain-secret", 'a,b.c:d(e)f"g\\h&i=j k', "é-ü-secret"])
    async def test_a_secret_never_travels_in_a_url(self, store: SupabaseStore, api: respx.MockRouter,
                                                   secret: str) -> None:
        """Request logs (Supabase's among them) keep URLs: the plain secret goes in a POST body."""
        rpc = api.post("/rpc/find_webhook_secret_owners").mock(return_value=httpx.Response(200, json=[]))
        api.get("/bot_credentials").mock(return_value=rows([]))
        assert await store.find_webhook_secret_owner(secret) is None
        rpc.mock(return_value=error("function_not_found"))  # a database without migrations/0016
        assert await store.find_webhook_secret_owner(secret) is None
        for call in api.calls:
            url = str(call.request.url)
            for spelling in (secret, quote(secret), quote_plus(secret), quote(secret, safe="")):
                assert spelling not in url and spelling not in unquote_plus(url), url
        assert api.calls.call_count == 3
        assert body(rpc.calls.last.request) == {"p_secret": secret}

    async def test_without_the_function_only_digests_are_looked_up(self, store: SupabaseStore,
                                                                  api: respx.MockRouter) -> None:
        api.post("/rpc/find_webhook_secret_owners").mock(return_value=error("function_not_found"))
        route = api.get("/bot_credentials").mock(return_value=rows([{"user_id": B}]))
        assert await store.find_webhook_secret_owner("user-added-secret") == B
        assert query(route.calls.last.request) == [
            ("select", "user_id"), ("exchange", "eq.webhook"), ("environment", "eq.production"),
            ("webhook_secret", f"eq.{secret_digest('user-added-secret')}"), ("limit", "10"),
        ]  # fmt: skip

    async def test_get_credentials(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/bot_credentials").mock(return_value=rows([ROWS["credentials"]]))
        record = await store.get_credentials(A, "aster")
        assert query(route.calls.last.request) == [
            ("select", codec.SELECT_CREDENTIAL), ("user_id", f"eq.{A}"), ("exchange", "eq.aster"),
            ("environment", "eq.production"), ("limit", "1"),
        ]  # fmt: skip
        assert record is not None and (record.api_key, record.api_secret) == ("aster-key", "aster-secret")
        assert record.extra_metadata == {"leverage": 5} and record.created_at == datetime(2026, 5, 1, 8, tzinfo=UTC)

    async def test_upsert_credentials(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/bot_credentials").mock(return_value=httpx.Response(201))
        await store.upsert_credentials(CredentialRecord(user_id=A, exchange="aster", api_key="k", id="x"))
        request = route.calls.last.request
        assert query(request) == [("on_conflict", "user_id,exchange,environment")]
        assert request.headers["prefer"] == "return=minimal,resolution=merge-duplicates"
        sent = body(request)
        assert sent["label"] == "aster" and sent["environment"] == "production" and sent["extra_metadata"] == {}
        assert not {"id", "created_at", "updated_at"} & set(sent)

    async def test_subscription_plan_by_rpc(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/rpc/get_user_subscription_plan_safe").mock(
            return_value=httpx.Response(200, json=RPC["get_user_subscription_plan_safe"])
        )
        assert await store.subscription_plan(A) == "Premium"  # known names in canonical case
        assert body(route.calls.last.request) == {"p_user_id": A}

    async def test_subscription_plan_without_the_rpc(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        api.post("/rpc/get_user_subscription_plan_safe").mock(return_value=error("function_not_found"))
        route = api.get("/subscriptions").mock(return_value=rows([{"plan": "Basic"}]))
        assert await store.subscription_plan(A) == "Basic"
        assert query(route.calls.last.request) == [
            ("select", "plan"), ("user_id", f"eq.{A}"), ("status", "eq.active"),
            ("order", "created_at.desc"), ("limit", "1"),
        ]  # fmt: skip
        route.mock(return_value=rows([]))
        assert await store.subscription_plan(A) == "Free"

    async def test_plan_limits_are_published_by_rpc(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/rpc/sparky_publish_plan_limits").mock(return_value=httpx.Response(204))
        await store.publish_plan_limits({"Free": 3, "Basic": 100, "Pro": None})
        assert body(route.calls.last.request) == {"p_limits": {"Free": 3, "Basic": 100, "Pro": None}}

    async def test_quota_rpc_records(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/rpc/record_webhook_request").mock(
            return_value=httpx.Response(200, json=RPC["record_webhook_request_recorded"])
        )
        record = make_request(user_id=A, strategy_id="strategy-1")
        assert await store.record_counted_webhook_request(record, monthly_limit=5) == 4
        sent = body(route.calls.last.request)
        assert sent["p_monthly_limit"] == 5 and sent["p_row"]["id"] == record.id
        assert sent["p_row"]["strategy_id"] is None and sent["p_row"]["status"] == "pending"
        await store.record_counted_webhook_request(record, monthly_limit=None)
        assert body(route.calls.last.request)["p_monthly_limit"] is None

    async def test_quota_rpc_refuses(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        api.post("/rpc/record_webhook_request").mock(
            return_value=httpx.Response(200, json=RPC["record_webhook_request_quota_exceeded"])
        )
        with pytest.raises(QuotaExceeded) as caught:
            await store.record_counted_webhook_request(make_request(user_id=A), monthly_limit=5)
        assert (caught.value.current, caught.value.limit) == (5, 5)

    async def test_quota_rpc_duplicates(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.post("/rpc/record_webhook_request").mock(
            return_value=httpx.Response(200, json=RPC["record_webhook_request_duplicate"])
        )
        with pytest.raises(DuplicateRequest) as caught:
            await store.record_counted_webhook_request(make_request(user_id=A, idempotency_key="a"), monthly_limit=5)
        assert caught.value.existing_id == REQUEST_ID
        # a unique violation raised inside the function is translated like the insert's
        route.mock(return_value=error("unique_violation"))
        api.get("/webhook_requests").mock(return_value=rows([{"id": REQUEST_ID}]))
        with pytest.raises(DuplicateRequest):
            await store.record_counted_webhook_request(make_request(user_id=A, idempotency_key="a"), monthly_limit=5)

    async def test_month_request_count_leaves_out_the_refusals(self, store: SupabaseStore,
                                                              api: respx.MockRouter) -> None:
        route = api.head("/webhook_requests").mock(return_value=httpx.Response(200, headers={"Content-Range": "*/3"}))
        assert await store.month_request_count(A, datetime(2026, 5, 31, 23, tzinfo=timezone(timedelta(hours=-4)))) == 3
        assert query(route.calls.last.request) == [
            ("select", "id"), ("user_id", f"eq.{A}"), ("created_at", "gte.2026-06-01T00:00:00.000000+00:00"),
            ("created_at", "lt.2026-07-01T00:00:00.000000+00:00"),
            ("status", "not.in.(rejected,duplicate,rate_limited)"),
        ]  # fmt: skip
        assert route.calls.last.request.headers["prefer"] == "count=exact"

    async def test_trade_settings(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        get = api.get("/trade_settings_exchange").mock(return_value=rows([ROWS["trade_settings"]]))
        settings = await store.get_trade_settings(A, "aster")
        assert query(get.calls.last.request) == [
            ("select", codec.SELECT_SETTINGS), ("user_id", f"eq.{A}"), ("exchange", "eq.aster"), ("limit", "1"),
        ]  # fmt: skip
        assert settings == TradeSettings(
            user_id=A, exchange="aster", trading_hours_preset="custom", trading_window=["13:30", "20:00"],
            max_trades_per_week=12, max_loss_per_week_usd=Decimal("250.75"), allow_weekends=True,
            max_signal_age_sec=30, auto_close_outside_window=False, strike_tolerance_percent=Decimal("0.5"),
            id=ROWS["trade_settings"]["id"],
        )  # fmt: skip  (NULL columns were never set: they stay None and limit nothing)
        assert settings.max_open_positions is None and settings.entry_limit_offset_percent is None
        put = api.post("/trade_settings_exchange").mock(return_value=httpx.Response(201))
        await store.upsert_trade_settings(settings)
        assert query(put.calls.last.request) == [("on_conflict", "user_id,exchange")]
        sent = body(put.calls.last.request)
        assert sent["max_loss_per_week_usd"] == "250.75" and "id" not in sent
        # what was not set is written as NULL, not as a column default that would then be enforced
        assert sent["max_open_positions"] is None and sent["entry_limit_offset_percent"] is None

    async def test_weekly_trade_stats(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        count = api.head("/trades").mock(return_value=httpx.Response(200, headers={"Content-Range": "0-3/4"}))
        still_open = api.head("/positions").mock(return_value=httpx.Response(200, headers={"Content-Range": "0-0/1"}))
        losses = api.get("/trades").mock(
            return_value=rows([{"pnl_usd": "-1.1"}, {"pnl_usd": "-2.200000001"}], total=2)
        )
        monday = datetime(2026, 5, 11, tzinfo=UTC)
        assert await store.weekly_trade_stats(A, "aster", monday) == WeeklyTradeStats(5, Decimal("3.300000001"))
        since = "2026-05-11T00:00:00.000000+00:00"
        for head in (count.calls.last.request, still_open.calls.last.request):
            assert query(head) == [("select", "id"), ("user_id", f"eq.{A}"), ("exchange", "eq.aster"),
                                   ("entry_time", f"gte.{since}")]  # fmt: skip
            assert head.headers["prefer"] == "count=exact"
        assert query(losses.calls.last.request) == [
            ("select", "pnl_usd::text"), ("user_id", f"eq.{A}"), ("exchange", "eq.aster"),
            ("exit_time", f"gte.{since}"), ("pnl_usd", "lt.0"), ("order", "id.asc"), ("offset", "0"), ("limit", "1000"),
        ]  # fmt: skip

    async def test_count_open_positions(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.head("/positions").mock(return_value=httpx.Response(200, headers={"Content-Range": "*/0"}))
        assert await store.count_open_positions(A, "oanda") == 0
        assert query(route.calls.last.request) == [("select", "id"), ("user_id", f"eq.{A}"), ("exchange", "eq.oanda")]
        route.mock(return_value=httpx.Response(200, headers={"Content-Range": "0-2/3"}))
        simulated = api.head("/paper_positions").mock(
            return_value=httpx.Response(200, headers={"Content-Range": "0-0/1"}))
        assert await store.count_open_positions(A) == 4  # every venue's: live and paper
        for head in (route, simulated):
            assert query(head.calls.last.request) == [("select", "id"), ("user_id", f"eq.{A}")]

    async def test_find_strategy(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/strategies").mock(return_value=rows(ROWS["strategies"]))
        found = await store.find_strategy(A, name="Trend Follower")
        assert found is not None and found.id == ROWS["strategies"][1]["id"]  # the exact case wins
        assert found.take_profit_percent == Decimal("7.25") and found.order_config["entry"] == "limit"
        assert query(route.calls.last.request) == [
            ("select", codec.SELECT_STRATEGY), ("user_id", f"eq.{A}"), ("name", "ilike.Trend Follower"),
            ("order", "created_at.desc.nullslast,id.asc"), ("limit", "100"),
        ]  # fmt: skip
        await store.find_strategy(A, name="50%_off\\")
        assert dict(query(route.calls.last.request))["name"] == "ilike.50\\%\\_off\\\\"
        with pytest.raises(ValueError):
            await store.find_strategy(A)

    async def test_upsert_strategy_updates_the_users_row_or_inserts(self, store: SupabaseStore,
                                                                    api: respx.MockRouter) -> None:
        row = ROWS["strategies"][1]
        patch = api.patch("/strategies").mock(side_effect=[rows([]), rows([row])])
        insert = api.post("/strategies").mock(return_value=httpx.Response(201, json=[row]))
        strategy = StrategyRecord(user_id=A, name="Trend Follower", status="active", id=row["id"],
                                  take_profit_percent=Decimal("7.25"))  # fmt: skip
        assert (await store.upsert_strategy(strategy)).id == row["id"]  # no row of A's: insert
        request = patch.calls.last.request
        assert query(request) == [("id", f"eq.{row['id']}"), ("user_id", f"eq.{A}"), ("select", codec.SELECT_STRATEGY)]
        assert request.headers["prefer"] == "return=representation"
        assert body(request)["take_profit_percent"] == "7.25" and "id" not in body(request)
        assert body(insert.calls.last.request)["id"] == row["id"]
        assert ("select", codec.SELECT_STRATEGY) in query(insert.calls.last.request)
        assert (await store.upsert_strategy(strategy)).take_profit_percent == Decimal("7.25")  # updated
        assert insert.call_count == 1

    async def test_notification_preferences(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/notification_preferences").mock(return_value=rows([ROWS["notification_preferences"]]))
        prefs = await store.notification_preferences(A)
        assert query(route.calls.last.request) == [("select", "*"), ("user_id", f"eq.{A}"), ("limit", "1")]
        assert prefs["notify_position_closed_profit"] is False and prefs["notify_trade_success"] is True
        assert "notify_webhook_limit_warning" not in prefs and "user_id" not in prefs  # NULL: the default
        route.mock(return_value=rows([]))
        assert await store.notification_preferences(B) == {}

    async def test_notifications(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        insert = api.post("/notifications").mock(return_value=httpx.Response(201))
        await store.insert_notification(NotificationRecord(A, "trade", "t", "m", {"pnl": Decimal("1.5")}))
        assert body(insert.calls.last.request) == {
            "user_id": A, "type": "trade", "title": "t", "message": "m", "metadata": {"pnl": "1.5"}, "read": False,
        }  # fmt: skip
        listing = api.get("/notifications").mock(return_value=rows(ROWS["notifications"]))
        (note,) = await store.list_notifications(A, limit=3)
        assert query(listing.calls.last.request) == [
            ("select", codec.SELECT_NOTIFICATION), ("user_id", f"eq.{A}"),
            ("order", "created_at.desc.nullslast,id.desc"), ("limit", "3"),
        ]  # fmt: skip
        assert note.read is False and note.metadata == {"pnl": "1.5"}  # NULL read: unread

    async def test_local_users_are_the_dashboards(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        with pytest.raises(NotImplementedError, match="dashboard"):
            await store.add_local_user(LocalUser(id=A, email=None, plan="Free"))
        with pytest.raises(NotImplementedError, match="dashboard"):
            await store.set_plan(A, "Pro")
        with pytest.raises(NotImplementedError, match="dashboard"):
            await store.list_local_users()
        assert not api.calls


# -- errors --------------------------------------------------------------------------------------


class TestErrors:
    async def test_503_is_store_unavailable_at_once(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/positions").mock(return_value=error("database_unavailable"))
        with pytest.raises(StoreUnavailable, match="PGRST001") as caught:
            await store.get_position(A, "aster", "BTCUSDT")
        assert route.call_count == 1  # supabase-py's GET retries (1 + 2 + 4 s of sleep) are off
        assert "db.internal" not in str(caught.value)  # PostgREST's details stay out

    async def test_a_gateway_page_is_store_unavailable(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        api.post("/webhook_requests").mock(return_value=httpx.Response(502, text="<html>Bad gateway</html>"))
        with pytest.raises(StoreUnavailable) as caught:
            await store.insert_webhook_request(make_request())
        assert getattr(caught.value, "code", None) == "502"

    @pytest.mark.parametrize("failure", [httpx.ConnectError("[Errno 111] Connection refused"),
                                         httpx.ReadTimeout("timed out"), httpx.RemoteProtocolError("closed")])
    async def test_transport_failures_are_store_unavailable(self, store: SupabaseStore, api: respx.MockRouter,
                                                            failure: Exception) -> None:
        api.post("/rpc/record_webhook_request").mock(side_effect=failure)
        with pytest.raises(StoreUnavailable):
            await store.record_counted_webhook_request(make_request(), monthly_limit=5)
        api.get("/webhook_requests").mock(side_effect=failure)
        assert await store.ping() is False

    async def test_no_key_secret_or_failing_row_in_errors(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        api.post("/bot_credentials").mock(return_value=error("not_null_violation"))
        with pytest.raises(StoreUnavailable) as caught:
            await store.upsert_credentials(CredentialRecord(A, "aster", api_key="aster-key", api_secret="aster-secret"))
        text = f"{caught.value} {caught.value!r} {caught.value.__cause__!r} {caught.value.__context__!r}"
        assert "23502" in text and "aster-secret" not in text and "aster-key" not in text and KEY not in text
        assert caught.value.__cause__ is None

        secret = "dashboard-plain-secret"
        api.post("/rpc/find_webhook_secret_owners").mock(return_value=httpx.Response(400, json={
            "code": "22P02", "message": f'invalid input syntax for type uuid: "{secret}"', "details": None,
            "hint": None}))  # fmt: skip
        with pytest.raises(StoreUnavailable) as caught:
            await store.find_webhook_secret_owner(secret)
        assert "22P02" in str(caught.value) and secret not in str(caught.value)

        api.get("/positions").mock(return_value=error("invalid_jwt"))
        with pytest.raises(StoreUnavailable, match="PGRST301") as caught:
            await store.list_positions()
        assert KEY not in str(caught.value) and KEY not in repr(store)

    async def test_ping(self, store: SupabaseStore, api: respx.MockRouter) -> None:
        route = api.get("/webhook_requests").mock(return_value=rows([]))
        assert await store.ping() is True
        assert query(route.calls.last.request) == [("select", "id"), ("limit", "1")]
        route.mock(return_value=error("database_unavailable"))
        assert await store.ping() is False

    async def test_closed_store_is_unavailable(self, api: respx.MockRouter) -> None:
        store = SupabaseStore(URL, KEY)
        assert await store.ping() is False
        with pytest.raises(StoreUnavailable):
            await store.get_webhook_request(REQUEST_ID)
        await store.open()
        await store.aclose()
        with pytest.raises(StoreUnavailable):
            await store.list_trades()
        assert not api.calls

    def test_bad_settings_are_refused_up_front(self) -> None:
        with pytest.raises(ValueError):
            SupabaseStore("sparky-test.supabase.co", KEY)
        with pytest.raises(ValueError):
            SupabaseStore(URL, "")


# -- the shared contracts, on an in-memory PostgREST ---------------------------------------------


#: numeric and timestamptz columns of the tables the fake serves
NUMERIC = codec.NUMERIC
TIMES = codec.TIMES
UNIQUE: dict[str, list[tuple[str, ...]]] = {
    "webhook_requests": [("id",), ("user_id", "idempotency_key")],
    "positions": [("id",), ("user_id", "exchange", "symbol")],
    "resting_entries": [("id",), ("user_id", "exchange", "symbol")],
    "trades": [("id",)],
    "paper_positions": [("id",), ("user_id", "exchange", "symbol")],
    "paper_trades": [("id",)],
    "bot_credentials": [("id",), ("user_id", "exchange", "environment")],
    "trade_settings_exchange": [("id",), ("user_id", "exchange")],
    "strategies": [("id",)],
    "notifications": [("id",)],
    "notification_preferences": [("id",), ("user_id",)],
    "subscriptions": [("id",), ("user_id",)],
    "ai_strategies": [("id",)],
    "ai_trade_decisions": [("id",)],
    "ai_trade_log": [("id",)],
    "ai_worker_heartbeats": [("worker_id",)],
    "strategy_validation_log": [("id",)],
    "tradier_option_trades": [("id",)],
}
#: (table, column) -> the table its values must name (foreign keys the store relies on)
REFERENCES = {("ai_trade_decisions", "strategy_id"): "ai_strategies", ("ai_trade_log", "ai_strategy_id"): "ai_strategies"}
DEFAULTS: dict[str, dict[str, Any]] = {
    "bot_credentials": {"environment": "production", "extra_metadata": {}},
    "notifications": {"read": False, "metadata": {}},
    "strategies": {"status": "inactive", "order_config": {}},
    "webhook_requests": {"status": "pending"},
    # migrations/0002
    "ai_strategies": {
        "name": "My AI Strategy", "status": "paused", "risk_profile": "balanced",
        "target_assets": ["BTCUSDT", "ETHUSDT", "SOLUSDT"], "max_drawdown_percent": Decimal(20),
        "target_sharpe": Decimal("1.6"), "leverage_max": 10, "performance_fee_percent": Decimal(20),
        "is_prop_allocation": False, "is_paper_trading": False, "copy_override_percent": Decimal(15),
        "is_public_leader": False, "verified_badge": False, "copiers_count": 0,
    },
    "ai_trade_decisions": {"portfolio_state": {}, "model_versions": ["llama-3.1-70b"], "signal_sent": False},
    "tradier_option_trades": {"status": "pending_entry", "contract_size": 100, "config_snapshot": {},
                              "extra_metadata": {}},
}
RESERVED = {"select", "order", "limit", "offset", "on_conflict", "columns"}
#: the strategy the Store contract's rows name ("strategy-1"): on Supabase strategy ids are uuids
STRATEGY = "7e1f0c52-95a7-4e4b-9d0b-2f5f3c2d8a61"


def _split(text: str) -> list[str]:
    """Split a logic tree's items on commas outside double quotes (backslash escapes inside)."""
    parts: list[str] = []
    current, quoted, escaped = "", False, False
    for char in text:
        if escaped:
            current, escaped = current + char, False
        elif char == "\\" and quoted:
            current, escaped = current + char, True
        elif char == '"':
            current, quoted = current + char, not quoted
        elif char == "," and not quoted:
            parts, current = [*parts, current], ""
        else:
            current += char
    return [*parts, current]


def counts(status: str) -> bool:
    """Counted against the monthly quota, as migrations/0015 counts (every status but the refusals)."""
    return status not in ("rejected", "duplicate", "rate_limited")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def _like(pattern: str) -> re.Pattern[str]:
    out, chars = "", iter(pattern.replace("*", "%"))
    for char in chars:
        if char == "\\":
            out += re.escape(next(chars, ""))
        else:
            out += ".*" if char == "%" else "." if char == "_" else re.escape(char)
    return re.compile(out, re.IGNORECASE | re.DOTALL)


class FakePostgrest:
    """The PostgREST subset SupabaseStore uses, over dict rows, with PostgreSQL's types emulated
    where the store depends on them (numeric, timestamptz, NULL ordering, unique keys)."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {name: [] for name in UNIQUE}
        self.tables["strategies"].append({"id": STRATEGY, "user_id": "user-1", "name": "s"})
        #: sparky_plan_limits as migration 0009 seeds it
        self.plan_limits: dict[str, int | None] = dict(DEFAULT_PLAN_LIMITS)

    # values

    @staticmethod
    def _load(column: str, value: Any) -> Any:
        if value is None:
            return None
        if column in TIMES:
            return codec.decode_time(value)
        if column in NUMERIC:
            return Decimal(str(value))
        return json.loads(json.dumps(value))

    @staticmethod
    def _render(value: Any, cast: str | None) -> Any:
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return format(value, "f") if cast == "text" else float(value)
        return value

    def _project(self, row: dict[str, Any], select: str) -> dict[str, Any]:
        if select == "*":
            return {k: self._render(v, None) for k, v in row.items()}
        out = {}
        for item in select.split(","):
            column, _, cast = item.partition("::")
            out[column] = self._render(row.get(column), cast or None)
        return out

    # filters

    def _test(self, row: dict[str, Any], column: str, expression: str) -> bool:
        negate = expression.startswith("not.")
        op, _, operand = expression.removeprefix("not.").partition(".")
        value = row.get(column)
        if op == "is":
            result = value is None if operand == "null" else value is (operand == "true")
        elif value is None:
            return False  # NULL compares to nothing
        elif op == "ilike":
            result = bool(_like(operand).fullmatch(str(value)))
        elif op == "in":
            result = value in {self._load(column, _unquote(v)) for v in _split(operand[1:-1])}
        else:
            other = self._load(column, operand)
            result = {"eq": value == other, "neq": value != other, "gt": value > other,
                      "gte": value >= other, "lt": value < other, "lte": value <= other}[op]  # fmt: skip
        return result != negate

    def _matches(self, row: dict[str, Any], params: httpx.QueryParams) -> bool:
        for key, value in params.multi_items():
            if key in RESERVED:
                continue
            if key == "or":
                terms = (item.split(".", 2) for item in _split(value[1:-1]))
                if not any(self._test(row, c, f"{op}.{_unquote(v)}") for c, op, v in terms):
                    return False
            elif not self._test(row, key, value):
                return False
        return True

    @staticmethod
    def _order(rows: list[dict[str, Any]], order: str | None) -> list[dict[str, Any]]:
        terms = [term.split(".") for term in order.split(",")] if order else []

        def compare(a: dict[str, Any], b: dict[str, Any]) -> int:
            for column, *flags in terms:
                desc = "desc" in flags
                nulls_first = "nullsfirst" in flags or (desc and "nullslast" not in flags)
                x, y = a.get(column), b.get(column)
                if x == y:
                    continue
                if x is None or y is None:
                    return (-1 if x is None else 1) * (1 if nulls_first else -1)
                return (-1 if x < y else 1) * (-1 if desc else 1)
            return 0

        return sorted(rows, key=functools.cmp_to_key(compare))

    # writes

    def _conflict(self, table: str, row: dict[str, Any], skip: dict[str, Any] | None = None) -> bool:
        for key in UNIQUE[table]:
            values = tuple(row.get(c) for c in key)
            if key == ("user_id", "idempotency_key"):
                if row.get("idempotency_key") is None:
                    continue  # partial index, NULLS NOT DISTINCT for user_id
            elif None in values:
                continue
            if any(r is not skip and tuple(r.get(c) for c in key) == values for r in self.tables[table]):
                return True
        return False

    def _insert(self, table: str, body: dict[str, Any]) -> dict[str, Any] | httpx.Response:
        now = datetime.now(UTC)
        row = {"id": str(uuid.uuid4()), "created_at": now, "updated_at": now, **DEFAULTS.get(table, {})}
        row.update({k: self._load(k, v) for k, v in body.items()})
        if table == "trade_settings_exchange":
            row.pop("created_at"), row.pop("updated_at")
        if table == "ai_trade_decisions":  # decided_at defaults to now(); outcome_label is generated
            row.setdefault("decided_at", now)
            pnl = row.get("pnl_1h")
            row["outcome_label"] = "positive" if pnl and pnl > 0 else "negative" if pnl and pnl < 0 else "neutral"
        for (referring, column), referenced in REFERENCES.items():
            named = row.get(column) if table == referring else None
            if named is not None and not any(r["id"] == named for r in self.tables[referenced]):
                return error("foreign_key_violation")
        if self._conflict(table, row):
            return error("unique_violation")
        self.tables[table].append(row)
        return row

    def _update(self, table: str, row: dict[str, Any], body: dict[str, Any]) -> httpx.Response | None:
        changed = {**row, **{k: self._load(k, v) for k, v in body.items()}}
        if "updated_at" in row:
            changed["updated_at"] = datetime.now(UTC)  # the trigger
        if self._conflict(table, changed, skip=row):
            return error("unique_violation")
        row.update(changed)
        return None

    # the HTTP side

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert_keyed(request)
        path = request.url.path.removeprefix("/rest/v1/")
        if path.startswith("rpc/"):
            return self._rpc(path[4:], body(request))
        table, params, prefer = path, request.url.params, request.headers.get("prefer", "")
        select = params.get("select", "*")
        if request.method == "POST":
            return self._post(table, body(request), params, prefer, select)
        found = [r for r in self.tables[table] if self._matches(r, params)]
        if request.method == "PATCH":
            for row in found:
                if (failure := self._update(table, row, body(request))) is not None:
                    return failure
        if request.method == "DELETE":
            self.tables[table] = [r for r in self.tables[table] if r not in found]
        if request.method in ("PATCH", "DELETE"):
            if "return=representation" not in prefer:
                return httpx.Response(204)
            return httpx.Response(200, json=[self._project(r, select) for r in found])
        found = self._order(found, params.get("order"))
        start = int(params.get("offset", 0))
        page = found[start:start + int(params["limit"])] if "limit" in params else found[start:]
        reply = rows([self._project(r, select) for r in page], total=len(found) if "count=exact" in prefer else None,
                     start=start)  # fmt: skip
        return httpx.Response(200, headers=reply.headers) if request.method == "HEAD" else reply

    def _post(self, table: str, data: Any, params: httpx.QueryParams, prefer: str, select: str) -> httpx.Response:
        assert isinstance(data, dict), "the store writes one row per request"
        if "resolution=merge-duplicates" in prefer:
            key = params["on_conflict"].split(",")
            for row in self.tables[table]:
                if all(row.get(c) == self._load(c, data.get(c)) for c in key):
                    failure = self._update(table, row, data)
                    return failure or self._written([row], prefer, select, 200)
        written = self._insert(table, data)
        if isinstance(written, httpx.Response):
            return written
        return self._written([written], prefer, select, 201)

    def _written(self, rows_: list[dict[str, Any]], prefer: str, select: str, status: int) -> httpx.Response:
        if "return=representation" not in prefer:
            return httpx.Response(status)
        return httpx.Response(status, json=[self._project(r, select) for r in rows_])

    # migrations/0006-0019, re-enacted

    def _rpc(self, name: str, args: dict[str, Any]) -> httpx.Response:
        # record_paper_close / record_paper_partial_close (0020): the same on the paper tables
        prefix = "paper_" if name.startswith("record_paper_") else ""
        trades, positions = f"{prefix}trades", f"{prefix}positions"
        if name in ("record_close", "record_paper_close"):
            trade = args["p_trade"]
            if any(t["id"] == trade["id"] for t in self.tables[trades]):
                return httpx.Response(204)
            if not any(s["id"] == trade.get("strategy_id") for s in self.tables["strategies"]):
                trade = {**trade, "strategy_id": None}
            self._insert(trades, trade)
            self._count_on_strategy(trade)
            key = {"user_id": trade["user_id"], "exchange": trade["exchange"], "symbol": trade["symbol"]}
            self.tables[positions] = [
                p for p in self.tables[positions] if any(p.get(k) != v for k, v in key.items())
            ]
            return httpx.Response(204)
        if name in ("record_partial_close", "record_paper_partial_close"):
            trade, position = args["p_trade"], args["p_position"]
            if any(t["id"] == trade["id"] for t in self.tables[trades]):
                return httpx.Response(204)
            strategies = {s["id"] for s in self.tables["strategies"]}
            self._insert(trades, trade if trade.get("strategy_id") in strategies else {**trade, "strategy_id": None})
            self._count_on_strategy(trade)
            if position.get("strategy_id") not in strategies:
                position = {**position, "strategy_id": None}
            key = ("user_id", "exchange", "symbol")
            for row in self.tables[positions]:
                if all(row.get(c) == position[c] for c in key):
                    self._update(positions, row, position)
                    return httpx.Response(204)
            self._insert(positions, position)
            return httpx.Response(204)
        if name == "mark_positions":
            return httpx.Response(200, json=self._mark_positions(args["p_marks"]))
        if name == "record_webhook_request":
            return httpx.Response(200, json=self._record_webhook_request(args["p_row"], args["p_monthly_limit"]))
        if name == "sparky_publish_plan_limits":
            self.plan_limits = dict(args["p_limits"])  # migrations/0009: the table is replaced
            return httpx.Response(204)
        if name == "find_webhook_secret_owners":
            return httpx.Response(200, json=self._find_webhook_secret_owners(args["p_secret"]))
        if name == "get_user_subscription_plan_safe":
            active = [s for s in self.tables["subscriptions"]
                      if s.get("user_id") == args["p_user_id"] and s.get("status") == "active"]  # fmt: skip
            return httpx.Response(200, json=active[-1]["plan"] if active else "Free")
        return error("function_not_found")

    def _mark_positions(self, marks: list[dict[str, Any]]) -> int:
        """migrations/0022: each mark on its row while the row is as the mark read it."""
        written = 0
        for m in marks:
            table = "paper_positions" if m["exchange"] == "paper" else "positions"
            for row in self.tables[table]:
                if row["id"] == m["id"] and all(row.get(c) == self._load(c, m[c]) for c in
                                                ("user_id", "exchange", "symbol", "side", "quantity", "entry_price")):
                    self._update(table, row, {c: m[c] for c in ("current_price", "unrealized_pnl_usd",
                                                                 "unrealized_pnl_percent", "last_price_update")})
                    written += 1
        return written

    def _count_on_strategy(self, trade: dict[str, Any]) -> None:
        """migrations/0019: a recorded trade counts on its user's strategy."""
        for strategy in self.tables["strategies"]:
            if (strategy["id"], strategy.get("user_id")) == (trade.get("strategy_id"), trade["user_id"]):
                strategy["total_trades"] = (strategy.get("total_trades") or 0) + 1
                strategy["winning_trades"] = (strategy.get("winning_trades") or 0) + int(bool(trade["is_winner"]))

    def _record_webhook_request(self, row: dict[str, Any], limit: int | None) -> dict[str, Any]:
        requests = self.tables["webhook_requests"]
        user, key = row.get("user_id"), row.get("idempotency_key")
        for r in requests:
            if (key is not None and (r.get("user_id"), r.get("idempotency_key")) == (user, key)) or r["id"] == row["id"]:
                return {"outcome": "duplicate", "existing_id": r["id"]}
        created = codec.decode_time(row["created_at"]) or datetime.now(UTC)
        month = created.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        following = (month + timedelta(days=32)).replace(day=1)
        used = sum(
            1 for r in requests
            if r.get("user_id") == user and month <= r["created_at"] < following and counts(r["status"])
        )  # fmt: skip
        if limit is not None and used >= limit:
            return {"outcome": "quota_exceeded", "current_count": used, "monthly_limit": limit}
        if not any(s["id"] == row.get("strategy_id") for s in self.tables["strategies"]):
            row = {**row, "strategy_id": None}
        self._insert("webhook_requests", row)
        return {"outcome": "recorded", "current_count": used + counts(row["status"]), "monthly_limit": limit}

    def _find_webhook_secret_owners(self, secret: str) -> list[dict[str, Any]]:
        digest = secret_digest(secret)
        owners = {
            c["user_id"] for c in self.tables["bot_credentials"]
            if (c.get("exchange"), c.get("environment")) == ("webhook", "production") and c.get("user_id")
            and secret and c.get("webhook_secret") == (digest if is_digest(c.get("webhook_secret") or "") else secret)
        }  # fmt: skip
        return [{"user_id": user_id} for user_id in sorted(owners)]


class TestSupabaseContracts(StoreContract, TenantContract):
    """Both port contracts, through supabase-py and HTTP, against FakePostgrest."""


    @pytest.fixture
    async def store(self, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[SupabaseStore]:
        for name in ("make_request", "make_position", "make_trade", "make_resting_entry"):
            made = getattr(store_contract, name)

            @functools.wraps(made)
            def with_uuid_strategy(*args: Any, _made: Any = made, **kwargs: Any) -> Any:
                record = _made(*args, **kwargs)
                return replace(record, strategy_id=STRATEGY) if record.strategy_id == "strategy-1" else record

            monkeypatch.setattr(store_contract, name, with_uuid_strategy)
        fake = FakePostgrest()
        with respx.mock(assert_all_called=False) as router:
            router.route(url__startswith=REST).mock(side_effect=fake)
            store = SupabaseStore(URL, KEY)
            await store.open()
            yield store
            await store.aclose()
