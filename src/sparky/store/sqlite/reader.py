"""Point reads of `SqliteStore` (one row by its key) on the caller's thread, from a connection of their own.

Why not the writer thread: a webhook reads its key's position and resting entry before acting,
and a read queued on the writer thread waits behind whatever batch is being written and fsynced,
then costs two thread hand-offs (there and back) for a few microseconds of work. The file is in
WAL mode, so a second connection reads the last committed state while the writer writes, without
waiting for it: every awaited write has committed, so a read after it sees it. The connection
never waits either (busy timeout 0): a read it cannot do at once (the file busy, the connection
closed) returns None and the caller asks the writer thread instead, as before.

Every cursor a read opens is closed when the read ends, whatever happened: a statement left
unfinished (a row fetched with fetchone, a cursor kept alive by a traceback) would hold the
connection's read snapshot, and every later read would see the file as it was then.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class _Cursors:
    """The connection as a read's work sees it: `execute`, with every cursor kept to be closed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.opened: list[sqlite3.Cursor] = []

    def execute(self, sql: str, parameters: Any = ()) -> sqlite3.Cursor:
        cursor = self._conn.execute(sql, parameters)
        self.opened.append(cursor)
        return cursor

    def close(self) -> None:
        for cursor in self.opened:
            cursor.close()


class PointReader:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None

    def open(self) -> None:
        """After the writer thread made the file and its schema."""
        # used from the event loop's thread only; check_same_thread would refuse close() at exit elsewhere
        conn = sqlite3.connect(self._path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA query_only = ON")
        except sqlite3.Error:
            conn.close()
            raise
        self._conn = conn

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def read(self, work: Callable[[sqlite3.Connection], T]) -> tuple[bool, T | None]:
        """(True, value), or (False, None) when this connection cannot serve the read now."""
        if self._conn is None:
            return False, None
        cursors = _Cursors(self._conn)
        try:
            return True, work(cursors)  # type: ignore[arg-type]  # the work calls execute() only
        except sqlite3.Error:
            return False, None
        finally:
            cursors.close()
