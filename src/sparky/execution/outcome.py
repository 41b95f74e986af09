"""What an execution ended with: the row status, the HTTP status and the response body."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sparky.exchanges.base import Order
from sparky.store.base import PositionRecord, RequestStatus, TradeRecord


def jsonable(value: Any) -> Any:
    """Decimals become JSON numbers (int when integral), datetimes ISO 8601 UTC."""
    if isinstance(value, Decimal):
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
    def rejected(cls, message: str, *, http_status: int = 400, action: str = "rejected") -> Outcome:
        return cls(RequestStatus.REJECTED, {"success": False, "action": action, "error": message},
                   http_status, message)

    @classmethod
    def failed(cls, message: str, *, action: str = "failed", **body: Any) -> Outcome:
        return cls(RequestStatus.FAILED, {"success": False, "action": action, "error": message, **body},
                   200, message)

    @classmethod
    def risk_limit(cls, limit_type: str, current: int, limit: int) -> Outcome:
        """The original's 429 shape: {error: 'Risk limit exceeded', data: {limitType, current, limit}}."""
        return cls(RequestStatus.REJECTED,
                   {"success": False, "action": "rejected", "error": "Risk limit exceeded",
                    "data": {"limitType": limit_type, "current": current, "limit": limit}},
                   429, f"Risk limit exceeded: {limit_type} {current}/{limit}")

    @classmethod
    def skipped(cls, message: str, *, action: str = "skipped", success: bool = False) -> Outcome:
        return cls(RequestStatus.SKIPPED, {"success": success, "action": action, "message": message})


def position_view(position: PositionRecord) -> dict[str, Any]:
    """A position as the original's /positions and webhook responses show it."""
    return jsonable({
        "symbol": position.symbol,
        "exchange": position.exchange,
        "side": position.side,
        "quantity": position.quantity,
        "entryPrice": position.entry_price,
        "positionSizeUsd": position.position_size_usd,
        "stopLossPrice": position.stop_loss_price,
        "takeProfitPrice": position.take_profit_price,
        "entryOrderId": position.entry_order_id,
        "stopLossOrderId": position.stop_loss_order_id,
        "takeProfitOrderId": position.take_profit_order_id,
        "timestamp": position.entry_time,
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
    return jsonable({"usd": trade.pnl_usd, "percent": trade.pnl_percent})


def add_warning(body: dict[str, Any], message: str | None) -> None:
    """Add `message` to the body's `warning`, after any already there (one string, as before)."""
    if message:
        body["warning"] = f"{body['warning']}; {message}" if body.get("warning") else message
