"""The rows an execution records last, kept until its request is finished so that they are written
with the request's final status in one store transaction (`Store.finish_execution`).

Why: a webhook's execution used to commit its position (or its close's trade) and then, in another
commit, its request's status: two trips to the store, and a window in which the row said
`pending` while the position was recorded (or a store failure in between left the request
`failed` with the position unrecorded). Held back and written together, the execution is one
commit, and a failure writes none of it: the request stays `pending` and recovery resumes it from
the orders' client ids, as after a crash.

Only writes that nothing in the same execution reads again are held back: the opened position
(the last thing an entry does) and the trade of a close signal (only the exits' cancels follow).
A reversal's close and an emergency close are written at once: the entry that follows reads the
key's row. And where a limit counts entries, the writes are flushed before the user's lock is
released (`execution/limits.py`), so the next entry's count includes this one.
"""

from __future__ import annotations

from sparky.store.base import CloseWrite, ExecutionWrite, PositionRecord, PositionWrite, Store, TradeRecord


class PendingWrites:
    def __init__(self) -> None:
        self._writes: list[ExecutionWrite] = []

    def position(self, record: PositionRecord) -> None:
        self._writes.append(PositionWrite(record))

    def close(self, trade: TradeRecord) -> None:
        self._writes.append(CloseWrite(trade))

    def take(self) -> list[ExecutionWrite]:
        """What is held back, in order; the holder is empty after."""
        writes, self._writes = self._writes, []
        return writes

    async def flush(self, store: Store) -> None:
        """Write what is held back now, in one transaction (kept for the finish if that fails)."""
        if self._writes:
            await store.record_execution(list(self._writes))
            self._writes.clear()
