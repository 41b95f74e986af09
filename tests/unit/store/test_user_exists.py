"""`TenantStore.user_exists`: whether a signed forward's user_id names a user of the store.

SQLite knows its users (`sparky users add`, or a subscription); Supabase keeps them in auth.users,
which only Supabase Auth serves (`GET /auth/v1/admin/users/<id>` with the service role key).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import respx

from sparky.store.base import StoreUnavailable
from sparky.store.sqlite.store import SqliteStore
from sparky.store.tenants import LocalUser
from tests.tenant_contract import A, B, C

pytest.importorskip("supabase", reason="supabase-py is not installed (pip install supabase)")

from sparky.store.supabase.store import SupabaseStore  # noqa: E402
from tests.unit.store.supabase.test_store import KEY, URL  # noqa: E402

ADMIN_USERS = f"{URL}/auth/v1/admin/users/"


def auth_user(user_id: str) -> dict:
    """A user as Supabase Auth's admin API answers it."""
    return {"id": user_id, "aud": "authenticated", "role": "authenticated", "email": "a@example.com",
            "app_metadata": {"provider": "email"}, "user_metadata": {}, "created_at": "2026-05-01T10:00:00Z",
            "updated_at": "2026-05-01T10:00:00Z"}


async def test_sqlite_knows_the_users_it_holds(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "sparky.db")
    await store.open()
    try:
        await store.add_local_user(LocalUser(A, "a@example.com", "Free"))
        assert await store.user_exists(A) is True
        assert await store.user_exists(B) is False
    finally:
        await store.aclose()


@pytest.mark.parametrize(("status", "expected"), [(200, True), (404, False)])
async def test_supabase_asks_supabase_auth(status: int, expected: bool) -> None:
    with respx.mock(assert_all_called=False) as router:
        route = router.get(url__startswith=ADMIN_USERS).mock(return_value=httpx.Response(
            status, json=auth_user(C) if status == 200 else
            {"code": 404, "error_code": "user_not_found", "msg": "User not found"}))
        store = SupabaseStore(URL, KEY)
        await store.open()
        try:
            assert await store.user_exists(C) is expected
        finally:
            await store.aclose()
    [call] = route.calls
    assert call.request.url.path == f"/auth/v1/admin/users/{C}"
    assert call.request.headers["apikey"] == KEY and call.request.headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("reply", [httpx.Response(500, json={"code": 500, "msg": "boom"}),
                                   httpx.Response(503, text="upstream down"), httpx.ConnectError("refused")])
async def test_supabase_auth_unreachable_is_a_store_outage_never_a_no(reply) -> None:
    with respx.mock(assert_all_called=False) as router:
        router.get(url__startswith=ADMIN_USERS).mock(side_effect=[reply])
        store = SupabaseStore(URL, KEY)
        await store.open()
        try:
            with pytest.raises(StoreUnavailable) as caught:
                await store.user_exists(C)
        finally:
            await store.aclose()
    assert KEY not in str(caught.value)
