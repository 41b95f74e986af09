"""Several users on one server: secrets, signed forwards, isolation, quota, risk limits, strategies."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest

from sparky.exchanges.base import OrderKind, Side
from sparky.signals.auth import sign_forward
from sparky.store.base import RequestStatus
from sparky.store.tenants import CredentialRecord, LocalUser, StrategyRecord, TradeSettings, secret_digest
from tests.conftest import ADMIN, Sparky

ALICE, BOB = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
SECRETS = {ALICE: "alice-secret-8c1f2e", BOB: "bob-secret-77d0aa"}
FORWARD_KEY = "signalstudio-forward-key-3f9a"


async def add_user(sparky: Sparky, user_id: str, plan: str = "Pro") -> None:
    store = sparky.services.store
    await store.add_local_user(LocalUser(user_id, f"{user_id[:4]}@example.com", plan))
    await store.upsert_credentials(CredentialRecord(user_id, "webhook", webhook_secret=secret_digest(SECRETS[user_id])))


@pytest.fixture
async def tenants(start):
    async with start(signalstudio_forward_secret=FORWARD_KEY) as sparky:
        await add_user(sparky, ALICE)
        await add_user(sparky, BOB)
        await sparky.services.secrets.refresh()
        yield sparky


async def post(sparky: Sparky, as_user: str | None, **fields) -> dict:
    """POST an alert with `as_user`'s secret (None: give the secret in `fields`)."""
    body = {"exchange": "paper", "symbol": "BTCUSDT", "price": 27000, **fields}
    if as_user is not None:
        body.setdefault("secret", SECRETS[as_user])
    response = await sparky.client.post("/webhook", json=body)
    return {"status": response.status_code, **response.json()}


async def test_two_users_trade_concurrently_each_on_their_own_account(tenants: Sparky) -> None:
    results = await asyncio.gather(*(
        post(tenants, user, action=action, symbol=symbol, alert_id=f"{user[:4]}-{symbol}")
        for user in (ALICE, BOB) for action, symbol in (("buy", "BTCUSDT"), ("sell", "ETHUSDT"))
    ))
    assert [r["action"] for r in results] == ["opened"] * 4
    store = tenants.services.store
    for user in (ALICE, BOB):
        positions = {p.symbol: p.side for p in await store.list_positions(user_id=user)}
        assert positions == {"BTCUSDT": "BUY", "ETHUSDT": "SELL"}
        paper = await tenants.services.accounts.get(user, "paper")
        assert {p.symbol for p in await paper.positions()} == {"BTCUSDT", "ETHUSDT"}
    alice_paper = await tenants.services.accounts.get(ALICE, "paper")
    bob_paper = await tenants.services.accounts.get(BOB, "paper")
    assert alice_paper is not bob_paper and alice_paper is not tenants.paper  # separate accounts
    assert await tenants.paper.positions() == []  # the local user's account was never touched


@pytest.mark.parametrize(("secret_of", "claimed"), [(ALICE, BOB), (BOB, ALICE)])
async def test_a_secret_never_acts_for_another_user(tenants: Sparky, secret_of: str, claimed: str) -> None:
    result = await post(tenants, secret_of, action="buy", user_id=claimed)
    assert result["status"] == 401
    assert await tenants.services.store.list_positions() == []


async def test_a_users_secret_acts_only_on_that_user(tenants: Sparky) -> None:
    result = await post(tenants, ALICE, action="buy", user_id=ALICE)  # naming yourself is fine
    assert result["action"] == "opened"
    closed_by_bob = await post(tenants, BOB, action="close")
    assert closed_by_bob["message"] == "No position to close"  # Bob's close cannot reach Alice's position
    assert [p.user_id for p in await tenants.services.store.list_positions()] == [ALICE]
    row = await tenants.services.store.get_webhook_request(result["request_id"])
    assert row.user_id == ALICE and row.webhook_secret.startswith("sha256:")


