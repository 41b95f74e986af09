"""Older SQLite files get the columns schema.sql has gained since they were made.

`CREATE TABLE IF NOT EXISTS` leaves an existing table as it is, so a column added to schema.sql
would be missing from every file created before, and every write naming it would fail (a trade
lost after its close went out). On every open, inside the schema's transaction, each table of
schema.sql is compared with the file's and each missing column is added with its declared type
and default. Columns are only ever added (schema.sql: never renamed).
"""

from __future__ import annotations

import sqlite3

import structlog

log = structlog.get_logger("sparky.store")


def _declared(schema: str) -> dict[str, list[tuple[str, str, bool, str | None]]]:
    """(name, type, not null, default) of every column of every table schema.sql creates."""
    reference = sqlite3.connect(":memory:")
    try:
        reference.executescript(schema)
        tables = [row[0] for row in reference.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        # PRAGMA table_info rows: (cid, name, type, notnull, dflt_value, pk)
        return {table: [(r[1], r[2], bool(r[3]), r[4]) for r in reference.execute(f"PRAGMA table_info({table})")]
                for table in tables}
    finally:
        reference.close()


def add_missing_columns(conn: sqlite3.Connection, schema: str) -> list[str]:
    """Add to `conn`'s tables the columns `schema` declares and they lack; returns `table.column`
    of each one added. Runs in the caller's transaction."""
    added = []
    for table, columns in _declared(schema).items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for name, kind, not_null, default in columns:
            if name in present:
                continue
            if not_null and default is None:  # SQLite cannot add it to a table that has rows
                raise sqlite3.OperationalError(f"schema.sql: added column {table}.{name} needs a default")
            clause = " NOT NULL" if not_null else ""
            clause += f" DEFAULT {default}" if default is not None else ""
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}{clause}")  # names from schema.sql
            added.append(f"{table}.{name}")
    if added:
        log.info("store.columns_added", columns=added)
    return added


def schema_gaps(conn: sqlite3.Connection, schema: str) -> list[str]:
    """What the next open adds to `conn`'s file: `table` for each table `schema` declares and the
    file lacks, `table.column` for each missing column. Reads only (`sparky check`)."""
    gaps = []
    for table, columns in _declared(schema).items():
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}  # names from schema.sql
        if not present:
            gaps.append(table)
            continue
        gaps.extend(f"{table}.{name}" for name, *_ in columns if name not in present)
    return gaps
