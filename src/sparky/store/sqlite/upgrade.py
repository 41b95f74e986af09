"""Columns added to the SQLite tables after files were already made with them.

`schema.sql` runs on every open, but `CREATE TABLE IF NOT EXISTS` leaves an existing table as it
is: a file made by an earlier Sparky would lack the newer columns, and every insert naming them
would fail. Each column listed here is added, once, inside the transaction that applies the schema.
Only additions: a column is never renamed, retyped or removed (the dashboard's schema is the same).
"""

from __future__ import annotations

import sqlite3

#: table -> (column, declaration) in the order they were added
ADDED_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "webhook_requests": (("lease_owner", "TEXT"), ("lease_expires_at", "TEXT")),
}


def add_missing_columns(conn: sqlite3.Connection) -> list[str]:
    """Add the columns an older file lacks; returns them as `table.column`."""
    added = []
    for table, columns in ADDED_COLUMNS.items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}  # constant names
        for name, declaration in columns:
            if name not in present:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {declaration}")
                added.append(f"{table}.{name}")
    return added