async def test_the_shared_legacy_secret_cannot_name_a_user(tenants: Sparky) -> None:
    result = await post(tenants, None, secret="test-webhook-secret", action="buy", user_id=ALICE)
    assert result["status"] == 401


async def test_a_revoked_secret_stops_working_after_refresh(tenants: Sparky) -> None:
    assert (await post(tenants, ALICE, action="close"))["status"] == 200
    await tenants.services.store.upsert_credentials(
        CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest("alice-new-secret")))
    await tenants.services.secrets.refresh()
    assert (await post(tenants, ALICE, action="close", symbol="ETHUSDT"))["status"] == 401
    assert (await post(tenants, None, secret="alice-new-secret", action="close"))["status"] == 200


def signed(body: dict, key: str = FORWARD_KEY, at: int | None = None) -> tuple[bytes, dict]:
    raw = json.dumps(body).encode()
    return raw, {"content-type": "application/json",
                 "X-Sparky-Signature": sign_forward(key, raw, at if at is not None else int(time.time()))}


async def test_a_signed_signalstudio_forward_acts_for_the_named_user(tenants: Sparky) -> None:
    raw, headers = signed({"user_id": BOB, "strategy": None, "action": "buy", "symbol": "BTCUSDT",
                           "exchange": "paper", "price": 27000, "position_size_usd": 270})
    response = await tenants.client.post("/webhook", content=raw, headers=headers)
    assert response.status_code == 200 and response.json()["action"] == "opened"
    [position] = await tenants.services.store.list_positions()
    assert (position.user_id, position.quantity) == (BOB, D("0.01"))
    row = await tenants.services.store.get_webhook_request(response.json()["request_id"])
    assert row.user_id == BOB and row.webhook_secret is None


@pytest.mark.parametrize("tamper", ["wrong key", "stale", "body changed", "garbage header", "no user"])
async def test_bad_forwards_are_refused(tenants: Sparky, tamper: str) -> None:
    body = {"user_id": BOB, "action": "buy", "symbol": "BTCUSDT", "exchange": "paper", "price": 27000}
    raw, headers = signed(body, key="not-the-key" if tamper == "wrong key" else FORWARD_KEY,
                          at=int(time.time()) - 301 if tamper == "stale" else None)
    if tamper == "body changed":
        raw = json.dumps({**body, "user_id": ALICE}).encode()
    if tamper == "garbage header":
        headers["X-Sparky-Signature"] = "v1=deadbeef"
    if tamper == "no user":
        raw, headers = signed({k: v for k, v in body.items() if k != "user_id"})
    response = await tenants.client.post("/webhook", content=raw, headers=headers)
    assert response.status_code == 401
    assert await tenants.services.store.list_positions() == []
    assert await tenants.services.store.list_webhook_requests() == []


FORWARDED_BUY = {"user_id": BOB, "action": "buy", "symbol": "BTCUSDT", "exchange": "paper", "price": 27000,
                 "position_size_usd": 270}


async def forward(sparky: Sparky, raw: bytes, headers: dict) -> dict:
    response = await sparky.client.post("/webhook", content=raw, headers=headers)
    return {"status": response.status_code, **response.json()}


async def orders_sent(sparky: Sparky, user_id: str) -> list[tuple]:
    paper = await sparky.services.accounts.get(user_id, "paper")
    return [(r.side, r.kind, r.quantity, r.client_order_id[-2:]) for r in paper.requests]


