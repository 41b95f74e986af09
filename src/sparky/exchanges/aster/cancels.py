"""Cancelling several orders of one symbol in one request: `DELETE /fapi/v1/batchOrders`.

Aster's 'Cancel Multiple Orders (TRADE)' takes `orderIdList` (venue ids) or
`origClientOrderIdList` (client ids), at most 10 each, as JSON lists without spaces, and answers
one item per id in the order sent: the cancelled order, or an error object (`-2011 Unknown order
sent.` for one that is no longer open). The ids are named one by one, so nothing else resting on
the symbol is touched (unlike `allOpenOrders`, which would also cancel a resting limit entry).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog

from sparky.exchanges.aster.wire import VendorError, error_code, parse_order, read, translate
from sparky.exchanges.errors import ExchangeError, ExchangeUnavailable, logged_reply

log = structlog.get_logger("sparky.exchanges.aster")

BATCH_ORDERS = "/fapi/v1/batchOrders"
#: the docs' limit on each list
MAX_IDS = 10


def _chunks(order_ids: Sequence[str]) -> list[tuple[str, list[str]]]:
    """(list parameter, ids) per request: venue ids and client ids go in lists of their own."""
    venue_ids = [oid for oid in order_ids if oid.isdigit()]
    client_ids = [oid for oid in order_ids if not oid.isdigit()]
    return [(name, ids[i:i + MAX_IDS]) for name, ids in (("orderIdList", venue_ids),
                                                          ("origClientOrderIdList", client_ids))
            for i in range(0, len(ids), MAX_IDS)]


def _item_outcome(item: Any) -> ExchangeError | None:
    if error_code(item) is None:
        try:
            read(lambda: parse_order(item), what="cancel reply")
        except ExchangeError as err:
            return err
        return None
    error = translate(400, item, places_order=False, what="cancel")
    error.__cause__ = VendorError(400, item)
    return error


async def cancel_batch(call: Callable[..., Awaitable[Any]], symbol: str,
                       order_ids: Sequence[str]) -> dict[str, ExchangeError | None]:
    """`call` is the adapter's signed transport. By id: None when cancelled, else the error (the
    whole request's when it failed, so every id it named is reported still resting)."""

    async def one(name: str, ids: list[str]) -> dict[str, ExchangeError | None]:
        values = [int(oid) for oid in ids] if name == "orderIdList" else ids
        listed = json.dumps(values, separators=(",", ":"))  # no spaces, as the docs ask
        try:
            body = await call("DELETE", BATCH_ORDERS, [("symbol", symbol), (name, listed)], signed=True,
                              what="batch cancel")
        except ExchangeError as err:
            return dict.fromkeys(ids, err)
        if not isinstance(body, list) or len(body) != len(ids):
            log.warning("aster.batch_cancel.unexpected_reply", reply=logged_reply(body))
            unread = ExchangeUnavailable("aster: batch cancel: unexpected reply", exchange="aster")
            return dict.fromkeys(ids, unread)
        outcomes = {oid: _item_outcome(item) for oid, item in zip(ids, body, strict=True)}
        log.info("aster.orders.cancelled", order_ids=[oid for oid, err in outcomes.items() if err is None])
        return outcomes

    results = await asyncio.gather(*(one(name, ids) for name, ids in _chunks(list(dict.fromkeys(order_ids)))))
    return {oid: outcome for result in results for oid, outcome in result.items()}
