"""Sending orders exactly once: client ids from the request id, look-ups instead of resends."""

from __future__ import annotations

import asyncio

import structlog

from sparky.exchanges.base import Exchange, Order, OrderRequest
from sparky.exchanges.errors import OrderNotFound, OutcomeUnknown

log = structlog.get_logger("sparky.orders")


def client_order_id(request_id: str, role: str) -> str:
    """`sp<24 hex of the request id>-<role>`: ≤ 36 chars of [A-Za-z0-9-], valid on every venue."""
    return f"sp{request_id.replace('-', '')[:24]}-{role}"


async def send_order(exchange: Exchange, request: OrderRequest, *, resume: bool = False) -> Order:
    """Place `request`; if it may already exist (resume, unknown outcome) look it up by client id."""
    if resume:
        existing = await exchange.get_order(request.symbol, client_order_id=request.client_order_id)
        if existing is not None:
            log.info("order.found_after_restart", client_order_id=request.client_order_id)
            return existing
    try:
        order = await exchange.place_order(request)
    except OutcomeUnknown:
        found = await exchange.get_order(request.symbol, client_order_id=request.client_order_id)
        if found is None:
            raise
        log.warning("order.outcome_resolved", client_order_id=request.client_order_id, status=found.status)
        return found
    log.info(
        "order.placed",
        client_order_id=request.client_order_id,
        side=request.side.value,
        kind=request.kind.value,
        quantity=str(request.quantity),
        status=order.status.value,
    )
    return order


async def cancel_quietly(exchange: Exchange, symbol: str, order_ids: list[str | None]) -> None:
    """Cancel orders that may already be gone (filled, cancelled by OCO): absence is success."""

    async def cancel(order_id: str) -> None:
        try:
            await exchange.cancel_order(symbol, order_id)
            log.info("order.cancelled", order_id=order_id)
        except OrderNotFound:
            pass

    await asyncio.gather(*(cancel(oid) for oid in order_ids if oid))
