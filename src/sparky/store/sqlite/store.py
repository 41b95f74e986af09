"""`SqliteStore`: the embedded default adapter of the `Store` port (standard-library sqlite3).

Every write, and every read but the point reads, is a job on one writer thread (`writer.py`); point
reads (a row by its key) run on a read connection of their own (`reader.py`). An execution's rows
and its request's final status are one job (`finish_execution`, `executions.py`). Why one writer
thread with group commit: every webhook is recorded durably (synchronous=FULL, an
fsync per COMMIT) before any order, and the server must sustain >1,000 webhooks/s on two cores.
One fsync per request cannot keep up; one fsync per *batch* can. So a single thread owns the
connection. Callers queue jobs (functions of the connection) and await a future. The thread takes
one job, then everything else already queued, runs the batch's writes in ONE transaction with a
SAVEPOINT per job (a failing job - a duplicate idempotency key - rolls back alone), COMMITs once,
and only then resolves the futures: an awaited write is committed. Reads run in queue order.
"""

from __future__ import annotations

import os
import sqlite3
import uuid
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from sparky.private_files import DIR_MODE, open_private, tighten_file
from sparky.store.base import (
    ExecutionWrite,
    PositionRecord,
    PriceMark,
    RequestStatus,
    RestingEntryRecord,
    Store,
    StoreUnavailable,
    TradeRecord,
    WebhookRequestRecord,
)
from sparky.store.sqlite import codec, executions, leases
from sparky.store.sqlite.ai import SqliteAi
from sparky.store.sqlite.marks import mark_rows, write_marks
from sparky.store.sqlite.option_trades import SqliteOptionTrades
from sparky.store.sqlite.reader import PointReader
from sparky.store.sqlite.tenants import SqliteTenants
from sparky.store.sqlite.upgrade import add_missing_columns
from sparky.store.sqlite.validation_log import SqliteValidationLog
from sparky.store.sqlite.writer import Work, Writer

T = TypeVar("T")

_SYNCHRONOUS = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})
_BUSY_TIMEOUT_MS = 5000


