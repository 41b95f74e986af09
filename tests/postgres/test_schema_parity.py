"""The Postgres tables the store shares with the dashboard match the embedded SQLite schema.

One `Store` contract runs against SQLite and Supabase: the tables positions, trades,
webhook_requests, resting_entries and the AI tables must have the same column names in
src/sparky/store/sqlite/schema.sql and in migrations/, so a column added on one side and forgotten
on the other fails here.
"""

from __future__ import annotations

import sqlite3
from importlib import resources
from typing import Any

import pytest

TABLES = ("positions", "trades", "webhook_requests", "resting_entries", "ai_strategies", "ai_trade_log",
          "ai_trade_decisions", "ai_worker_heartbeats", "strategy_validation_log",
          "tradier_option_trades")


def _sqlite_table_info() -> dict[str, list[tuple[str, bool]]]:
    schema = resources.files("sparky.store.sqlite").joinpath("schema.sql").read_text("utf-8")
    conn = sqlite3.connect(":memory:")
    try:
        conn.executescript(schema)
        # PRAGMA table_xinfo rows: (cid, name, type, notnull, dflt_value, pk, hidden); generated
        # columns (ai_trade_decisions.outcome_label) are listed only by table_xinfo
        return {t: [(r[1], bool(r[3])) for r in conn.execute(f"pragma table_xinfo({t})")] for t in TABLES}
    finally:
        conn.close()


def sqlite_columns() -> dict[str, set[str]]:
    return {table: {name for name, _ in info} for table, info in _sqlite_table_info().items()}


def postgres_columns(conn: Any, table: str, *, not_null_only: bool = False) -> set[str]:
    rows = conn.execute(
        "select column_name, is_nullable from information_schema.columns"
        " where table_schema = 'public' and table_name = %s",
        (table,),
    ).fetchall()
    return {name for name, nullable in rows if not not_null_only or nullable == "NO"}


@pytest.mark.parametrize("table", TABLES)
def test_column_names_match_the_sqlite_schema(db, table) -> None:
    sqlite = sqlite_columns()[table]
    postgres = postgres_columns(db, table)
    assert sqlite, f"{table} is missing from schema.sql"
    assert postgres == sqlite, (
        f"{table}: only in Postgres {sorted(postgres - sqlite)}, only in SQLite {sorted(sqlite - postgres)}"
    )


@pytest.mark.parametrize("table", TABLES)
def test_what_sqlite_requires_postgres_requires(db, table) -> None:
    required = {name for name, not_null in _sqlite_table_info()[table] if not_null}
    assert required <= postgres_columns(db, table, not_null_only=True)


def test_the_tables_exist_on_both_sides(db) -> None:
    present = {r[0] for r in db.execute(
        "select table_name from information_schema.tables where table_schema = 'public'"
    )}  # fmt: skip
    assert set(TABLES) <= present
    assert all(sqlite_columns()[t] for t in TABLES)
