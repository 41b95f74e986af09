"""One scrape: what the store holds read now, then every metric in Prometheus' text format."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

log = structlog.get_logger("sparky.metrics")

#: a scrape never waits longer than this on the store (the rest is in memory)
STORE_READ_TIMEOUT_SEC = 5.0


async def scrape(services: Any) -> bytes:
    try:
        await asyncio.wait_for(services.metrics.refresh(services.store), STORE_READ_TIMEOUT_SEC)
    except Exception as err:  # the in-memory metrics are still worth serving
        log.warning("metrics.store_unread", error=f"{type(err).__name__}: {err}")
    return services.metrics.render()