@pytest.mark.parametrize("resent_header", ["as sent", "with an extra v1"])
async def test_a_signed_forward_resent_after_the_duplicate_window_is_refused(tenants: Sparky, monkeypatch,
                                                                            resent_header: str) -> None:
    raw, headers = signed(FORWARDED_BUY)  # no alert_id, as in docs/MULTI_TENANT.md
    first = await forward(tenants, raw, headers)
    assert first["action"] == "opened"
    assert (await post(tenants, BOB, action="close"))["action"] == "closed"
    # 31 s later for the body dedupe (window 30 s); the signature is still inside its 5 minutes
    monkeypatch.setattr(tenants.services.cache, "_clock", lambda: time.monotonic() + 31)
    if resent_header == "with an extra v1":  # another header text, the same accepted signature
        headers = {**headers, "X-Sparky-Signature": headers["X-Sparky-Signature"] + ",v1=00"}
    again = await forward(tenants, raw, headers)
    assert again["status"] == 200
    assert (again["action"], again["duplicate_of"]) == ("duplicate", first["request_id"])
    assert await orders_sent(tenants, BOB) == [(Side.BUY, OrderKind.MARKET, D("0.01"), "-e"),
                                               (Side.SELL, OrderKind.MARKET, D("0.01"), "-x")]
    assert await tenants.services.store.list_positions(user_id=BOB) == []
    row = await tenants.services.store.get_webhook_request(again["request_id"])
    assert (row.status, row.user_id) == (RequestStatus.DUPLICATE, BOB)


@pytest.mark.parametrize("alert_id", [None, "ss-alert-7"])
async def test_a_signed_forward_resent_after_a_restart_is_refused(start, alert_id: str | None) -> None:
    raw, headers = signed({**FORWARDED_BUY, **({"alert_id": alert_id} if alert_id else {})})
    async with start(signalstudio_forward_secret=FORWARD_KEY) as sparky:
        await add_user(sparky, BOB)
        await sparky.services.secrets.refresh()
        first = await forward(sparky, raw, headers)
        assert first["action"] == "opened"
        assert (await post(sparky, BOB, action="close"))["action"] == "closed"
    async with start(signalstudio_forward_secret=FORWARD_KEY) as sparky:  # same data dir, empty cache
        again = await forward(sparky, raw, headers)
        assert again["status"] == 200
        assert (again["action"], again["duplicate_of"]) == ("duplicate", first["request_id"])
        assert await orders_sent(sparky, BOB) == []
        assert await sparky.services.store.list_positions(user_id=BOB) == []


async def test_the_same_alert_signed_again_later_is_a_new_alert(tenants: Sparky, monkeypatch) -> None:
    now = int(time.time())
    raw, first_headers = signed(FORWARDED_BUY, at=now - 60)
    assert (await forward(tenants, raw, first_headers))["action"] == "opened"
    assert (await post(tenants, BOB, action="close"))["action"] == "closed"
    monkeypatch.setattr(tenants.services.cache, "_clock", lambda: time.monotonic() + 31)
    _, new_headers = signed(FORWARDED_BUY, at=now)  # the dashboard sends the same alert again, signed anew
    assert (await forward(tenants, raw, new_headers))["action"] == "opened"


async def test_quota_twenty_concurrent_requests_with_two_left_accept_exactly_two(tenants: Sparky) -> None:
    await tenants.services.store.set_plan(ALICE, "Free")  # 5 a month
    entry = {"action": "buy", "price": 10, "position_size_usd": 50}
    for i in range(3):
        assert (await post(tenants, ALICE, symbol=f"S{i}USDT", **entry))["status"] == 200
    results = await asyncio.gather(*(post(tenants, ALICE, symbol=f"X{i}USDT", **entry) for i in range(20)))
    accepted = [r for r in results if r["status"] == 200]
    refused = [r for r in results if r["status"] == 429]
    assert (len(accepted), len(refused)) == (2, 18)
    assert refused[0]["error"] == "Webhook limit exceeded"
    # the action is the row's status; the message says it in words
    assert refused[0]["success"] is False and refused[0]["action"] == "rate_limited"
    assert refused[0]["message"].startswith("Webhook limit exceeded: 5 of the 5 webhooks of your Free plan")
    data = refused[0]["data"]
    assert (data["current"], data["limit"], data["plan"]) == (5, 5, "Free")
    now = datetime.now(UTC)
    first_of_next = datetime(now.year + (now.month == 12), now.month % 12 + 1, 1, tzinfo=UTC)
    assert data["resetDate"] == first_of_next.isoformat()
    rows = await tenants.services.store.list_webhook_requests(user_id=ALICE, limit=100)
    statuses = [r.status for r in rows]
    assert statuses.count(RequestStatus.RATE_LIMITED) == 18 and len(statuses) == 23
    await tenants.services.notifier.drain()
    titles = [n.title for n in await tenants.services.store.list_notifications(ALICE)]
    assert titles.count("Webhook limit at 80 %") == 1 and titles.count("Webhook limit reached") == 1


