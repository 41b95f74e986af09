"""The writer thread of `SqliteStore`: it owns the connection and runs queued jobs in batches.

Why one writer thread with group commit: every webhook is recorded durably (synchronous=FULL, an
fsync per COMMIT) before any order, and the server must sustain >1,000 webhooks/s on two cores.
One fsync per request cannot keep up; one fsync per *batch* can. So a single thread owns the
connection. Callers queue jobs (functions of the connection) and await a future. The thread takes
one job, then everything else already queued, runs the batch's writes in ONE transaction with a
SAVEPOINT per job (a failing job - a duplicate idempotency key - rolls back alone), COMMITs once,
and only then resolves the futures: an awaited write is committed. Reads run in queue order.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sparky.store.base import StoreUnavailable

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], T]


def _unavailable(err: BaseException) -> BaseException:
    """sqlite3 and OS errors become StoreUnavailable (with the cause); anything else is kept."""
    if isinstance(err, sqlite3.Error | OSError):
        exc = StoreUnavailable(f"SQLite store: {err}")
        exc.__cause__ = err
        return exc
    return err


@dataclass(slots=True, eq=False)
class _Job:
    work: Callable[[sqlite3.Connection], Any] | None  # None: the start/stop marker
    write: bool
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    value: Any = None
    error: BaseException | None = None
    settled: bool = False


def _resolve(jobs: list[_Job]) -> None:
    """Runs on the caller's event loop."""
    for job in jobs:
        if job.future.done():  # the caller was cancelled
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.value)


def _settle(jobs: list[_Job]) -> None:
    """Hand outcomes back: one call_soon_threadsafe (one loop wake-up) per loop and batch."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Job]] = {}
    for job in jobs:
        if not job.settled:
            job.settled = True
            by_loop.setdefault(job.loop, []).append(job)
    for loop, group in by_loop.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody awaits these any more
            loop.call_soon_threadsafe(_resolve, group)


def _abort(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass


class Writer:
    """The thread that owns the connection and runs jobs in group-committed batches."""

    def __init__(self, connect: Callable[[], sqlite3.Connection]) -> None:
        self._connect = connect
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._lock = threading.Lock()  # makes "accepting? then enqueue" atomic against stop()
        self._accepting = False
        self._inflight: list[_Job] = []
        self._thread: threading.Thread | None = None
        self.commits = 0  # transactions committed (lets tests see the group commit)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        started = _Job(None, False, loop, loop.create_future())
        self._thread = threading.Thread(
            target=self._run, args=(started,), name="sparky-sqlite", daemon=True
        )
        self._thread.start()
        await started.future
        with self._lock:
            self._accepting = True

    async def call(self, work: Work[T], *, write: bool) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if not self._accepting:
                raise StoreUnavailable("SQLite store is not open")
            self._queue.put(_Job(work, write, loop, future))
        return await future

    async def stop(self) -> None:
        """Run everything queued so far, then close the connection and end the thread."""
        loop = asyncio.get_running_loop()
        stop = _Job(None, False, loop, loop.create_future())
        with self._lock:
            running, self._accepting = self._accepting, False
            if running:  # else the thread has ended (or never started): nothing would take it
                self._queue.put(stop)
        try:
            if running:
                await stop.future
        finally:
            if self._thread is not None:
                self._thread.join()  # it settles `stop` as its very last step

    def _run(self, started: _Job) -> None:
        try:
            conn = self._connect()
        except Exception as err:  # handed to open()'s caller
            started.error = _unavailable(err)
            _settle([started])
            return
        _settle([started])
        stop: _Job | None = None
        try:
            while stop is None:
                batch = [self._queue.get()]
                while True:
                    try:
                        batch.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                for i, job in enumerate(batch):
                    if job.work is None:
                        stop, batch = job, batch[:i]
                        break
                self._inflight = batch
                self._run_batch(conn, batch)
                _settle(batch)
        finally:
            with self._lock:
                self._accepting = False
            leftovers = [job for job in self._inflight if not job.settled]
            while True:
                try:
                    leftovers.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            for job in leftovers:
                job.value, job.error = None, StoreUnavailable("SQLite store is closed")
            _settle([job for job in leftovers if job.work is not None])
            _abort(conn)
            try:
                conn.close()
            except sqlite3.Error as err:
                if stop is not None:
                    stop.error = _unavailable(err)
            _settle([job for job in leftovers if job.work is None] + ([stop] if stop else []))

    def _run_batch(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        in_txn: list[_Job] = []  # outcomes that count only once the COMMIT succeeds
        for job in batch:
            assert job.work is not None
            try:
                if job.write:
                    self._run_write(conn, job.work, job)
                else:
                    job.value = job.work(conn)
            except Exception as err:  # handed to the job's caller
                job.error = _unavailable(err)
                if in_txn and not conn.in_transaction:
                    # SQLite rolled the whole transaction back itself (I/O error, disk full...)
                    self._fail(in_txn, StoreUnavailable(f"SQLite transaction rolled back: {err}"))
                    in_txn = []
            if conn.in_transaction:
                in_txn.append(job)
        if conn.in_transaction:
            try:
                conn.execute("COMMIT")
                self.commits += 1
            except sqlite3.Error as err:
                _abort(conn)
                self._fail(in_txn, _unavailable(err))

    @staticmethod
    def _run_write(conn: sqlite3.Connection, work: Work[Any], job: _Job) -> None:
        """One write job in its own savepoint of the batch's transaction."""
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
        conn.execute("SAVEPOINT job")
        try:
            job.value = work(conn)
        except BaseException:
            try:
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
            except sqlite3.Error:
                _abort(conn)
            raise
        try:
            conn.execute("RELEASE job")
        except sqlite3.Error:
            _abort(conn)
            raise

    @staticmethod
    def _fail(jobs: list[_Job], error: BaseException) -> None:
        for job in jobs:
            if job.error is None:
                job.value, job.error = None, error
