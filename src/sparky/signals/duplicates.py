"""What a duplicate alert is answered: nothing ran for it, and how the original ended.

Always HTTP 200 (TradingView must not resend it). `success` is the original's: a duplicate of a
rejected or failed alert is no success, and `original` says how that one ended, so a user looking
at the resend's answer learns what happened without finding the first request.
"""

from __future__ import annotations

from typing import Any

import structlog

from sparky.store.base import RequestStatus, Store, StoreUnavailable, WebhookRequestRecord

log = structlog.get_logger("sparky.webhook")

IGNORED = "Duplicate alert ignored; nothing was executed"


def original_view(row: WebhookRequestRecord | None) -> dict[str, Any]:
    """How the original request ended, as its own answer said (status, action, message)."""
    if row is None or row.status is RequestStatus.PENDING:
        # recorded and executing, or claimed an instant ago and about to be recorded
        return {"status": RequestStatus.PENDING.value, "success": True, "action": "accepted",
                "message": "The original is still executing"}
    result = row.result or {}
    return {
        "status": row.status.value,
        "success": bool(result.get("success", row.status is RequestStatus.SUCCESS)),
        "action": result.get("action"),
        "message": result.get("message") or result.get("error") or row.error_message,
        "http_status": row.http_status,
    }


async def duplicate_body(store: Store, request_id: str, earlier: str) -> dict[str, Any]:
    try:
        row = await store.get_webhook_request(earlier)
    except StoreUnavailable:  # the answer is still "duplicate, nothing ran": only the detail is lost
        log.warning("webhook.duplicate_original_unread", duplicate_of=earlier)
        return {"success": True, "action": "duplicate", "request_id": request_id, "duplicate_of": earlier,
                "message": IGNORED}
    original = original_view(row)
    success = original.pop("success")
    if original["status"] == RequestStatus.PENDING.value:
        message = f"{IGNORED}; the original is still executing"
    elif original["status"] == RequestStatus.SUCCESS.value:
        message = IGNORED
    else:
        message = f"{IGNORED}; the original was {original['status']}: {original['message']}"
    return {"success": success, "action": "duplicate", "request_id": request_id, "duplicate_of": earlier,
            "message": message, "original": original}