async def test_risk_limits_block_entries_but_never_closes(tenants: Sparky) -> None:
    store = tenants.services.store
    await store.upsert_trade_settings(TradeSettings(ALICE, "paper", trading_hours_preset="24/7", allow_weekends=True,
                                                    max_trades_per_week=1, max_open_positions=5))
    assert (await post(tenants, ALICE, action="buy"))["action"] == "opened"
    blocked = await post(tenants, ALICE, action="buy", symbol="ETHUSDT")
    assert blocked["status"] == 429 and blocked["error"] == "Risk limit exceeded"
    assert blocked["data"] == {"limitType": "max_trades_per_week", "current": 1, "limit": 1}
    assert blocked["success"] is False and blocked["action"] == "rejected"
    assert blocked["message"].startswith("Maximum trades per week reached on paper: 1 of 1 this week")
    closed = await post(tenants, ALICE, action="close", price=27270)
    assert closed["status"] == 200 and closed["action"] == "closed"
    row = await store.get_webhook_request(blocked["request_id"])
    assert (row.status, row.http_status) == (RequestStatus.REJECTED, 429)


async def test_max_open_positions_holds_under_concurrency(tenants: Sparky) -> None:
    await tenants.services.store.upsert_trade_settings(
        TradeSettings(ALICE, "paper", trading_hours_preset="24/7", allow_weekends=True, max_open_positions=2))
    results = await asyncio.gather(*(post(tenants, ALICE, action="buy", symbol=f"C{i}USDT", price=10,
                                          position_size_usd=50) for i in range(6)))
    assert sorted(r["status"] for r in results) == [200, 200, 429, 429, 429, 429]
    limited = next(r for r in results if r["status"] == 429)
    assert limited["data"] == {"limitType": "max_open_positions", "current": 2, "limit": 2}
    assert await tenants.services.store.count_open_positions(ALICE, "paper") == 2


async def test_max_open_positions_counts_a_resting_limit_entry(tenants: Sparky) -> None:
    for user in (ALICE, BOB):
        await tenants.services.store.upsert_trade_settings(
            TradeSettings(user, "paper", trading_hours_preset="24/7", allow_weekends=True, max_open_positions=1))
    paper = await tenants.services.accounts.get(ALICE, "paper")
    await paper.note_price("BTCUSDT", D(27000))
    placed = await post(tenants, ALICE, action="buy", order_type="limit", price=26000, position_size_usd=2600)
    assert placed["action"] == "order_placed"
    refused = await post(tenants, ALICE, action="buy", symbol="ETHUSDT", price=2000, position_size_usd=100)
    assert (refused["status"], refused["data"]) == (429, {"limitType": "max_open_positions", "current": 1, "limit": 1})
    assert await paper.position("ETHUSDT") is None
    # Alice's resting entry counts for Alice only
    assert (await post(tenants, BOB, action="buy", symbol="ETHUSDT", price=2000))["action"] == "opened"


async def test_limits_that_cannot_be_checked_refuse_with_503_and_record_nothing(tenants: Sparky, monkeypatch) -> None:
    async def down(*args, **kwargs):
        raise OSError("database unreachable")

    monkeypatch.setattr(tenants.services.store, "get_trade_settings", down)
    result = await post(tenants, ALICE, action="buy")
    assert result["status"] == 503
    assert await tenants.services.store.list_webhook_requests() == []
    assert await tenants.services.store.list_positions() == []


