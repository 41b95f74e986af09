"""The model behind a decision: one chat completion, answered as one JSON object.

`DecisionModel` is what the step asks; `ChatModel` implements it over one of two transports:
- Groq (the default), through the `groq` SDK, which posts to `{base}/openai/v1/chat/completions`;
- any other OpenAI-compatible provider (`AI_LLM_BASE_URL`, e.g. `https://api.openai.com/v1` or a
  local server's `http://127.0.0.1:11434/v1`), through httpx, posting to `{base}/chat/completions`.
  The SDK cannot serve those: it always appends Groq's own `/openai/v1/...` path to the base URL.

Both send the same request (`response_format` json_object, the temperature, the messages) and
both retry the same way, here and nowhere else (the SDK's own retries are off): a 429, a 5xx, a
timeout or a connection failure is tried again up to AI_LLM_MAX_RETRIES times, after the provider's
`retry-after` when it gives one (capped), else after an exponential backoff; any other 4xx fails at
once. What is left is `ModelUnavailable(reason)`; the key never appears in a reason or a log.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt

log = structlog.get_logger("sparky.ai.llm")

#: a provider's retry-after beyond this is not waited for within one cycle
MAX_RETRY_AFTER_SEC = 30.0
BACKOFF_FIRST_SEC = 1.0
BACKOFF_MAX_SEC = 8.0

Messages = Sequence[dict[str, str]]
Sleep = Callable[[float], Awaitable[None]]


class ModelUnavailable(Exception):
    """The model gave no usable answer (after the retries allowed)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ModelReply:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_ms: int


class DecisionModel(Protocol):
    async def decide(self, messages: Messages) -> ModelReply: ...

    async def aclose(self) -> None: ...


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


def retry_after_seconds(headers: httpx.Headers | None) -> float | None:
    """The provider's `retry-after-ms` or `retry-after` (seconds), when it is a sane number."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        try:
            value = float(headers.get(name, "")) / scale
        except ValueError:
            continue
        if 0 <= value < float("inf"):
            return min(value, MAX_RETRY_AFTER_SEC)
    return None


def _error_message(body: Any) -> str:
    """`{"error": {"message": ..., "type": ...}}` as Groq and OpenAI write errors, shortened."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        text = " ".join(str(error.get(k)) for k in ("type", "message") if error.get(k))
        return text[:300]
    return ""


def _status_failure(status: int, body: Any, headers: httpx.Headers | None) -> Exception:
    detail = _error_message(body)
    reason = f"the model's provider answered {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        return _Retryable(reason, retry_after_seconds(headers))
    return ModelUnavailable(reason)


def read_completion(body: Any) -> tuple[str, str | None, int | None, int | None]:
    """(text, model, prompt tokens, completion tokens) of a chat completion; ModelUnavailable when
    it has no message text (`choices[0].message.content`)."""
    if not isinstance(body, dict):
        raise ModelUnavailable("the model's answer is not a JSON object")
    try:
        text = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ModelUnavailable("the model's answer has no choices[0].message.content") from None
    if not isinstance(text, str):
        raise ModelUnavailable("the model's answer has no text")
    usage: dict[str, Any] = body["usage"] if isinstance(body.get("usage"), dict) else {}

    def count(name: str) -> int | None:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    model = body.get("model") if isinstance(body.get("model"), str) else None
    return text, model, count("prompt_tokens"), count("completion_tokens")


