"""POST /webhook (TradingView and SignalStudio alerts) and GET /webhook/{request_id} (admin)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from sparky.api.alert_schema import alert_schema
from sparky.api.deps import AdminDep, ServicesDep
from sparky.errors import NotFound, PayloadTooLarge, SparkyError
from sparky.execution.outcome import jsonable
from sparky.services import Services
from sparky.signals.source_ips import SourceAllowlist


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit` bytes (never buffered whole)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Body larger than {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


class DirectRoute(APIRoute):
    """A route whose endpoint takes the Request and returns the Response itself. FastAPI's
    per-request work (solving parameters and dependencies, serializing a return value) is skipped:
    on the hot path that was ~40 % of the framework's CPU per webhook. The route stays in the docs."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


#: what the docs show of the body (the pipeline reads it: JSON, JSON sent as text/plain, or a form)
ALERT_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": alert_schema()},
    "text/plain": {"schema": {"type": "string", "description": "the same JSON object, sent as text"}},
}}}


def build_router(allowlist: SourceAllowlist) -> APIRouter:
    router = APIRouter(tags=["webhook"])

    async def receive_webhook(request: Request) -> JSONResponse:
        services: Services = request.app.state.services
        with services.metrics.webhook() as timeline:  # in flight, then counted by outcome and venue
            try:
                client = request.client.host if request.client else None
                allowlist.check(client)  # 403 before the body is read (ALLOWED_IPS)
                raw = await read_limited(request, services.settings.max_body_bytes)
                result = await services.pipeline.handle(raw, request.headers.get("content-type"), client,
                                                        request.headers)
            except SparkyError as refused:
                services.metrics.answered(timeline, refused.status_code, refused.body())
                raise
            except Exception:
                services.metrics.answered(timeline, 500, None)
                raise
            services.metrics.answered(timeline, result.status_code, result.body)
        return JSONResponse(result.body, status_code=result.status_code)

    router.add_api_route("/webhook", receive_webhook, methods=["POST"], summary="Receive an alert",
                         route_class_override=DirectRoute, openapi_extra=ALERT_BODY)

    @router.get("/webhook/{request_id}", summary="Recorded outcome of a webhook request (admin)")
    async def webhook_outcome(request_id: str, services: ServicesDep, _: AdminDep) -> JSONResponse:
        record = await services.store.get_webhook_request(request_id)
        if record is None:
            raise NotFound(f"No webhook request {request_id}")
        return JSONResponse(jsonable({
            "request_id": record.id,
            "status": record.status.value,
            "exchange": record.exchange,
            "action": record.action,
            "symbol": record.symbol,
            "created_at": record.created_at,
            "processed_at": record.processed_at,
            "error_message": record.error_message,
            "http_status": record.http_status,
            "result": record.result,
            "payload": record.payload,
        }))

    return router