async def test_inactive_or_unknown_strategy_is_rejected_and_active_one_trades(tenants: Sparky) -> None:
    store = tenants.services.store
    await store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="inactive"))
    await store.upsert_strategy(StrategyRecord(ALICE, "Breakout", status="active"))
    inactive = await post(tenants, ALICE, action="buy", strategy="Momentum")
    assert inactive["status"] == 200 and inactive["action"] == "rejected"
    assert inactive["message"] == "Strategy 'Momentum' not found or inactive"
    assert (await post(tenants, BOB, action="buy", strategy="Breakout"))["action"] == "rejected"  # not Bob's
    assert (await post(tenants, ALICE, action="buy", strategy="breakout"))["action"] == "opened"
    await store.upsert_strategy(StrategyRecord(ALICE, "Momentum", status="active"))
    assert (await post(tenants, ALICE, action="sell", strategy="Momentum"))["action"] == "rejected"  # cached
    reload = await tenants.admin_post("/strategies/reload")
    assert reload.status_code == 200
    assert (await post(tenants, ALICE, action="sell", strategy="Momentum"))["action"] == "reversed"


async def test_an_exchange_without_stored_credentials_is_a_400_with_the_hint(tenants: Sparky) -> None:
    result = await post(tenants, ALICE, action="buy", exchange="aster")
    assert result["status"] == 400
    assert result["error"] == result["message"] == "No credentials stored for aster"
    # embedded mode has no dashboard: the hint is the command that stores the keys
    assert f"sparky users credentials {ALICE} aster" in result["hint"]
    assert "SignalStudio" not in result["hint"]


async def test_on_supabase_the_missing_credentials_hint_names_the_dashboard(start) -> None:
    import respx

    # the Supabase store over the in-memory PostgREST its own tests use
    from tests.unit.store.supabase.test_store import KEY, REST, URL, FakePostgrest

    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=REST).mock(side_effect=FakePostgrest())
        async with start(supabase_url=URL, supabase_service_role_key=KEY) as sparky:
            store = sparky.services.store
            await store.upsert_credentials(CredentialRecord(ALICE, "webhook",
                                                            webhook_secret=secret_digest(SECRETS[ALICE])))
            await sparky.services.secrets.refresh()
            result = await post(sparky, ALICE, action="buy", exchange="aster")
    assert result["status"] == 400 and result["error"] == "No credentials stored for aster"
    assert result["hint"] == "Add your exchange API keys in SignalStudio → Settings → Bot Credentials"


async def test_trade_notifications_are_written_for_the_user(tenants: Sparky) -> None:
    await post(tenants, ALICE, action="buy", position_size_usd=2700)
    await post(tenants, ALICE, action="close", price=27270)
    await tenants.services.notifier.drain()
    kinds = [(n.type, n.title) for n in reversed(await tenants.services.store.list_notifications(ALICE))]
    assert kinds == [("trade", "Opened BUY BTCUSDT"), ("success", "Closed BTCUSDT")]
    assert await tenants.services.store.list_notifications(BOB) == []


async def test_sync_reconciles_each_user_on_their_own_account(tenants: Sparky) -> None:
    await post(tenants, ALICE, action="buy", position_size_usd=2700, stop_loss_percent=2)
    await post(tenants, BOB, action="buy", position_size_usd=2700, stop_loss_percent=2)
    # Bob's stop fills on his account; Alice's account never sees that price
    bob_paper = await tenants.services.accounts.get(BOB, "paper")
    await bob_paper.note_price("BTCUSDT", D(26000))
    body = (await tenants.admin_post("/positions/sync")).json()
    assert [(c["userId"], c["exitReason"], c["exitPrice"]) for c in body["closed"]] == [(BOB, "STOP_LOSS", 26000)]
    assert [p.user_id for p in await tenants.services.store.list_positions()] == [ALICE]


async def test_a_user_made_with_the_cli_trades_with_the_printed_secret(start, data_dir, capsys) -> None:
    from sparky.cli import users as users_cli

    # the command runs its own event loop, as it does from a shell
    assert await asyncio.to_thread(users_cli.main, ["users", "add", "--data-dir", str(data_dir), "--plan", "Basic"]) == 0
    printed = capsys.readouterr().out
    secret = printed.split("cannot be shown again):\n", 1)[1].split()[0]
    async with start() as sparky:
        response = await sparky.client.post("/webhook", json={
            "secret": secret, "exchange": "paper", "action": "buy", "symbol": "BTCUSDT", "price": 27000})
        assert response.status_code == 200 and response.json()["action"] == "opened"
        [position] = await sparky.services.store.list_positions()
        assert position.user_id != "00000000-0000-0000-0000-000000000000"


