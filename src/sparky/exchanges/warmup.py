"""Venues warmed up in the background as their adapters are built (`Exchange.warm_up`).

A cold adapter makes the first signal wait for what every order needs once: Aster's symbol rules
(`exchangeInfo`) and its clock offset (`/fapi/v1/time`), a ccxt venue's markets, OANDA's
instruments. What is the same for every account is loaded once per venue host and shared
(`metadata.py`), so another user's warm-up on that host costs nothing. They are loaded as soon as
the adapter exists — at start-up for the venues of config.json, when a user's keys are first read
for theirs — without anyone waiting: start-up and the signal that loaded the keys go on at once,
and a venue that is down only means the first signal loads them itself, as it would have. The
tasks are kept (a task nobody holds may be collected mid-flight) and cancelled at shutdown.
"""

from __future__ import annotations

import asyncio

import structlog

from sparky.exchanges.base import Exchange

log = structlog.get_logger("sparky.exchanges")


class WarmUps:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, exchange: Exchange) -> None:
        if type(exchange).warm_up is Exchange.warm_up:
            return  # nothing loaded ahead (paper, Tradier): no task, no log line per adapter built
        task = asyncio.create_task(self._run(exchange), name=f"warm_up.{exchange.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _run(exchange: Exchange) -> None:
        try:
            await exchange.warm_up()
        except Exception as err:  # noqa: BLE001 — the first signal loads it instead
            log.warning("exchange.warm_up_failed", exchange=exchange.name, error_type=type(err).__name__,
                        error=getattr(err, "message", None) or str(err))
        else:
            log.info("exchange.warmed_up", exchange=exchange.name)

    async def settled(self) -> None:
        """Until every warm-up started so far has finished (well or not)."""
        await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def aclose(self) -> None:
        tasks, self._tasks = list(self._tasks), set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
