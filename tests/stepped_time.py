"""Virtual time for background loops: `sleep` parks its caller until `advance` moves past its moment.

The runner under test gets `sleep`, `clock` and `monotonic` from here, so a test decides when each
loop wakes, and waits (bounded) for every loop to be parked again before moving on.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class SteppedTime:
    def __init__(self, start: datetime = EPOCH) -> None:
        self.now = 0.0
        self._start = start
        self._order = itertools.count()
        self._parked: list[tuple[float, int, asyncio.Future[None]]] = []
        self._changed = asyncio.Condition()
        #: every wait asked for, by the asking task's name (`background.<loop>`)
        self.waits: dict[str, list[float]] = defaultdict(list)

    def clock(self) -> datetime:
        return self._start + timedelta(seconds=self.now)

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        task = asyncio.current_task()
        self.waits[task.get_name() if task else "?"].append(seconds)
        entry = (self.now + seconds, next(self._order), asyncio.get_running_loop().create_future())
        self._parked.append(entry)
        async with self._changed:
            self._changed.notify_all()
        try:
            await entry[2]
        finally:
            if entry in self._parked:
                self._parked.remove(entry)

    async def parked(self, count: int, timeout: float = 5.0) -> None:
        """Wait (bounded) until `count` tasks are asleep."""
        async def enough() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: len(self._parked) >= count)

        await asyncio.wait_for(enough(), timeout)

    async def advance(self, seconds: float, *, parked: int) -> None:
        """Move time forward, waking sleepers in order; after each wake, wait until `parked` tasks
        sleep again (every task of the test, so nothing is still running when time moves on)."""
        target = self.now + seconds
        while True:
            await self.parked(parked)
            due = sorted(entry for entry in self._parked if entry[0] <= target)
            if not due:
                break
            self._parked.remove(due[0])
            self.now = max(self.now, due[0][0])
            due[0][2].set_result(None)
        self.now = target