Send = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ChatModel:
    """`DecisionModel` over a transport (`send`: the request body → the completion's JSON, raising
    `_Retryable` or `ModelUnavailable`)."""

    def __init__(self, send: Send, *, model: str, temperature: float, max_retries: int,
                 sleep: Sleep | None = None, close: Callable[[], Awaitable[None]] | None = None) -> None:
        self._send = send
        self._model = model
        self._temperature = temperature
        self._max_retries = max_retries
        self._sleep = sleep
        self._close = close

    async def decide(self, messages: Messages) -> ModelReply:
        request = {"model": self._model, "messages": list(messages), "temperature": self._temperature,
                   "response_format": {"type": "json_object"}}
        started = time.perf_counter()
        options: dict[str, Any] = {"sleep": self._sleep} if self._sleep is not None else {}
        try:
            async for attempt in AsyncRetrying(stop=stop_after_attempt(self._max_retries + 1),
                                               retry=retry_if_exception_type(_Retryable), wait=_wait,
                                               reraise=True, before_sleep=_note_retry, **options):
                with attempt:
                    body = await self._send(request)
        except _Retryable as err:
            log.warning("ai.model_unavailable", model=self._model, reason=err.reason)
            raise ModelUnavailable(err.reason) from None
        except ModelUnavailable as err:
            log.warning("ai.model_unavailable", model=self._model, reason=err.reason)
            raise
        text, model, prompt_tokens, completion_tokens = read_completion(body)
        latency_ms = round((time.perf_counter() - started) * 1000)
        log.info("ai.model_call", model=model or self._model, prompt_tokens=prompt_tokens,
                 completion_tokens=completion_tokens, latency_ms=latency_ms)
        return ModelReply(text, model or self._model, prompt_tokens, completion_tokens, latency_ms)

    async def aclose(self) -> None:
        if self._close is not None:
            await self._close()


def _wait(state: RetryCallState) -> float:
    error = state.outcome.exception() if state.outcome is not None else None
    if isinstance(error, _Retryable) and error.retry_after is not None:
        return error.retry_after
    return min(BACKOFF_FIRST_SEC * 2 ** (state.attempt_number - 1), BACKOFF_MAX_SEC)


def _note_retry(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome is not None else None
    log.info("ai.model_retry", attempt=state.attempt_number, reason=getattr(error, "reason", type(error).__name__))


class GroqModel(ChatModel):
    """Groq through its SDK (the SDK's own retries off: they are `ChatModel`'s)."""

    def __init__(self, *, api_key: str, model: str, timeout: float, temperature: float, max_retries: int,
                 base_url: str | None = None, sleep: Sleep | None = None) -> None:
        import groq  # the SDK is imported by the worker only

        http_client = httpx.AsyncClient(timeout=timeout)
        client = groq.AsyncGroq(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0,
                                http_client=http_client)

        async def send(request: dict[str, Any]) -> dict[str, Any]:
            try:
                completion = await client.chat.completions.create(**request)
            except groq.APIStatusError as err:
                body = err.body if isinstance(err.body, dict) else None
                raise _status_failure(err.status_code, body, err.response.headers) from None
            except groq.APITimeoutError:
                raise _Retryable(f"the model did not answer within {timeout:g} s") from None
            except groq.APIConnectionError:
                raise _Retryable("the model's provider could not be reached") from None
            except groq.APIResponseValidationError:
                raise ModelUnavailable("the model's answer is not a chat completion") from None
            if not hasattr(completion, "model_dump"):  # a body that is not JSON comes back as its text
                raise ModelUnavailable("the model's answer is not JSON")
            return completion.model_dump()

        async def close() -> None:
            await client.close()
            await http_client.aclose()

        super().__init__(send, model=model, temperature=temperature, max_retries=max_retries, sleep=sleep,
                         close=close)


class OpenAiCompatibleModel(ChatModel):
    """Any provider serving `POST {base_url}/chat/completions` the OpenAI way, over httpx."""

    def __init__(self, *, base_url: str, api_key: str | None, model: str, timeout: float, temperature: float,
                 max_retries: int, sleep: Sleep | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        client = httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=timeout, headers=headers)

        async def send(request: dict[str, Any]) -> dict[str, Any]:
            try:
                response = await client.post("chat/completions", json=request)
            except httpx.TimeoutException:
                raise _Retryable(f"the model did not answer within {timeout:g} s") from None
            except httpx.TransportError:
                raise _Retryable("the model's provider could not be reached") from None
            try:
                body = response.json()
            except ValueError:
                body = None
            if response.status_code != 200:
                raise _status_failure(response.status_code, body, response.headers)
            if not isinstance(body, dict):
                raise ModelUnavailable("the model's answer is not JSON")
            return body

        super().__init__(send, model=model, temperature=temperature, max_retries=max_retries, sleep=sleep,
                         close=client.aclose)
