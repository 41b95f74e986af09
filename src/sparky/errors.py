"""Domain errors that end a request. Each carries its HTTP status; one handler renders them."""

from __future__ import annotations

from typing import Any


class SparkyError(Exception):
    status_code = 400

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        hint: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint
        self.data = data

    def body(self) -> dict[str, Any]:
        """Like every refusal: `success`, `action` and `message` (`error`, the same text, as before)."""
        body: dict[str, Any] = {"success": False, "action": "rejected", "error": self.message,
                                "message": self.message}
        if self.field:
            body["field"] = self.field
        if self.hint:
            body["hint"] = self.hint
        if self.data is not None:
            body["data"] = self.data
        return body


class BadRequest(SparkyError):
    status_code = 400


class Unauthorized(SparkyError):
    status_code = 401


class Forbidden(SparkyError):
    status_code = 403


class NotFound(SparkyError):
    status_code = 404


class PayloadTooLarge(SparkyError):
    status_code = 413


class TooManyRequests(SparkyError):
    status_code = 429


class ServiceUnavailable(SparkyError):
    """Only before anything was recorded or executed (TradingView resends 5xx)."""

    status_code = 503
