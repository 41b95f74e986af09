"""Columns added to a table after it was first created, added to database files made before them.

`schema.sql` creates tables with `IF NOT EXISTS`, which leaves an existing table as it is: a file
written by an earlier version lacks the columns added since. SQLite has no `ADD COLUMN IF NOT
EXISTS`, so each is added here when `PRAGMA table_info` does not list it (PostgreSQL gets the same
columns from `migrations/`). Only nullable columns without constraints: `ALTER TABLE … ADD COLUMN`
takes those on a table of any size without rewriting it.
"""

from __future__ import annotations

import sqlite3

#: (table, column, declared type), oldest first
ADDED_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("positions", "trailing_stop_order_id", "TEXT"),
)


def add_missing_columns(conn: sqlite3.Connection) -> list[str]:
    """Add every column of `ADDED_COLUMNS` the file lacks, in one transaction; the ones added."""
    added = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for table, column, declared in ADDED_COLUMNS:
            present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declared}")
                added.append(f"{table}.{column}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return added
