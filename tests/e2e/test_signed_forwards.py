"""Whom a signed SignalStudio forward may act for: the UUID of a user the store knows, never the
local user, and never an id that could name a file outside the data dir."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from sparky.errors import BadRequest
from sparky.signals.auth import LOCAL_USER_ID, sign_forward
from sparky.store.tenants import LocalUser

FORWARD_KEY = "signalstudio-forward-key-3f9a"
BOB = "22222222-2222-4222-8222-222222222222"
#: a user id with letters, which a sender may spell in either case
CAROL = "c0ffee00-cafe-4bad-8bad-0123456789ab"


def forwarded(user_id: Any, **fields: Any) -> tuple[bytes, dict[str, str]]:
    body = {"user_id": user_id, "action": "buy", "symbol": "BTCUSDT", "exchange": "paper", "price": 27000,
            "position_size_usd": 270, **fields}
    raw = json.dumps(body).encode()
    return raw, {"content-type": "application/json",
                 "X-Sparky-Signature": sign_forward(FORWARD_KEY, raw, int(time.time()))}


async def send(sparky: Any, user_id: Any) -> dict[str, Any]:
    raw, headers = forwarded(user_id)
    response = await sparky.client.post("/webhook", content=raw, headers=headers)
    return {"status": response.status_code, **response.json()}


@pytest.fixture
async def server(start):
    async with start(signalstudio_forward_secret=FORWARD_KEY) as sparky:
        for user in (BOB, CAROL):
            await sparky.services.store.add_local_user(LocalUser(user, None, "Free"))
        yield sparky


@pytest.mark.parametrize(("user_id", "says"), [
    (LOCAL_USER_ID, "local user"),  # it would skip every gate and the quota
    ("../../outside", "UUID"),  # the paper account's file would land outside the data dir
    ("..", "UUID"),
    (f"{BOB}/../../x", "UUID"),
    ("33333333-3333-4333-8333-333333333333", "not a user of this server"),
    (12345, "UUID"),
])
async def test_a_forward_for_no_user_of_the_server_is_refused(server, data_dir: Path, user_id: Any,
                                                              says: str) -> None:
    result = await send(server, user_id)
    assert result["status"] == 401 and result["field"] == "user_id" and says in result["message"], result
    assert await server.services.store.list_webhook_requests() == []  # nobody to record it for
    assert await server.services.store.list_positions() == []
    assert await server.paper.positions() == []  # the local user's account was never touched
    assert sorted(p.name for p in data_dir.parent.rglob("*.json")) == []  # no paper state anywhere


async def test_a_forward_acts_for_the_user_in_the_ids_one_spelling(server) -> None:
    result = await send(server, CAROL.upper())
    assert result["status"] == 200 and result["action"] == "opened", result
    [position] = await server.services.store.list_positions()
    assert position.user_id == CAROL
    assert (await server.services.store.get_webhook_request(result["request_id"])).user_id == CAROL


async def test_a_paper_account_is_named_only_by_a_uuid(server) -> None:
    with pytest.raises(BadRequest) as refused:
        await server.services.accounts.get("../../outside", "paper")
    assert refused.value.field == "user_id"
    assert await server.services.accounts.get(CAROL.upper(), "paper") is await server.services.accounts.get(
        CAROL, "paper")


# ------------------------------------------------------------------ on Supabase: asked of Supabase Auth
def auth_users(known: set[str], *, down: bool = False):
    def answer(request: httpx.Request) -> httpx.Response:
        if down:
            return httpx.Response(500, json={"code": 500, "msg": "database unavailable"})
        user_id = request.url.path.rsplit("/", 1)[-1]
        if user_id not in known:
            return httpx.Response(404, json={"code": 404, "error_code": "user_not_found", "msg": "User not found"})
        return httpx.Response(200, json={"id": user_id, "aud": "authenticated", "app_metadata": {},
                                         "user_metadata": {}, "created_at": "2026-05-01T10:00:00Z"})
    return answer


@pytest.mark.parametrize(("user_id", "down", "status"), [
    (BOB, False, 200), (CAROL, False, 401), (BOB, True, 503),
])
async def test_on_supabase_the_forwarded_user_must_exist_in_supabase_auth(start, user_id: str, down: bool,
                                                                         status: int) -> None:
    pytest.importorskip("supabase")
    from tests.unit.store.supabase.test_store import KEY, REST, URL, FakePostgrest

    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=REST).mock(side_effect=FakePostgrest())
        auth = router.get(url__startswith=f"{URL}/auth/v1/admin/users/").mock(
            side_effect=auth_users({BOB}, down=down))
        async with start(supabase_url=URL, supabase_service_role_key=KEY,
                         signalstudio_forward_secret=FORWARD_KEY) as sparky:
            result = await send(sparky, user_id)
            assert result["status"] == status, result
            assert auth.calls.last.request.url.path == f"/auth/v1/admin/users/{user_id}"
            recorded = await sparky.services.store.list_webhook_requests()
            assert [r.user_id for r in recorded] == ([BOB] if status == 200 else [])
            if status == 200:  # known once: the next forward does not ask again
                await send(sparky, user_id)
                assert auth.call_count == 1
