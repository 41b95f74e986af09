"""The model client against Groq's HTTP API (respx; shapes from Groq's API reference: a chat
completion's `choices[0].message.content` and `usage`, errors as `{"error": {"message", "type"}}`).
Retries happen on 429, 5xx and no answer only, at most AI_LLM_MAX_RETRIES, after the provider's
retry-after; the sleeps are recorded, never slept."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
import structlog.testing

from sparky.ai import llm
from sparky.ai.llm import GroqModel, ModelUnavailable, OpenAiCompatibleModel
from tests.ai_model import chat_completion

GROQ = "https://api.groq.com/openai/v1/chat/completions"
KEY = "gsk_test_key_never_logged"
MESSAGES = [{"role": "system", "content": "rules"}, {"role": "user", "content": "state"}]
ANSWER = '{"action": "HOLD", "confidence": 0.4, "reasoning": "no edge"}'


def completion(text: str = ANSWER, model: str = "llama-3.3-70b-versatile") -> dict[str, Any]:
    return chat_completion(text, model=model, prompt_tokens=1834, completion_tokens=61)


def error(status: int, message: str, kind: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": kind}}, headers=headers)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
async def model(sleeps: list[float]) -> Any:
    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    groq = GroqModel(api_key=KEY, model="llama-3.3-70b-versatile", timeout=20, temperature=0.2, max_retries=2,
                     sleep=sleep)
    yield groq
    await groq.aclose()


@respx.mock
async def test_an_answer_with_its_tokens_and_the_request_groq_received(model: Any) -> None:
    route = respx.post(GROQ).mock(return_value=httpx.Response(200, json=completion()))
    reply = await model.decide(MESSAGES)
    assert (reply.text, reply.model, reply.prompt_tokens, reply.completion_tokens) == (
        ANSWER, "llama-3.3-70b-versatile", 1834, 61)
    assert reply.latency_ms >= 0
    [call] = route.calls
    assert call.request.headers["authorization"] == f"Bearer {KEY}"
    body = json.loads(call.request.content)
    assert body == {"model": "llama-3.3-70b-versatile", "messages": MESSAGES, "temperature": 0.2,
                    "response_format": {"type": "json_object"}}


@respx.mock
async def test_429_is_retried_after_the_retry_after_groq_gives(model: Any, sleeps: list[float]) -> None:
    route = respx.post(GROQ).mock(side_effect=[
        error(429, "Rate limit reached for model", "tokens", **{"retry-after": "7"}),
        httpx.Response(200, json=completion()),
    ])
    reply = await model.decide(MESSAGES)
    assert reply.text == ANSWER and route.call_count == 2
    assert sleeps == [7.0]


@respx.mock
async def test_5xx_three_times_gives_up_after_the_retries_allowed(model: Any, sleeps: list[float]) -> None:
    route = respx.post(GROQ).mock(return_value=error(500, "Internal Server Error", "internal_server_error"))
    with pytest.raises(ModelUnavailable, match="answered 500") as raised:
        await model.decide(MESSAGES)
    assert route.call_count == 3  # the first and AI_LLM_MAX_RETRIES = 2 more
    assert sleeps == [1.0, 2.0]  # exponential backoff without a retry-after
    assert KEY not in raised.value.reason


@respx.mock
async def test_a_400_is_not_retried(model: Any, sleeps: list[float]) -> None:
    route = respx.post(GROQ).mock(return_value=error(
        400, "response_format json_object is not supported with this model", "invalid_request_error"))
    with pytest.raises(ModelUnavailable, match="400: invalid_request_error response_format"):
        await model.decide(MESSAGES)
    assert route.call_count == 1 and sleeps == []


@respx.mock
async def test_a_401_is_not_retried(model: Any) -> None:
    route = respx.post(GROQ).mock(return_value=error(401, "Invalid API Key", "invalid_request_error"))
    with pytest.raises(ModelUnavailable, match="401"):
        await model.decide(MESSAGES)
    assert route.call_count == 1


@respx.mock
async def test_a_timeout_is_retried_then_reported(model: Any, sleeps: list[float]) -> None:
    route = respx.post(GROQ).mock(side_effect=httpx.ReadTimeout("no answer"))
    with pytest.raises(ModelUnavailable, match="did not answer within 20 s"):
        await model.decide(MESSAGES)
    assert route.call_count == 3 and len(sleeps) == 2


@respx.mock
async def test_a_timeout_then_an_answer(model: Any) -> None:
    respx.post(GROQ).mock(side_effect=[httpx.ConnectTimeout("slow"), httpx.Response(200, json=completion())])
    assert (await model.decide(MESSAGES)).text == ANSWER


@pytest.mark.parametrize("reply", [
    httpx.Response(200, json={"id": "x", "object": "chat.completion", "choices": []}),
    httpx.Response(200, json={"choices": [{"message": {"role": "assistant", "content": None}}]}),
    httpx.Response(200, text="<html>gateway</html>", headers={"content-type": "text/html"}),
])
@respx.mock
async def test_a_malformed_body_is_unavailable_not_retried(model: Any, reply: httpx.Response) -> None:
    route = respx.post(GROQ).mock(return_value=reply)
    with pytest.raises(ModelUnavailable):
        await model.decide(MESSAGES)
    assert route.call_count == 1


@respx.mock
async def test_an_openai_compatible_provider_gets_its_own_path() -> None:
    route = respx.post("http://127.0.0.1:11434/v1/chat/completions").mock(
        return_value=httpx.Response(200, json=completion(model="qwen2.5:7b")))
    local = OpenAiCompatibleModel(base_url="http://127.0.0.1:11434/v1", api_key=None, model="qwen2.5:7b",
                                  timeout=5, temperature=0, max_retries=0)
    try:
        reply = await local.decide(MESSAGES)
    finally:
        await local.aclose()
    assert reply.model == "qwen2.5:7b" and route.call_count == 1
    assert "authorization" not in route.calls[0].request.headers


@respx.mock
async def test_an_openai_compatible_provider_429_then_answer() -> None:
    sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        sleeps.append(seconds)

    route = respx.post("https://api.openai.com/v1/chat/completions").mock(side_effect=[
        error(429, "Rate limit", "rate_limit_exceeded", **{"retry-after-ms": "1500"}),
        httpx.Response(200, json=completion(model="gpt-4o-mini"))])
    remote = OpenAiCompatibleModel(base_url="https://api.openai.com/v1", api_key="sk-test", model="gpt-4o-mini",
                                   timeout=5, temperature=0, max_retries=2, sleep=sleep)
    try:
        assert (await remote.decide(MESSAGES)).model == "gpt-4o-mini"
    finally:
        await remote.aclose()
    assert route.call_count == 2 and sleeps == [1.5]
    assert route.calls[0].request.headers["authorization"] == "Bearer sk-test"


@respx.mock
async def test_every_call_logs_its_tokens_and_latency_never_the_key(model: Any,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    respx.post(GROQ).mock(side_effect=[error(429, "Rate limit reached", "tokens", **{"retry-after": "1"}),
                                       httpx.Response(200, json=completion())])
    # the app's logging (configured by earlier tests) filters below WARNING and caches loggers on
    # first use: start from structlog's defaults and a fresh logger, and put the app's back after
    configured = structlog.get_config()
    structlog.reset_defaults()
    monkeypatch.setattr(llm, "log", structlog.get_logger("sparky.ai.llm"))
    try:
        with structlog.testing.capture_logs() as logs:
            await model.decide(MESSAGES)
    finally:
        structlog.configure(**configured)
    [call] = [entry for entry in logs if entry["event"] == "ai.model_call"]
    assert (call["model"], call["prompt_tokens"], call["completion_tokens"]) == ("llama-3.3-70b-versatile", 1834, 61)
    assert isinstance(call["latency_ms"], int)
    assert [entry["event"] for entry in logs].count("ai.model_retry") == 1
    assert KEY not in repr(logs)
