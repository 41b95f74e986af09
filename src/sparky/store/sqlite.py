"""`SqliteStore`: the embedded default adapter of the `Store` port (standard-library sqlite3).

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
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from sparky.store import sqlite_codec as codec
from sparky.store.base import (
    PositionRecord,
    RequestStatus,
    Store,
    StoreUnavailable,
    TradeRecord,
    WebhookRequestRecord,
    utcnow,
)
from sparky.store.sqlite_tenants import SqliteTenants

T = TypeVar("T")
Work = Callable[[sqlite3.Connection], T]

_SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_BUSY_TIMEOUT_MS = 5000


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


class _Writer:
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


class SqliteStore(Store, SqliteTenants):
    """The `Store` and `TenantStore` ports on one SQLite file (WAL, synchronous=FULL by default).

    The tenant methods live in `SqliteTenants` (sqlite_tenants.py) and run as jobs on the same
    writer thread, so they are ordered and atomic with every other write."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}: {synchronous!r}")
        self._path = Path(path)
        self._synchronous = synchronous.upper()
        self._writer: _Writer | None = None

    def _connect(self) -> sqlite3.Connection:
        """Runs on the writer thread, which then owns the connection."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        schema = resources.files("sparky.store").joinpath("schema.sql").read_text("utf-8")
        conn = sqlite3.connect(
            self._path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # we BEGIN/COMMIT
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            # replaced API keys and webhook secrets must not linger in the file's free pages
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            conn.executescript(f"BEGIN IMMEDIATE;\n{schema}\nCOMMIT;")
        except BaseException:
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        if self._writer is not None:
            return
        self._writer = writer = _Writer(self._connect)
        try:
            await writer.start()
        except BaseException:
            self._writer = None
            raise

    async def aclose(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.stop()

    async def _call(self, work: Work[T], *, write: bool) -> T:
        if self._writer is None:
            raise StoreUnavailable("SQLite store is not open")
        return await self._writer.call(work, write=write)

    async def ping(self) -> bool:
        """True when a query runs; False when the store is closed or failing (never raises)."""
        try:
            return await self._call(lambda c: c.execute("SELECT 1").fetchone()[0] == 1, write=False)
        except StoreUnavailable:
            return False

    # webhook_requests

    async def insert_webhook_request(self, record: WebhookRequestRecord) -> None:
        row = codec.to_row(record)
        await self._call(lambda c: codec.insert_request(c, row), write=True)

    async def finish_webhook_request(
        self,
        request_id: str,
        status: RequestStatus,
        *,
        error_message: str | None,
        result: dict[str, Any] | None,
        http_status: int | None,
    ) -> None:
        if not RequestStatus(status).is_terminal:
            raise ValueError(f"finish_webhook_request needs a terminal status, not {status!r}")
        params = {
            "id": request_id,
            "status": RequestStatus(status).value,
            "error_message": error_message,
            "result": codec.encode_json(result),
            "http_status": http_status,
            "processed_at": codec.encode_time(utcnow()),
        }
        await self._call(lambda c: c.execute(codec.FINISH_REQUEST, params), write=True)

    async def get_webhook_request(self, request_id: str) -> WebhookRequestRecord | None:
        def get(conn: sqlite3.Connection) -> WebhookRequestRecord | None:
            row = conn.execute(f"{codec.SELECT_REQUEST} WHERE id = ?", (request_id,)).fetchone()
            return None if row is None else codec.from_row(WebhookRequestRecord, row)

        return await self._call(get, write=False)

    async def pending_webhook_requests(self) -> list[WebhookRequestRecord]:
        sql = f"{codec.SELECT_REQUEST} WHERE status = 'pending' ORDER BY created_at, rowid"
        return await self._call(
            lambda c: [codec.from_row(WebhookRequestRecord, r) for r in c.execute(sql)],
            write=False,
        )

    async def list_webhook_requests(
        self, *, user_id: str | None = None, limit: int = 100
    ) -> list[WebhookRequestRecord]:
        """Most recent first. Not in the `Store` port yet (the e2e tests and operators use it)."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0: {limit}")
        where, args = codec.where({"user_id": user_id})
        sql = f"{codec.SELECT_REQUEST}{where} ORDER BY created_at DESC, rowid DESC LIMIT ?"
        return await self._call(
            lambda c: [
                codec.from_row(WebhookRequestRecord, r) for r in c.execute(sql, [*args, limit])
            ],
            write=False,
        )

    # positions

    async def get_position(self, user_id: str, exchange: str, symbol: str) -> PositionRecord | None:
        sql = f"{codec.SELECT_POSITION} WHERE user_id = ? AND exchange = ? AND symbol = ?"

        def get(conn: sqlite3.Connection) -> PositionRecord | None:
            row = conn.execute(sql, (user_id, exchange, symbol)).fetchone()
            return None if row is None else codec.from_row(PositionRecord, row)

        return await self._call(get, write=False)

    async def list_positions(
        self, *, user_id: str | None = None, exchange: str | None = None
    ) -> list[PositionRecord]:
        where, args = codec.where({"user_id": user_id, "exchange": exchange})
        sql = f"{codec.SELECT_POSITION}{where} ORDER BY entry_time, id"
        return await self._call(
            lambda c: [codec.from_row(PositionRecord, r) for r in c.execute(sql, args)],
            write=False,
        )

    async def upsert_position(self, position: PositionRecord) -> None:
        now = utcnow()
        row = codec.to_row(
            replace(
                position,
                id=position.id or str(uuid.uuid4()),
                created_at=position.created_at or now,
                updated_at=now,
            )
        )
        await self._call(lambda c: c.execute(codec.UPSERT_POSITION, row), write=True)

    async def delete_position(self, user_id: str, exchange: str, symbol: str) -> None:
        args = (user_id, exchange, symbol)
        await self._call(lambda c: c.execute(codec.DELETE_POSITION, args), write=True)

    # trades

    async def record_close(self, trade: TradeRecord) -> None:
        row = codec.to_row(
            replace(
                trade, id=trade.id or str(uuid.uuid4()), created_at=trade.created_at or utcnow()
            )
        )
        key = (trade.user_id, trade.exchange, trade.symbol)

        def close(conn: sqlite3.Connection) -> None:
            conn.execute(codec.INSERT_TRADE, row)
            conn.execute(codec.DELETE_POSITION, key)

        await self._call(close, write=True)

    async def list_trades(
        self, *, user_id: str | None = None, symbol: str | None = None, limit: int = 100
    ) -> list[TradeRecord]:
        if limit < 0:
            raise ValueError(f"limit must be >= 0: {limit}")
        where, args = codec.where({"user_id": user_id, "symbol": symbol})
        sql = f"{codec.SELECT_TRADE}{where} ORDER BY exit_time DESC, rowid DESC LIMIT ?"
        return await self._call(
            lambda c: [codec.from_row(TradeRecord, r) for r in c.execute(sql, [*args, limit])],
            write=False,
        )
