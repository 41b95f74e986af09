"""What an execution ended with: the row status, the HTTP status and the response body.

Every answer that is not a success carries `success: false`, `action` and `message` (and `error`,
the same reason, where the original had it). Money in answers is rounded to cents (`cents`);
quantities and prices keep the venue's precision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, overload

from sparky.errors import SparkyError
from sparky.exchanges.base import Order
from sparky.exchanges.errors import ExchangeError
from sparky.store.base import PositionRecord, RequestStatus, TradeRecord

#: Decimals beyond this exponent stay text: int() of 1e400000 takes seconds, float() of it is inf
_NUMBER_EXPONENT_LIMIT = 100
CENT = Decimal("0.01")


@overload
def cents(value: Decimal) -> Decimal: ...
@overload
def cents(value: None) -> None: ...
def cents(value: Decimal | None) -> Decimal | None:
    """Money as answers show it: rounded to the cent, half away from zero (2.345 → 2.35,
    −2.345 → −2.35). Rows keep the full precision; only what users read is rounded."""
    return None if value is None else value.quantize(CENT, rounding=ROUND_HALF_UP)


#: values returned as they are, looked up by exact type first (most values in a body are these)
_PLAIN = frozenset({str, int, float, bool, type(None)})


def jsonable(value: Any) -> Any:
    """Decimals become JSON numbers (int when integral; text beyond 1e±100 or not finite), datetimes ISO 8601 UTC."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {k: v if type(v) in _PLAIN else jsonable(v) for k, v in value.items()}
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > _NUMBER_EXPONENT_LIMIT:
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


@dataclass
class Outcome:
    status: RequestStatus
    body: dict[str, Any]
    http_status: int = 200
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def rejected(cls, message: str, *, http_status: int = 400) -> Outcome:
        return cls(RequestStatus.REJECTED,
                   {"success": False, "action": "rejected", "error": message, "message": message},
                   http_status, message)

    @classmethod
    def failed(cls, message: str, *, action: str = "failed", **body: Any) -> Outcome:
        """Row status `failed`; `action` says which step failed (close_failed, protection_failed…)."""
        return cls(RequestStatus.FAILED,
                   {"success": False, "action": action, "error": message, "message": message, **body},
                   200, message)

    @classmethod
    def refusal(cls, err: SparkyError) -> Outcome:
        """What Sparky refused (a field, no credentials stored): its status, with the field, hint
        and data it names."""
        outcome = cls.rejected(err.message, http_status=err.status_code)
        outcome.body.update({k: v for k, v in err.body().items() if k in ("field", "hint", "data")})
        return outcome

    @classmethod
    def venue_error(cls, err: ExchangeError, exchange: str) -> Outcome:
        """A venue's error named for `exchange`: `failed` (HTTP 200) or the 4xx it maps to; the
        error kept for the notification."""
        message = err.named(exchange)
        outcome = cls.failed(message) if err.http_status == 200 else cls.rejected(message, http_status=err.http_status)
        outcome.extra["exchange_error"] = err
        return outcome

    @classmethod
    def expired(cls, message: str) -> Outcome:
        return cls(RequestStatus.EXPIRED,
                   {"success": False, "action": "expired", "error": message, "message": message},
                   200, "expired after restart")

    @classmethod
    def risk_limit(cls, limit_type: str, current: int, limit: int, message: str) -> Outcome:
        """The original's 429 shape: {error: 'Risk limit exceeded', data: {limitType, current, limit}}."""
        return cls(RequestStatus.REJECTED,
                   {"success": False, "action": "rejected", "error": "Risk limit exceeded", "message": message,
                    "data": {"limitType": limit_type, "current": current, "limit": limit}},
                   429, f"Risk limit exceeded: {limit_type} {current}/{limit}")

    @classmethod
    def order_placed(cls, order: Order, reversed_view: dict[str, Any] | None = None) -> Outcome:
        """A limit entry resting on the venue with its bracket attached."""
        body = {"success": True, "action": "order_placed", "order": order_view(order),
                "message": f"Limit order resting at {order.price}; protection is attached when it fills"}
        if reversed_view is not None:
            body["reversed"] = reversed_view
        return cls(RequestStatus.SUCCESS, body)

    @classmethod
    def entry_cancelled(cls, symbol: str, exchange: str) -> Outcome:
        """A close that found no position, only a resting limit entry, and cancelled it."""
        return cls(RequestStatus.SUCCESS, {"success": True, "action": "cancelled", "symbol": symbol,
                                           "exchange": exchange,
                                           "message": "Resting limit entry cancelled; no position was open"})

    @classmethod
    def skipped(cls, message: str, *, success: bool = False) -> Outcome:
        """Nothing to do, nothing sent: the answer's action and the row's status are both `skipped`.
        `success` is true only when the account already is as the alert asks (a close with nothing
        open), as the original answered."""
        return cls(RequestStatus.SKIPPED, {"success": success, "action": "skipped", "message": message})


def position_view(position: PositionRecord) -> dict[str, Any]:
    """A position as the original's /positions and webhook responses show it."""
    return jsonable({
        "user_id": position.user_id,
        "symbol": position.symbol,
        "exchange": position.exchange,
        "side": position.side,
        "quantity": position.quantity,
        "entryPrice": position.entry_price,
        "positionSizeUsd": cents(position.position_size_usd),
        "stopLossPrice": position.stop_loss_price,
        "takeProfitPrice": position.take_profit_price,
        "entryOrderId": position.entry_order_id,
        "stopLossOrderId": position.stop_loss_order_id,
        "takeProfitOrderId": position.take_profit_order_id,
        "timestamp": position.entry_time,
        "ai_strategy_id": position.ai_strategy_id,
    })


def order_view(order: Order) -> dict[str, Any]:
    return jsonable({
        "orderId": order.id,
        "clientOrderId": order.client_order_id,
        "symbol": order.symbol,
        "side": order.side.value.upper(),
        "type": order.kind.value.upper(),
        "quantity": order.quantity,
        "price": order.price,
        "triggerPrice": order.trigger_price,
        "status": order.status.value.upper(),
        "filledQuantity": order.filled_quantity,
        "averagePrice": order.average_price,
    })


def pnl_view(trade: TradeRecord) -> dict[str, Any]:
    return jsonable({"usd": cents(trade.pnl_usd), "percent": trade.pnl_percent})


def add_warning(body: dict[str, Any], message: str | None) -> None:
    """Add `message` to the body's `warning`, after any already there (one string, as before)."""
    if message:
        body["warning"] = f"{body['warning']}; {message}" if body.get("warning") else message
