"""Posting an AI decision to the webhook, so it passes the same authentication, quota, risk limits
and protection as any TradingView alert.

The body is built once per decision and its `alert_id` is the decision's id: a delivery retried
after a connection failure sends the very same bytes (and signature), and the webhook answers the
second one as a duplicate of the first, so a decision never opens twice. Authentication:
- the local user's signals carry the local webhook secret in `secret`, like any alert (a signed
  forward may not act for the local user);
- every other user's are signed as a SignalStudio forward (`X-Sparky-Signature`, keyed with
  SIGNALSTUDIO_FORWARD_SECRET, or without it with the data dir's worker key, ai/worker_key.py; the
  webhook checks the user exists). Without a key they cannot be authenticated (only digests of
  users' own secrets are stored): `NotDeliverable`.
A 4xx or 5xx answer is the webhook's word and is returned, never retried (TradingView never resends a
4xx; a 5xx is recorded with the decision for the operator to see).
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import structlog

from sparky.signals.auth import LOCAL_USER_ID, SIGNATURE_HEADER, sign_forward

log = structlog.get_logger("sparky.ai.delivery")

#: attempts of one delivery when the webhook cannot be reached (the same body every time)
DELIVERY_ATTEMPTS = 3
RETRY_PAUSE_SEC = 0.5


class NotDeliverable(Exception):
    """The signal could not reach the webhook, or could not be authenticated for it."""


@dataclass(frozen=True)
class WebhookAnswer:
    status: int
    body: dict[str, Any]

    @property
    def accepted(self) -> bool:
        """The webhook took the signal (executed, recorded for execution, or a duplicate of one)."""
        return 200 <= self.status < 300


class SignalDelivery:
    def __init__(self, client: httpx.AsyncClient, url: str, *, forward_secret: str | None,
                 legacy_secret: str | None, sleep: Callable[[float], Awaitable[Any]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._url = url
        self._forward_secret = forward_secret
        self._legacy_secret = legacy_secret
        self._sleep = sleep
        self._clock = clock

    def request(self, signal: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The exact bytes and headers every attempt of this signal's delivery sends."""
        headers = {"content-type": "application/json"}
        if signal.get("user_id") == LOCAL_USER_ID:  # a signed forward never acts for the local user
            if not self._legacy_secret:
                raise NotDeliverable("the local user's webhook secret is not known to the AI worker: set "
                                     "WEBHOOK_SECRET (or run it on the server's data dir)")
            return json.dumps({**signal, "secret": self._legacy_secret}, separators=(",", ":")).encode(), headers
        if not self._forward_secret:
            raise NotDeliverable("signals for this user must be signed: set SIGNALSTUDIO_FORWARD_SECRET on the "
                                 "server and the AI worker (the same value)")
        raw = json.dumps(signal, separators=(",", ":")).encode()
        headers[SIGNATURE_HEADER] = sign_forward(self._forward_secret, raw, int(self._clock()))
        return raw, headers

    async def send(self, raw: bytes, headers: dict[str, str]) -> WebhookAnswer:
        """Post `raw`; connection failures are retried with the same bytes (the webhook dedupes them
        by alert_id). NotDeliverable when no attempt got an answer."""
        failure = ""
        for attempt in range(1, DELIVERY_ATTEMPTS + 1):
            try:
                response = await self._client.post(self._url, content=raw, headers=headers)
            except httpx.TransportError as err:
                failure = type(err).__name__
                log.warning("ai.delivery_retry", attempt=attempt, reason=failure)
                if attempt < DELIVERY_ATTEMPTS and self._sleep is not None:
                    await self._sleep(RETRY_PAUSE_SEC * attempt)
                continue
            try:
                body = response.json()
            except ValueError:
                body = {"text": response.text[:1000]}
            return WebhookAnswer(response.status_code, body if isinstance(body, dict) else {"answer": body})
        raise NotDeliverable(f"the webhook at {self._url} could not be reached ({failure})")