class SqliteStore(Store, SqliteTenants, SqliteAi, SqliteValidationLog, SqliteOptionTrades):
    """The `Store`, `TenantStore`, `AiStore`, validation log and `OptionTradeStore` ports on one SQLite file
    (WAL, synchronous=FULL by default).

    The tenant methods live in `SqliteTenants` (tenants.py), the AI ones in `SqliteAi` (ai.py), the
    option trades in `SqliteOptionTrades` (option_trades.py); all
    run as jobs on the same writer thread, so they are ordered and atomic with every other write."""

    def __init__(self, path: Path, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in _SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {sorted(_SYNCHRONOUS)}: {synchronous!r}")
        self._path = Path(path)
        self._synchronous = synchronous.upper()
        self._writer: Writer | None = None
        self._reader = PointReader(self._path)

    def _connect(self) -> sqlite3.Connection:
        """Runs on the writer thread, which then owns the connection."""
        self._path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # API keys and secrets live here: 0600, and SQLite gives its -wal and -shm the file's mode
        os.close(open_private(self._path, os.O_RDWR))
        for suffix in ("-wal", "-shm", "-journal"):
            tighten_file(self._path.with_name(self._path.name + suffix))
        schema = resources.files("sparky.store.sqlite").joinpath("schema.sql").read_text("utf-8")
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
            conn.executescript(f"BEGIN IMMEDIATE;\n{schema}")
            add_missing_columns(conn, schema)  # files made before a column was added
            conn.execute("COMMIT")
        except BaseException:
            conn.close()
            raise
        return conn

    async def open(self) -> None:
        if self._writer is not None:
            return
        self._writer = writer = Writer(self._connect)
        try:
            await writer.start()
        except BaseException:
            self._writer = None
            raise
        try:
            self._reader.open()
        except sqlite3.Error:  # point reads then go to the writer thread, as every read did
            pass

    async def aclose(self) -> None:
        self._reader.close()
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.stop()

    async def _call(self, work: Work[T], *, write: bool) -> T:
        if self._writer is None:
            raise StoreUnavailable("SQLite store is not open")
        return await self._writer.call(work, write=write)

    async def _point_read(self, work: Work[T]) -> T:
        """A read of one row by its key: on the read connection when it can, else the writer thread."""
        if self._writer is not None:
            served, value = self._reader.read(work)
            if served:
                return value  # type: ignore[return-value]
        return await self._call(work, write=False)

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
        finish = executions.finish_request(request_id, status, error_message=error_message, result=result,
                                           http_status=http_status)
        await self._call(finish, write=True)

    async def record_execution(self, writes: Sequence[ExecutionWrite]) -> None:
        """One transaction (one writer job): every write or none."""
        await self._call(executions.in_order(executions.steps_of(writes)), write=True)

    async def finish_execution(
        self,
        request_id: str,
        status: RequestStatus,
        *,
        error_message: str | None,
        result: dict[str, Any] | None,
        http_status: int | None,
        writes: Sequence[ExecutionWrite] = (),
    ) -> None:
        """The writes and the request's status in one writer job (one savepoint of one group
        commit): a failure rolls all of it back and the request stays PENDING for recovery."""
        finish = executions.finish_request(request_id, status, error_message=error_message, result=result,
                                           http_status=http_status)
        await self._call(executions.in_order([*executions.steps_of(writes), finish]), write=True)

    async def get_webhook_request(self, request_id: str) -> WebhookRequestRecord | None:
        def get(conn: sqlite3.Connection) -> WebhookRequestRecord | None:
            row = conn.execute(f"{codec.SELECT_REQUEST} WHERE id = ?", (request_id,)).fetchone()
            return None if row is None else codec.from_row(WebhookRequestRecord, row)

        return await self._point_read(get)

    async def pending_webhook_requests(self) -> list[WebhookRequestRecord]:
        sql = f"{codec.SELECT_REQUEST} WHERE status = 'pending' ORDER BY created_at, rowid"
        return await self._call(
            lambda c: [codec.from_row(WebhookRequestRecord, r) for r in c.execute(sql)],
            write=False,
        )

    async def claim_webhook_request(
        self, request_id: str, owner: str, *, lease_until: datetime, now: datetime
    ) -> bool:
        params = {"id": request_id, "owner": owner, "until": codec.encode_time(lease_until),
                  "now": codec.encode_time(now)}
        return await self._call(lambda c: c.execute(leases.CLAIM_REQUEST, params).rowcount == 1, write=True)

    async def renew_webhook_leases(
        self, request_ids: Collection[str], owner: str, *, lease_until: datetime
    ) -> set[str]:
        ids, until = list(request_ids), codec.encode_time(lease_until)
        assert until is not None
        return await self._call(lambda c: leases.renew_leases(c, ids, owner, until), write=True)

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

    async def _by_key(self, select: str, record: type[codec.R], user_id: str, exchange: str,
                      symbol: str) -> codec.R | None:
        """The one row of a (user, exchange, symbol) key, read on the point-read connection."""
        sql = f"{select} WHERE user_id = ? AND exchange = ? AND symbol = ?"

        def get(conn: sqlite3.Connection) -> codec.R | None:
            row = conn.execute(sql, (user_id, exchange, symbol)).fetchone()
            return None if row is None else codec.from_row(record, row)

        return await self._point_read(get)

    # positions

    async def get_position(self, user_id: str, exchange: str, symbol: str) -> PositionRecord | None:
        return await self._by_key(codec.SELECT_POSITION, PositionRecord, user_id, exchange, symbol)

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
        await self._call(executions.upsert_position(position), write=True)

    async def delete_position(self, user_id: str, exchange: str, symbol: str) -> None:
        args = (user_id, exchange, symbol)
        await self._call(lambda c: c.execute(codec.DELETE_POSITION, args), write=True)

    async def mark_positions(self, marks: Sequence[PriceMark]) -> int:
        rows = mark_rows(marks)  # one job: one transaction (marks.py)
        return await self._call(lambda c: write_marks(c, rows), write=True) if rows else 0

    # trades

    async def record_close(self, trade: TradeRecord) -> None:
        await self._call(executions.record_close(trade), write=True)

    async def record_partial_close(self, trade: TradeRecord, remaining: PositionRecord) -> None:
        await self._call(executions.record_partial_close(trade, remaining), write=True)

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

    # resting_entries

    async def get_resting_entry(self, user_id: str, exchange: str, symbol: str) -> RestingEntryRecord | None:
        return await self._by_key(codec.SELECT_RESTING, RestingEntryRecord, user_id, exchange, symbol)

    async def list_resting_entries(
        self, *, user_id: str | None = None, exchange: str | None = None
    ) -> list[RestingEntryRecord]:
        where, args = codec.where({"user_id": user_id, "exchange": exchange})
        sql = f"{codec.SELECT_RESTING}{where} ORDER BY created_at, id"
        return await self._call(
            lambda c: [codec.from_row(RestingEntryRecord, r) for r in c.execute(sql, args)],
            write=False,
        )

    async def put_resting_entry(self, entry: RestingEntryRecord) -> None:
        row = codec.to_row(replace(entry, id=entry.id or str(uuid.uuid4())))
        await self._call(lambda c: c.execute(codec.UPSERT_RESTING, row), write=True)

    async def delete_resting_entry(self, entry: RestingEntryRecord) -> None:
        args = (entry.user_id, entry.exchange, entry.symbol, entry.client_order_id)
        await self._call(lambda c: c.execute(codec.DELETE_RESTING, args), write=True)