async def test_exchange_errors_and_refused_keys_are_notified(tenants: Sparky) -> None:
    from sparky.exchanges.errors import AuthenticationError, InsufficientFunds

    paper = await tenants.services.accounts.get(ALICE, "paper")
    await paper.note_price("BTCUSDT", D(27000))
    paper.fail("place_order", error=AuthenticationError("paper: bad key"))
    assert (await post(tenants, ALICE, action="buy"))["status"] == 400
    paper.fail("place_order", error=InsufficientFunds("paper: margin"))
    assert (await post(tenants, ALICE, action="buy", symbol="ETHUSDT"))["status"] == 400
    await tenants.services.notifier.drain()
    titles = {n.title for n in await tenants.services.store.list_notifications(ALICE)}
    assert titles == {"paper refused your API keys", "paper error on ETHUSDT"}


async def test_a_plan_that_cannot_be_read_refuses_with_503_and_records_nothing(tenants: Sparky, monkeypatch) -> None:
    async def down(*args, **kwargs):
        raise OSError("database unreachable")

    monkeypatch.setattr(tenants.services.store, "subscription_plan", down)
    result = await post(tenants, ALICE, action="buy")
    assert result["status"] == 503 and "nothing was executed" in result["error"]
    assert await tenants.services.store.list_webhook_requests() == []


async def test_a_notification_the_user_switched_off_is_not_written(tenants: Sparky) -> None:
    await tenants.services.store.set_notification_preferences(ALICE, {"notify_trade_success": False})
    await post(tenants, ALICE, action="buy", position_size_usd=2700)
    await post(tenants, ALICE, action="close", price=26730)
    await tenants.services.notifier.drain()
    titles = [n.title for n in await tenants.services.store.list_notifications(ALICE)]
    assert titles == ["Closed BTCUSDT"]  # the loss is reported, the opening was switched off


async def test_positions_name_their_user_and_filter_by_user_id(tenants: Sparky) -> None:
    await post(tenants, ALICE, action="buy", symbol="BTCUSDT")
    await post(tenants, BOB, action="sell", symbol="ETHUSDT", price=1800)
    everyone = (await tenants.admin_get("/positions")).json()
    assert sorted((p["user_id"], p["symbol"]) for p in everyone["positions"]) == [
        (ALICE, "BTCUSDT"), (BOB, "ETHUSDT")]
    bobs = (await tenants.admin_get(f"/positions?user_id={BOB.upper()}")).json()  # any case of the UUID
    assert (bobs["totalPositions"], bobs["longPositions"], bobs["shortPositions"]) == (1, 0, 1)
    assert [(p["user_id"], p["symbol"]) for p in bobs["positions"]] == [(BOB, "ETHUSDT")]
    nobody = (await tenants.admin_get("/positions?user_id=33333333-3333-4333-8333-333333333333")).json()
    assert nobody["totalPositions"] == 0 and nobody["positions"] == []


@pytest.mark.parametrize("bad", ["alice", "", "1111111-1111-4111-8111-111111111111", "x" * 500])
async def test_positions_refuse_a_user_id_that_is_not_a_uuid(tenants: Sparky, bad: str) -> None:
    response = await tenants.client.get("/positions", params={"user_id": bad},
                                        headers={"Authorization": f"Bearer {ADMIN}"})
    assert response.status_code == 400
    body = response.json()
    assert body["field"] == "user_id" and "user_id" in body["error"] and body["success"] is False
    # the admin token is checked first: without it, nothing about the parameter is said
    assert (await tenants.client.get("/positions", params={"user_id": bad})).status_code == 401
