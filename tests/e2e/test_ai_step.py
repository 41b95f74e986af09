"""One AI strategy's step against the real app over HTTP: the worker's parts built by
`build_ai_parts` from the server's own settings, Groq's API and Aster's public klines mocked with
respx, and the signal posted to the running app's /webhook (in process, which respx lets through:
it never reaches httpcore). What a user would notice: the position and its stop and target on the
paper account, the decision and trade-log rows with the webhook's answer, and nothing sent when
the decision is HOLD, refused or not made."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from sparky.ai.llm import GroqModel
from sparky.ai.wiring import build_ai_parts
from sparky.exchanges.base import OrderKind, Side
from sparky.signals.auth import LOCAL_USER_ID, sign_forward
from sparky.store.ai import RUNNING, AiStrategyRecord
from sparky.store.tenants import LocalUser
from tests.ai_model import chat_completion
from tests.ai_venue import mock_aster
from tests.conftest import SECRET

FORWARD_KEY = "ai-worker-forward-key-7c1e"
ALICE = "a11ce000-0000-4000-8000-00000000a11c"
GROQ = "https://api.groq.com/openai/v1/chat/completions"
MODEL = "llama-3.3-70b-versatile"

LONG = {"action": "LONG", "symbol": "BTCUSDT", "size_usd": 1000, "confidence": 0.8,
        "reasoning": "RSI recovering above 50 with MACD turning up", "stop_loss_percent": 2,
        "take_profit_percent": 4}
HOLD = {"action": "HOLD", "confidence": 0.3, "reasoning": "no edge"}


def completion(answer: Any) -> httpx.Response:
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return httpx.Response(200, json=chat_completion(text, model=MODEL, prompt_tokens=2100, completion_tokens=70))


class Webhook(httpx.AsyncBaseTransport):
    """The app's ASGI transport, counting requests; `drop_first`: the first request reaches the
    app, and its answer is lost on the way back (the connection broke)."""

    def __init__(self, app: Any, *, drop_first: bool = False) -> None:
        self._asgi = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
        self.requests: list[httpx.Request] = []
        self._drop = drop_first

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = await self._asgi.handle_async_request(request)
        if self._drop:
            self._drop = False
            await response.aread()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


@pytest.fixture
async def server(start: Any) -> AsyncIterator[Any]:
    async with start(signalstudio_forward_secret=FORWARD_KEY) as sparky:
        await sparky.services.store.add_local_user(LocalUser(ALICE, None, "Pro"))
        yield sparky


async def strategy(server: Any, **overrides: Any) -> AiStrategyRecord:
    values: dict[str, Any] = {"user_id": ALICE, "name": "Momentum", "exchange": "paper", "is_paper_trading": True,
                              "target_assets": ["BTCUSDT", "ETHUSDT"], "risk_profile": "balanced",
                              "status": RUNNING, **overrides}
    return await server.services.store.add_ai_strategy(AiStrategyRecord(**values))


class Worker:
    def __init__(self, server: Any, router: Any, *, drop_first: bool = False) -> None:
        self.server, self.router = server, router
        self.webhook = Webhook(server.app, drop_first=drop_first)
        self.sleeps: list[float] = []
        self.groq = router.post(GROQ)
        self.klines = mock_aster(router)
        # a request to Aster's order endpoints would be a real order: none may be sent
        self.orders = router.route(host="fapi.asterdex.com", path__regex=r"^/fapi/v1/(order|batchOrders|allOpenOrders)")

    async def __aenter__(self) -> Worker:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.client = httpx.AsyncClient(transport=self.webhook)
        model = GroqModel(api_key="gsk_test", model=MODEL, timeout=20, temperature=0.2, max_retries=2, sleep=sleep)
        self.parts = await build_ai_parts(self.server.services.settings, webhook_client=self.client, model=model,
                                          sleep=sleep)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.parts.aclose()
        await self.client.aclose()

    async def step(self, record: AiStrategyRecord) -> Any:
        return await self.parts.step(record, self.parts.new_market_data())


def rows(server: Any, table: str) -> list[dict[str, Any]]:
    connection = sqlite3.connect(server.services.settings.database_path)
    connection.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in connection.execute(f"SELECT * FROM {table} ORDER BY created_at")]
    finally:
        connection.close()


async def test_a_long_becomes_a_protected_paper_position_through_the_webhook(server: Any) -> None:
    record = await strategy(server)
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            worker.groq.mock(return_value=completion(LONG))
            outcome = await worker.step(record)
    assert outcome.error is None and outcome.action == "LONG" and outcome.signal_sent
    assert outcome.decision_id is not None

    [position] = await server.services.store.list_positions(user_id=ALICE)
    assert (position.exchange, position.symbol, position.side) == ("paper", "BTCUSDT", "BUY")
    # 1000 USD at 64000 is 0.015625 BTC, 0.015 at the paper rules' step: 960 USD
    assert position.entry_price == Decimal("64000") and position.position_size_usd == Decimal("960")
    assert position.stop_loss_price == Decimal("62720.0") and position.take_profit_price == Decimal("66560.0")
    paper = await server.services.accounts.get(ALICE, "paper")
    [entry] = paper.requests
    assert (entry.side, entry.kind, entry.quantity) == (Side.BUY, OrderKind.MARKET, Decimal("0.015"))
    assert entry.bracket.stop_loss == Decimal("62720.0") and entry.bracket.take_profit == Decimal("66560.0")

    [sent] = worker.webhook.requests
    body = json.loads(sent.content)
    assert body == {"user_id": ALICE, "exchange": "paper", "symbol": "BTCUSDT", "action": "buy",
                    "price": "64000.0", "position_size_usd": "1000", "stop_loss_percent": "2",
                    "take_profit_percent": "4", "alert_id": outcome.decision_id, "source": "ai_engine_v1",
                    "ai_strategy_id": record.id, "ai_confidence": 0.8,
                    "ai_reasoning": "RSI recovering above 50 with MACD turning up"}
    assert "x-sparky-signature" in sent.headers and "secret" not in body

    [decision] = rows(server, "ai_trade_decisions")
    assert decision["id"] == outcome.decision_id and decision["strategy_id"] == record.id
    assert decision["signal_sent"] == 1 and decision["webhook_status"] == 200
    answer = json.loads(decision["webhook_response"])
    assert answer["success"] is True and answer["request_id"]
    assert json.loads(decision["model_versions"]) == [MODEL]
    assert json.loads(decision["raw_responses"])["prompt_tokens"] == 2100
    parsed = json.loads(decision["parsed_decision"])
    assert (parsed["action"], parsed["symbol"], parsed["size_usd"], parsed["refusal"]) == ("LONG", "BTCUSDT", "1000",
                                                                                          None)
    snapshot = json.loads(decision["market_snapshot"])
    assert snapshot["BTCUSDT"]["last_close"] == "64000.0" and snapshot["BTCUSDT"]["candles"] == 100
    assert set(json.loads(decision["technical_indicators"])["ETHUSDT"]) >= {"rsi_14", "macd_line", "atr_14"}
    portfolio = json.loads(decision["portfolio_state"])
    assert portfolio == {"exchange": "paper", "equity_usd": "10000", "positions": []}
    assert Decimal(str(decision["confidence_final"])) == Decimal("0.8")

    [log] = rows(server, "ai_trade_log")
    assert (log["signal_action"], log["symbol"], log["ai_strategy_id"]) == ("LONG", "BTCUSDT", record.id)
    assert Decimal(str(log["size_usd"])) == 1000 and log["reasoning"] == LONG["reasoning"]
    assert json.loads(log["decision_json"])["webhook_status"] == 200
    assert worker.klines.call_count == 2  # BTCUSDT and ETHUSDT, once each


async def test_hold_sends_nothing_and_records_the_decision(server: Any) -> None:
    record = await strategy(server)
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            worker.groq.mock(return_value=completion(HOLD))
            outcome = await worker.step(record)
    assert (outcome.action, outcome.signal_sent, outcome.error) == ("HOLD", False, None)
    assert worker.webhook.requests == []
    assert await server.services.store.list_webhook_requests() == []
    [decision] = rows(server, "ai_trade_decisions")
    assert decision["signal_sent"] == 0 and decision["webhook_status"] is None
    assert json.loads(decision["parsed_decision"])["reasoning"] == "no edge"
    assert rows(server, "ai_trade_log") == []


@pytest.mark.parametrize(("answer", "reason"), [
    ({**LONG, "symbol": "DOGEUSDT"}, "symbol: 'DOGEUSDT' is not one of this strategy's assets"),
    ('{"action": "LONG", "symbol": "BTCUSDT",', "the answer is not JSON"),
    ({**LONG, "size_usd": 5000}, "size_usd: 5000 is above 25% of the account's equity"),
])
async def test_a_refused_answer_is_hold_with_its_reason_and_nothing_is_sent(server: Any, answer: Any,
                                                                           reason: str) -> None:
    record = await strategy(server)
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            worker.groq.mock(return_value=completion(answer))
            outcome = await worker.step(record)
    assert (outcome.action, outcome.signal_sent, outcome.error) == ("HOLD", False, None)
    assert worker.webhook.requests == [] and await server.services.store.list_positions() == []
    [decision] = rows(server, "ai_trade_decisions")
    parsed = json.loads(decision["parsed_decision"])
    assert parsed["action"] == "HOLD" and parsed["refusal"].startswith(reason), parsed
    assert json.loads(decision["raw_responses"])["text"] == (answer if isinstance(answer, str) else json.dumps(answer))


async def test_groq_429_then_an_answer_opens_the_position(server: Any) -> None:
    record = await strategy(server)
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            worker.groq.mock(side_effect=[
                httpx.Response(429, headers={"retry-after": "3"},
                               json={"error": {"message": "Rate limit reached", "type": "tokens"}}),
                completion(LONG)])
            outcome = await worker.step(record)
    assert outcome.signal_sent and worker.groq.call_count == 2 and worker.sleeps == [3.0]
    assert len(await server.services.store.list_positions(user_id=ALICE)) == 1


async def test_a_groq_timeout_is_an_error_and_nothing_is_sent(server: Any) -> None:
    record = await strategy(server)
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            worker.groq.mock(side_effect=httpx.ReadTimeout("no answer"))
            outcome = await worker.step(record)
    assert outcome.error == "model: the model did not answer within 20 s"
    assert (outcome.decision_id, outcome.signal_sent) == (None, False)
    assert worker.groq.call_count == 3 and worker.webhook.requests == []
    assert rows(server, "ai_trade_decisions") == [] and await server.services.store.list_positions() == []


async def test_a_paper_strategy_watching_aster_never_sends_an_order_to_aster(server: Any) -> None:
    record = await strategy(server, exchange="aster")
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            worker.groq.mock(return_value=completion(LONG))
            outcome = await worker.step(record)
    assert outcome.signal_sent and not worker.orders.called
    assert all(call.request.url.path in ("/fapi/v1/klines", "/fapi/v1/exchangeInfo") for call in router.calls
               if call.request.url.host == "fapi.asterdex.com")
    assert json.loads(worker.webhook.requests[0].content)["exchange"] == "paper"
    [position] = await server.services.store.list_positions(user_id=ALICE)
    assert position.exchange == "paper"


async def test_a_delivery_retried_after_a_lost_answer_opens_one_position(server: Any) -> None:
    record = await strategy(server)
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router, drop_first=True) as worker:
            worker.groq.mock(return_value=completion(LONG))
            outcome = await worker.step(record)
    first, second = worker.webhook.requests
    assert first.content == second.content and first.headers["x-sparky-signature"] == \
        second.headers["x-sparky-signature"]
    assert outcome.signal_sent and worker.sleeps == [0.5]
    assert len(await server.services.store.list_positions(user_id=ALICE)) == 1
    paper = await server.services.accounts.get(ALICE, "paper")
    assert len(paper.requests) == 1  # one entry order
    [decision] = rows(server, "ai_trade_decisions")
    assert decision["webhook_status"] == 200
    assert "uplicate" in decision["webhook_response"]


async def test_the_next_decision_sees_the_open_position_and_the_paper_accounts_fees(start: Any) -> None:
    async with start(signalstudio_forward_secret=FORWARD_KEY, paper_fee_rate="0.001") as server:
        await server.services.store.add_local_user(LocalUser(ALICE, None, "Pro"))
        record = await strategy(server)
        with respx.mock(assert_all_called=False) as router:
            async with Worker(server, router) as worker:
                worker.groq.mock(side_effect=[completion(LONG), completion(HOLD)])
                await worker.step(record)
                await worker.step(record)
                prompt = json.loads(worker.groq.calls[1].request.content)["messages"][1]["content"]
        later = rows(server, "ai_trade_decisions")[1]
    assert "- BTCUSDT LONG quantity 0.015 entry 64000.0" in prompt
    portfolio = json.loads(later["portfolio_state"])
    assert [p["symbol"] for p in portfolio["positions"]] == ["BTCUSDT"]
    # read from the server's paper files (the worker writes none): the entry's fee, 0.1% of 960 USD
    assert Decimal(portfolio["equity_usd"]) == Decimal("9999.04")
    assert "Account equity: 9999.04 USD" in prompt


async def test_without_a_forward_secret_the_worker_signs_with_the_data_dirs_key_and_the_server_believes_it(
        start: Any) -> None:
    """The embedded defaults: no SIGNALSTUDIO_FORWARD_SECRET. A `sparky users` user's secret is kept
    only as a digest, so the worker signs with the key it shares with the server in the data dir."""
    async with start() as server:
        await server.services.store.add_local_user(LocalUser(ALICE, None, "Pro"))
        record = await strategy(server)
        with respx.mock(assert_all_called=False) as router:
            async with Worker(server, router) as worker:
                worker.groq.mock(return_value=completion(LONG))
                outcome = await worker.step(record)
        key = (server.services.settings.sparky_data_dir / "ai_worker_key").read_text().strip()
        [sent] = worker.webhook.requests
        [position] = await server.services.store.list_positions()
    assert (outcome.error, outcome.action, outcome.signal_sent) == (None, "LONG", True)
    assert sent.headers["x-sparky-signature"] == sign_forward(key, sent.content, int(
        sent.headers["x-sparky-signature"].split(",")[0].removeprefix("t=")))
    assert "secret" not in json.loads(sent.content)
    assert (position.user_id, position.symbol, position.side) == (ALICE, "BTCUSDT", "BUY")
    assert oct((server.services.settings.sparky_data_dir / "ai_worker_key").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("forward_secret", [None, FORWARD_KEY])
async def test_embedded_defaults_the_local_users_strategy_trades_on_paper_with_the_webhook_secret(
        start: Any, forward_secret: str | None) -> None:
    async with start(signalstudio_forward_secret=forward_secret) as server:
        record = await server.services.store.add_ai_strategy(AiStrategyRecord(
            user_id=LOCAL_USER_ID, exchange="paper", is_paper_trading=True, target_assets=["BTCUSDT"],
            status=RUNNING))
        with respx.mock(assert_all_called=False) as router:
            async with Worker(server, router) as worker:
                worker.groq.mock(return_value=completion(LONG))
                outcome = await worker.step(record)
        assert outcome.signal_sent and outcome.error is None
        body = json.loads(worker.webhook.requests[0].content)
        assert body["secret"] == SECRET and "x-sparky-signature" not in worker.webhook.requests[0].headers
        [position] = await server.services.store.list_positions(user_id=LOCAL_USER_ID)
        assert (position.exchange, position.side, position.stop_loss_price) == ("paper", "BUY", Decimal("62720.0"))
        assert server.paper.requests[0].bracket.stop_loss == Decimal("62720.0")


async def test_the_worker_leaves_the_servers_paper_files_alone(start: Any, data_dir: Any) -> None:
    async with start() as server:
        record = await server.services.store.add_ai_strategy(AiStrategyRecord(
            user_id=LOCAL_USER_ID, exchange="paper", is_paper_trading=True, target_assets=["BTCUSDT"],
            status=RUNNING))
        files = [server.services.settings.paper_state_path,
                 server.services.settings.paper_state_path.with_name("paper-exchange.json.journal")]
        with respx.mock(assert_all_called=False) as router:
            worker = Worker(server, router)
            async with worker:
                worker.groq.mock(return_value=completion(LONG))
                await worker.step(record)
                before = {path: path.read_bytes() if path.exists() else None for path in files}
            after = {path: path.read_bytes() if path.exists() else None for path in files}
        assert after == before  # the worker closing wrote nothing over the server's paper account
        assert len(await server.paper.positions()) == 1


async def test_a_signal_the_webhook_refuses_is_recorded_with_its_answer_and_not_retried(server: Any) -> None:
    record = await strategy(server, user_id="b0b00000-0000-4000-8000-00000000b0b0")  # not a user of the server
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            worker.groq.mock(return_value=completion(LONG))
            outcome = await worker.step(record)
    assert len(worker.webhook.requests) == 1 and worker.sleeps == []
    assert outcome.signal_sent and outcome.error is None
    [decision] = rows(server, "ai_trade_decisions")
    assert decision["webhook_status"] == 401
    assert "not a user of this server" in json.loads(decision["webhook_response"])["message"]
    assert rows(server, "ai_trade_log") == []  # nothing was acted on
    assert await server.services.store.list_positions() == []


async def test_market_data_that_cannot_be_read_is_an_error_and_the_model_is_not_asked(server: Any) -> None:
    record = await strategy(server)
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            router.get("https://fapi.asterdex.com/fapi/v1/klines").mock(return_value=httpx.Response(
                503, json={"code": -1001, "msg": "Internal error; unable to process your request."}))
            worker.groq.mock(return_value=completion(LONG))
            outcome = await worker.step(record)
    assert outcome.error is not None and outcome.error.startswith("aster market data for BTCUSDT")
    assert (outcome.decision_id, outcome.signal_sent) == (None, False)
    assert not worker.groq.called and worker.webhook.requests == []
    assert rows(server, "ai_trade_decisions") == []


async def test_a_close_closes_the_strategys_position(server: Any) -> None:
    record = await strategy(server)
    close = {"action": "CLOSE", "symbol": "BTCUSDT", "confidence": 0.55, "reasoning": "momentum faded"}
    with respx.mock(assert_all_called=False) as router:
        async with Worker(server, router) as worker:
            worker.groq.mock(side_effect=[completion(LONG), completion(close)])
            await worker.step(record)
            outcome = await worker.step(record)
    assert (outcome.action, outcome.signal_sent, outcome.error) == ("CLOSE", True, None)
    body = json.loads(worker.webhook.requests[1].content)
    assert (body["action"], body["symbol"], body["alert_id"]) == ("close", "BTCUSDT", outcome.decision_id)
    assert not {"position_size_usd", "stop_loss_percent", "take_profit_percent"} & set(body)
    assert await server.services.store.list_positions(user_id=ALICE) == []
    [_, closed] = rows(server, "ai_trade_log")
    assert closed["signal_action"] == "CLOSE" and closed["size_usd"] is None
