"""Sending orders exactly once: client ids from the request id, look-ups instead of resends."""

from __future__ import annotations

from collections.abc import Iterable

import structlog

from sparky.exchanges.base import Exchange, Order, OrderRequest
from sparky.exchanges.errors import ExchangeError, OrderNotFound, OutcomeUnknown

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
    except OutcomeUnknown as unknown:
        try:
            found = await exchange.get_order(request.symbol, client_order_id=request.client_order_id)
        except ExchangeError as err:
            # still unknown (the order may have filled): say so, not what broke the look-up; a
            # caller that looks up before sending again may retry when the look-up may succeed
            still = OutcomeUnknown(f"{unknown.message}; the look-up failed too: {err.message}",
                                   exchange=unknown.exchange)
            still.retryable = err.retryable
            raise still from err
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


async def cancel_quietly(exchange: Exchange, symbol: str, order_ids: Iterable[str | None]) -> list[str]:
    """Cancel orders that may already be gone (filled, cancelled by OCO): absence is success.

    Best effort: an order the venue would not cancel (rate limit, outage) is logged and its id
    returned, never raised — the caller decides what a survivor means (`execution/exits.py`)."""
    ids = list(dict.fromkeys(oid for oid in order_ids if oid))
    if not ids:
        return []
    # one request where the venue has a batch cancel (`Exchange.cancel_orders`)
    outcomes = await exchange.cancel_orders(symbol, ids)
    failed = []
    for order_id in ids:
        if order_id not in outcomes:  # the venue said nothing of it: it may still rest
            log.warning("order.cancel_unanswered", order_id=order_id)
            failed.append(order_id)
            continue
        err = outcomes[order_id]
        if err is None:
            log.info("order.cancelled", order_id=order_id)
        elif not isinstance(err, OrderNotFound):
            log.warning("order.cancel_failed", order_id=order_id, error_type=type(err).__name__, error=err.message)
            failed.append(order_id)
    return failed
