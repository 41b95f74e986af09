"""The life of a webhook (docs/ARCHITECTURE.md): intake → authenticate → validate → dedupe → record → execute.

Every rejection names its stage and reason in the response, the log and, once the sender is
authenticated, the `webhook_requests` row. Nothing is executed before the row is committed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from sparky.errors import BadRequest, ServiceUnavailable, Unauthorized
from sparky.exchanges.accounts import ExchangeAccounts
from sparky.execution.dispatcher import Dispatcher, ShuttingDown
from sparky.execution.executor import Job
from sparky.execution.outcome import jsonable
from sparky.observability.timeline import note_venue
from sparky.signals.ai_signals import check_ai_signal
from sparky.signals.auth import LOCAL_USER_ID, Authenticator, Principal
from sparky.signals.dedupe import DuplicateGuard
from sparky.signals.duplicates import duplicate_body
from sparky.signals.freshness import stale_signal
from sparky.signals.gates import UNGATED, Gates, Rejection
from sparky.signals.intake import read_body
from sparky.signals.models import Signal
from sparky.signals.normalise import build_signal, public_payload
from sparky.signals.rate_limits import RateLimits
from sparky.signals.symbols import dedupe_body, with_canonical_symbol
from sparky.store.base import (
    DuplicateRequest,
    RequestStatus,
    Store,
    StoreUnavailable,
    WebhookRequestRecord,
    utcnow,
)
from sparky.store.tenants import QuotaExceeded

log = structlog.get_logger("sparky.webhook")


@dataclass
class WebhookResponse:
    status_code: int
    body: dict[str, Any]


def _short(value: Any, limit: int = 64) -> str | None:
    return None if value is None else str(value)[:limit]


class WebhookPipeline:
    def __init__(self, *, authenticator: Authenticator, dedupe: DuplicateGuard, dispatcher: Dispatcher,
                 store: Store, accounts: ExchangeAccounts, gates: Gates | None = None,
                 limits: RateLimits | None = None, max_signal_age_sec: float = 0) -> None:
        self._auth = authenticator
        self._dedupe = dedupe
        self._dispatcher = dispatcher
        self._store = store
        self._accounts = accounts
        self._gates = gates
        self._limits = limits
        self._max_signal_age = max_signal_age_sec

    async def handle(self, raw: bytes, content_type: str | None, source_ip: str | None,
                     headers: Mapping[str, str] | None = None) -> WebhookResponse:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            body = read_body(raw, content_type)                            # 400, not recorded: sender unknown
            fields = body.fields                                           # refused values left out
            try:
                principal = await self._auth.authenticate(fields, raw, headers)  # 401, not recorded
            except Unauthorized:
                if body.refusal is not None:   # a refused value is a 400 naming it, whoever sent it
                    raise body.refusal from None
                raise
        except (BadRequest, Unauthorized) as failed:  # counted per source address: 429 past its limit
            raise (await self._limits.failed_attempt(source_ip, failed) if self._limits else failed) from None
        user_id = principal.user_id
        structlog.contextvars.bind_contextvars(user_id=user_id)
        record = self._record(request_id, principal, fields, source_ip)
        try:
            if body.refusal is not None:
                raise body.refusal
            signal = build_signal(fields, lambda name: self._accounts.supports(user_id, name),
                                  self._accounts.names_for(user_id))
            signal = await with_canonical_symbol(self._accounts, user_id, signal)  # one spelling per instrument
            await check_ai_signal(self._store, user_id, signal)  # the sender's own AI strategy; paper stays paper
        except BadRequest as err:
            await self._record_terminal(record, RequestStatus.REJECTED, err.message, err.body(), 400)
            log.info("webhook.rejected", stage="validate", reason=err.message)
            raise
        structlog.contextvars.bind_contextvars(exchange=signal.exchange, symbol=signal.symbol)
        note_venue(signal.exchange)  # the metrics' venue label: a venue the user's accounts support
        record.signal = signal.model_dump(mode="json")
        record.exchange, record.action, record.symbol = signal.exchange, signal.action.value, signal.symbol
        # a signed forward is accepted once: without an alert_id its signature is the key (with one,
        # the signature covers the alert_id, so a replay carries the same key and is refused as well)
        record.strategy_id, record.idempotency_key = signal.strategy_id, signal.alert_id or principal.replay_key

        if self._limits is not None:  # per user, after authentication: recorded when refused
            rejection = await self._limits.for_user(user_id, signal)
            if rejection is not None:
                return await self._refuse(record, rejection, started, stage="rate_limit",
                                          status=RequestStatus.RATE_LIMITED)

        stale = stale_signal(signal, record.created_at, self._max_signal_age)  # every user, the local one too
        if stale is not None:
            return await self._refuse(record, stale, started, stage="signal_age")

        admission = UNGATED
        if self._gates is not None and user_id != LOCAL_USER_ID:
            # 503 when the gates cannot be checked: nothing recorded
            admission = await self._gates.admit(user_id, signal, record.created_at)
            if admission.rejection is not None:
                return await self._refuse(record, admission.rejection, started, stage="gate")
            if admission.strategy_id is not None:  # named by name or id: the records carry its id
                signal = signal.model_copy(update={"strategy_id": admission.strategy_id})
                record.signal, record.strategy_id = signal.model_dump(mode="json"), signal.strategy_id

        if signal.alert_id is None:
            earlier = await self._dedupe.claim(user_id, dedupe_body(record.payload, signal), request_id)
            if earlier is not None:
                return await self._duplicate(record, earlier, started)
        job = Job(request_id=request_id, user_id=user_id, signal=signal)
        try:
            outcome = await self._dispatcher.submit(job, record, count_against=admission.limit,
                                                    counted=admission.counted)
        except DuplicateRequest as dup:
            record.idempotency_key = None
            return await self._duplicate(record, dup.existing_id, started)
        except QuotaExceeded as full:
            await self._release(signal, principal, record)
            record.idempotency_key = None
            assert admission.over_quota is not None  # only a counted request can exceed its quota
            rejection = admission.over_quota(full.current, full.limit)
            return await self._refuse(record, rejection, started, stage="quota", status=RequestStatus.RATE_LIMITED)
        except (StoreUnavailable, ShuttingDown) as err:
            await self._release(signal, principal, record)
            log.error("webhook.not_recorded", reason=type(err).__name__)
            raise ServiceUnavailable(
                "Signal not recorded, nothing was executed; retry shortly"
                if isinstance(err, StoreUnavailable) else "Server is shutting down; nothing was executed"
            ) from err
        if outcome is None:
            return WebhookResponse(202, {
                "success": True, "action": "accepted", "request_id": request_id,
                "message": "Signal recorded; execution continues. GET /webhook/{request_id} shows the outcome.",
                "duration": self._duration(started),
            })
        return WebhookResponse(outcome.http_status,
                               {**outcome.body, "request_id": request_id, "duration": self._duration(started)})

    async def _refuse(self, record: WebhookRequestRecord, rejection: Rejection, started: float, *, stage: str,
                      status: RequestStatus = RequestStatus.REJECTED) -> WebhookResponse:
        body = {**rejection.body, "request_id": record.id}
        await self._record_terminal(record, status, rejection.message, body, rejection.http_status)
        log.info("webhook.rejected", stage=stage, reason=rejection.message)
        return WebhookResponse(rejection.http_status, {**body, "duration": self._duration(started)})

    @staticmethod
    def _record(request_id: str, principal: Principal, fields: dict[str, Any],
                source_ip: str | None) -> WebhookRequestRecord:
        return WebhookRequestRecord(
            id=request_id, status=RequestStatus.PENDING, created_at=utcnow(), user_id=principal.user_id,
            payload=jsonable(public_payload(fields)), webhook_secret=principal.secret_fingerprint,
            exchange=_short(fields.get("exchange")), action=_short(fields.get("action")),
            symbol=_short(fields.get("symbol")), source_ip=source_ip,
        )

    async def _record_terminal(self, record: WebhookRequestRecord, status: RequestStatus, error: str | None,
                               body: dict[str, Any], http_status: int) -> None:
        record.status, record.error_message, record.result, record.http_status = status, error, body, http_status
        record.processed_at = utcnow()
        try:
            await self._store.insert_webhook_request(record)
        except (StoreUnavailable, DuplicateRequest):
            log.error("webhook.audit_row_lost", status=status.value)

    async def _duplicate(self, record: WebhookRequestRecord, earlier: str, started: float) -> WebhookResponse:
        body = await duplicate_body(self._store, record.id, earlier)
        await self._record_terminal(record, RequestStatus.DUPLICATE, f"Duplicate of {earlier}", body, 200)
        log.info("webhook.duplicate", duplicate_of=earlier)
        return WebhookResponse(200, {**body, "duration": self._duration(started)})

    async def _release(self, signal: Signal, principal: Principal, record: WebhookRequestRecord) -> None:
        if signal.alert_id is None:
            await self._dedupe.release(principal.user_id, dedupe_body(record.payload, signal))

    @staticmethod
    def _duration(started: float) -> str:
        return f"{(time.perf_counter() - started) * 1000:.0f}ms"
