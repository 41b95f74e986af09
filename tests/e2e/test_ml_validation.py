"""ML pre-trade validation through the real app (docs/ML_VALIDATION.md): entries of a strategy with
ml_assistance_enabled are asked of the ML service (respx plays it); below the strategy's threshold
the entry is blocked — answered, recorded, logged, notified, never sent — and any failure of the
service lets the entry trade (fail open). Exits are never asked about."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
import respx

from sparky.signals.models import Signal
from sparky.store.base import RequestStatus, WebhookRequestRecord, utcnow
from sparky.store.tenants import CredentialRecord, LocalUser, StrategyRecord, secret_digest
from tests.conftest import Sparky

ALICE = "11111111-1111-4111-8111-111111111111"
SECRET = "alice-secret-8c1f2e"
ML_URL = "http://arthur.test:8001"
VALIDATE = f"{ML_URL}/validate-strategy-signal"


class Desk:
    """Alice (plan Pro, her own secret) with her active strategy `Breakout`, ML assistance on."""

    def __init__(self, server: Sparky, ml: respx.Route, strategy: StrategyRecord) -> None:
        self.server, self.ml, self.strategy = server, ml, strategy

    async def alert(self, **fields: Any) -> tuple[int, dict[str, Any]]:
        body = {"secret": SECRET, "exchange": "paper", "symbol": "BTCUSDT", "price": "27000", "strategy": "Breakout",
                "position_size_usd": "270", "stop_loss_percent": 2, **fields}
        response = await self.server.client.post("/webhook", json=body)
        return response.status_code, response.json()

    async def orders(self) -> list[tuple]:
        paper = await self.server.services.accounts.get(ALICE, "paper")
        return [(r.side.value, r.kind.value, r.quantity, r.client_order_id[-2:]) for r in paper.requests]

    async def validations(self) -> list[Any]:
        return await self.server.services.store.list_strategy_validations(ALICE)

    def asked(self) -> list[dict[str, Any]]:
        return [json.loads(call.request.content) for call in self.ml.calls]

    async def set_threshold(self, threshold: Any) -> None:
        store = self.server.services.store
        self.strategy.ml_config = {"confidence_threshold": threshold}
        await store.upsert_strategy(self.strategy)
        self.server.services.gates.reload()


async def _desk(start: Any, threshold: Any = 0.7, backend: str = "sqlite", **settings: Any) -> AsyncIterator[Desk]:
    from tests.unit.store.supabase.test_store import KEY, REST, URL, FakePostgrest

    with respx.mock(assert_all_called=False) as router:
        ml = router.post(VALIDATE)
        if backend == "supabase":
            fake = FakePostgrest()
            fake.tables["subscriptions"].append({"id": "sub-1", "user_id": ALICE, "plan": "Pro", "status": "active"})
            router.route(url__startswith=REST).mock(side_effect=fake)
            settings = {"supabase_url": URL, "supabase_service_role_key": KEY, **settings}
        async with start(**{"arthur_ml_url": ML_URL, **settings}) as server:
            store = server.services.store
            if backend == "sqlite":
                await store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))
            await store.upsert_credentials(CredentialRecord(ALICE, "webhook", webhook_secret=secret_digest(SECRET)))
            strategy = await store.upsert_strategy(StrategyRecord(
                ALICE, "Breakout", status="active", ml_assistance_enabled=True,
                ml_config={"confidence_threshold": threshold}))
            await server.services.secrets.refresh()
            yield Desk(server, ml, strategy)


@pytest.fixture(params=["sqlite", "supabase"])
async def desk(request, start) -> AsyncIterator[Desk]:
    async for value in _desk(start, backend=request.param):
        yield value


ENTRY = [("buy", "market", D("0.01"), "-e")]


async def test_a_confident_answer_lets_the_entry_trade_and_the_log_says_so(desk) -> None:
    desk.ml.respond(200, json={"confidence": 85, "reasons": ["volume above average"],
                               "feature_scores": {"momentum": 0.8}})
    status, body = await desk.alert(action="buy")
    assert status == 200 and body["action"] == "opened", body
    assert await desk.orders() == ENTRY
    [asked] = desk.asked()
    assert {k: v for k, v in asked.items() if k != "timestamp"} == {
        "strategy_id": desk.strategy.id, "user_id": ALICE, "symbol": "BTCUSDT", "action": "buy", "price": 27000,
        "exchange": "paper"}
    assert asked["timestamp"].endswith("+00:00")
    [row] = await desk.validations()
    assert (row.validation_result, row.ml_confidence, row.confidence_threshold, row.price_at_signal,
            row.trade_executed) == ("allowed", D(85), D("0.7"), D(27000), True)
    assert (row.strategy_id, row.symbol, row.action) == (desk.strategy.id, "BTCUSDT", "buy")
    assert row.decision_reasons == ["volume above average"] and row.feature_scores == {"momentum": 0.8}


async def test_a_doubtful_answer_blocks_the_entry_nothing_is_sent(desk) -> None:
    desk.ml.respond(200, json={"confidence": 0.45, "reasons": ["low volume", "weak support"]})
    status, body = await desk.alert(action="buy")
    assert status == 200, body
    assert (body["success"], body["action"], body["blocked_by_ml"]) == (False, "blocked", True)
    assert (body["confidence"], body["threshold"], body["reasons"]) == (0.45, 0.7, ["low volume", "weak support"])
    assert await desk.orders() == []
    store = desk.server.services.store
    assert await store.get_position(ALICE, "paper", "BTCUSDT") is None
    request = await store.get_webhook_request(body["request_id"])
    assert request is not None and (request.status, request.http_status) == (RequestStatus.REJECTED, 200)
    assert request.result["action"] == "blocked"
    [row] = await desk.validations()
    assert (row.validation_result, row.ml_confidence, row.confidence_threshold, row.trade_executed) == (
        "blocked", D("0.45"), D("0.7"), False)
    assert row.decision_reasons == ["low volume", "weak support"]
    await desk.server.services.notifier.drain()
    [note] = await store.list_notifications(ALICE)
    assert (note.type, note.title, note.metadata["event"]) == ("warning", "Trade blocked on BTCUSDT", "trade_blocked")
    assert (note.metadata["strategy_name"], note.metadata["confidence"], note.metadata["threshold"]) == (
        "Breakout", 0.45, 0.7)


async def never_answers(request: httpx.Request) -> httpx.Response:
    await asyncio.Event().wait()  # cancelled by the timeout
    raise AssertionError("unreachable")


@pytest.mark.parametrize(("answer", "reason"), [
    ("timeout", "no answer within 0.2s"),
    (httpx.Response(500, json={"error": "model not loaded"}), "HTTP 500"),
    (httpx.Response(200, json={"reasons": ["no model"]}), "answer without a numeric confidence"),
    (httpx.Response(200, json={"confidence": "high"}), "answer without a numeric confidence"),
    (httpx.Response(200, json={"confidence": True}), "answer without a numeric confidence"),
    (httpx.Response(200, json={"confidence": "85"}), "answer without a numeric confidence"),
    (httpx.Response(200, json={"confidence": 101}), "answer without a numeric confidence"),
    (httpx.Response(200, text="<html>bad gateway</html>"), "JSONDecodeError"),
    (httpx.ConnectError("connection refused"), "ConnectError"),
])
async def test_the_service_failing_lets_the_entry_trade(start, answer, reason) -> None:
    async for desk in _desk(start, arthur_ml_timeout_sec=0.2):
        if answer == "timeout":
            desk.ml.mock(side_effect=never_answers)
        elif isinstance(answer, Exception):
            desk.ml.mock(side_effect=answer)
        else:
            desk.ml.mock(return_value=answer)
        status, body = await desk.alert(action="buy")
        assert status == 200 and body["action"] == "opened", body
        assert await desk.orders() == ENTRY
        [row] = await desk.validations()
        assert (row.validation_result, row.ml_confidence, row.trade_executed) == ("allowed", None, True)
        assert row.decision_reasons == [f"ML service unavailable ({reason}): trade allowed"]


async def test_exits_are_never_asked_about(desk) -> None:
    desk.ml.respond(200, json={"confidence": 90})
    assert (await desk.alert(action="buy"))[1]["action"] == "opened"
    desk.ml.respond(200, json={"confidence": 0})  # would block anything it was asked about
    status, body = await desk.alert(action="close", price="27100")
    assert status == 200 and body["action"] == "closed", body
    assert len(desk.ml.calls) == 1
    assert len(await desk.validations()) == 1


@pytest.mark.parametrize("threshold", [0.7, 70, "70", "0.7"])
@pytest.mark.parametrize(("confidence", "allowed"), [(0.69, False), (69, False), (0.7, True), (70, True), (1, True)])
async def test_thresholds_and_confidences_as_fractions_or_percentages_agree(start, threshold, confidence,
                                                                            allowed) -> None:
    async for desk in _desk(start, threshold=threshold):
        desk.ml.respond(200, json={"confidence": confidence})
        status, body = await desk.alert(action="buy")
        assert status == 200 and body["action"] == ("opened" if allowed else "blocked"), body
        assert await desk.orders() == (ENTRY if allowed else [])


@pytest.mark.parametrize("ml_config", [{}, {"confidence_threshold": None}, {"confidence_threshold": "high"},
                                       {"confidence_threshold": 150}])
async def test_without_a_usable_threshold_the_default_is_70_percent(start, ml_config) -> None:
    async for desk in _desk(start):
        await desk.set_threshold(None)
        desk.strategy.ml_config = ml_config
        await desk.server.services.store.upsert_strategy(desk.strategy)
        desk.ml.respond(200, json={"confidence": 69})
        assert (await desk.alert(action="buy"))[1]["action"] == "blocked"
        [row] = await desk.validations()
        assert row.confidence_threshold == D("0.7")


async def test_a_threshold_of_zero_lets_every_answer_through(start) -> None:
    async for desk in _desk(start, threshold=0):
        desk.ml.respond(200, json={"confidence": 0})
        assert (await desk.alert(action="buy"))[1]["action"] == "opened"


async def test_a_strategy_without_ml_assistance_is_not_asked(desk) -> None:
    desk.strategy.ml_assistance_enabled = False
    await desk.server.services.store.upsert_strategy(desk.strategy)
    desk.server.services.gates.reload()
    status, body = await desk.alert(action="buy")
    assert status == 200 and body["action"] == "opened", body
    assert desk.ml.calls.call_count == 0 and await desk.validations() == []


async def test_without_arthur_ml_url_nothing_is_asked(start) -> None:
    async for desk in _desk(start, arthur_ml_url=None):
        status, body = await desk.alert(action="buy")
        assert status == 200 and body["action"] == "opened", body
        assert desk.ml.calls.call_count == 0 and await desk.validations() == []


async def test_a_request_resumed_after_a_restart_is_not_asked_again(start) -> None:
    """It may already have orders on the venue: it is finished as it started, never blocked halfway."""
    with respx.mock(assert_all_called=False) as router:
        ml = router.post(VALIDATE).respond(200, json={"confidence": 0})  # would block it
        async with start(arthur_ml_url=ML_URL) as server:
            store = server.services.store
            await store.add_local_user(LocalUser(ALICE, "alice@example.com", "Pro"))
            strategy = await store.upsert_strategy(StrategyRecord(ALICE, "Breakout", status="active",
                                                                  ml_assistance_enabled=True))
            signal = Signal.model_validate({"action": "buy", "symbol": "BTCUSDT", "exchange": "paper",
                                            "price": "27000", "position_size_usd": "270", "stop_loss_percent": 2,
                                            "strategy_id": strategy.id})
            request_id = str(uuid.uuid4())
            await store.insert_webhook_request(WebhookRequestRecord(
                id=request_id, status=RequestStatus.PENDING, created_at=utcnow(), user_id=ALICE, exchange="paper",
                action="buy", symbol="BTCUSDT", signal=signal.model_dump(mode="json")))  # as a crash leaves it
        async with start(arthur_ml_url=ML_URL) as server:  # recovered at start-up
            row = await server.services.store.get_webhook_request(request_id)
            assert row is not None and row.status is RequestStatus.SUCCESS, row
            assert ml.call_count == 0
            assert await server.services.store.get_position(ALICE, "paper", "BTCUSDT") is not None
