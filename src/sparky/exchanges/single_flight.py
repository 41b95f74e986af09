"""At most one load in flight per key; callers arriving meanwhile wait for it and share its outcome.

The load runs as a task of its own, so a caller that goes away (its client disconnected, its signal
cancelled) does not cancel it for the others waiting. A failure is not kept: a caller that joined a
load begun by another (a warm-up, say) tries once more itself — those retries again share one load —
as it would have without the other caller, and the next caller starts a new load. Tasks are kept
while they run (a task nobody holds may be collected mid-flight) and cancelled by `aclose()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from functools import partial
from typing import Any, TypeVar

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._tasks: dict[Hashable, asyncio.Task[Any]] = {}

    def running(self, key: Hashable) -> asyncio.Task[Any] | None:
        task = self._tasks.get(key)
        return task if task is not None and not task.done() else None

    async def run(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        joined = self.running(key)
        if joined is not None:
            try:
                return await asyncio.shield(joined)
            except Exception:  # noqa: BLE001 — begun by another caller (a warm-up, say): one try of our own
                pass
        task = self.running(key)  # everyone who joined retries together: still one load
        if task is None:
            task = asyncio.ensure_future(load())
            self._tasks[key] = task
            task.add_done_callback(partial(self._finished, key))
        return await asyncio.shield(task)

    def _finished(self, key: Hashable, task: asyncio.Task[Any]) -> None:
        if self._tasks.get(key) is task:
            del self._tasks[key]
        if not task.cancelled():
            task.exception()  # retrieved here: every caller may have gone before it ended

    async def aclose(self) -> None:
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
