"""Run work for the same key one at a time, in the order it arrived (invariant 5).

`reserve(key)` is synchronous, so the caller takes its place in line at arrival, before any
await (recording the request, say) could let a later signal overtake it. Different keys never wait
for each other. A single process holds the queue; several servers coordinate through Redis locks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from types import TracebackType


class Slot:
    def __init__(self, owner: KeyedSerializer, key: Hashable, previous: asyncio.Future[None] | None) -> None:
        self._owner = owner
        self._key = key
        self._previous = previous
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._released = False

    async def __aenter__(self) -> Slot:
        if self._previous is not None:
            # shield: our cancellation must not cancel the predecessor's completion signal
            await asyncio.shield(self._previous)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def release(self) -> None:
        """Let the next in line go. Safe to call more than once (also for a slot never entered)."""
        if self._released:
            return
        self._released = True
        if self._previous is not None and not self._previous.done():
            # released before our turn (request not recorded): pass the predecessor's turn along
            self._previous.add_done_callback(lambda _: self._finish())
        else:
            self._finish()

    def _finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)
        self._owner._forget(self._key, self.done)


class KeyedSerializer:
    def __init__(self) -> None:
        self._tails: dict[Hashable, asyncio.Future[None]] = {}

    def reserve(self, key: Hashable) -> Slot:
        slot = Slot(self, key, self._tails.get(key))
        self._tails[key] = slot.done
        return slot

    def _forget(self, key: Hashable, done: asyncio.Future[None]) -> None:
        if self._tails.get(key) is done:
            del self._tails[key]

    def __len__(self) -> int:
        return len(self._tails)
