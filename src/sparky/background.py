"""Named background loops with kept references: failures are logged and the loop goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger("sparky.background")


class TaskRunner:
    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def every(self, name: str, seconds: float, work: Callable[[], Awaitable[object]]) -> None:
        """Run `work` every `seconds` (first after one period) until `aclose()`."""

        async def loop() -> None:
            while True:
                await asyncio.sleep(seconds)  # the loop's period, not a stand-in for synchronisation
                try:
                    await work()
                except Exception:
                    log.exception("background.failed", task=name)

        self._tasks[name] = asyncio.create_task(loop(), name=name)

    @property
    def names(self) -> list[str]:
        return sorted(self._tasks)

    async def aclose(self) -> None:
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
