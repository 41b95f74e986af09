"""The `tradier_option_trades` table on a real PostgreSQL, as SupabaseStore writes and reads it:
every column the store names exists with the type its codec expects, and a row the store sends
comes back as the same record (numbers exact, the expiration a date, JSON intact)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sparky.store.option_trades import OPTION_TRADE_STATUSES, OptionTradeRecord
from sparky.store.supabase import codec
from tests.option_trades_contract import option_trade
from tests.postgres.test_migrations import sqlstate


def insert(db: Any, row: dict[str, Any]) -> None:
    names = ", ".join(row)
    values = [json.dumps(v) if isinstance(v, dict) else v for v in row.values()]
    db.execute(f"insert into tradier_option_trades ({names}) values ({', '.join(['%s'] * len(row))})", values)


def test_every_column_the_store_names_exists_with_its_type(db: Any) -> None:
    types = dict(db.execute("select column_name, data_type from information_schema.columns"
                            " where table_schema = 'public' and table_name = 'tradier_option_trades'").fetchall())
    columns = set(codec.columns(OptionTradeRecord))
    assert columns <= set(types)
    assert {c for c, t in types.items() if t == "numeric"} & columns <= codec.NUMERIC  # selected as ::text
    assert {c for c, t in types.items() if t == "date"} == codec.DATES
    assert {c for c, t in types.items() if t.startswith("timestamp")} & columns <= codec.TIMES


def test_a_row_the_store_sends_reads_back_as_the_same_record(db: Any, new_user: Any) -> None:
    user = str(new_user())
    record = option_trade(user, id=str(uuid.uuid4()), created_at=datetime(2026, 5, 15, 12, 0, 0, 1, tzinfo=UTC),
                          updated_at=datetime(2026, 5, 15, 12, 0, 0, 1, tzinfo=UTC),
                          strike_price=Decimal("512.5"), sl_limit_price=Decimal("0.000000000000000001"))
    insert(db, codec.to_row(record, omit=frozenset({"updated_at"})))
    selected = db.execute(f"select {codec.select_list(OptionTradeRecord).replace(',', ', ')}"
                          " from tradier_option_trades where id = %s", (record.id,)).fetchone()
    row = {name: value.isoformat() if isinstance(value, date | datetime) else value
           for name, value in zip(codec.columns(OptionTradeRecord), selected, strict=True)}
    row.update(id=str(row["id"]), user_id=str(row["user_id"]))
    stored = codec.from_row(OptionTradeRecord, row)
    assert stored.updated_at is not None
    assert stored == OptionTradeRecord(**{**record.__dict__, "updated_at": stored.updated_at})


def test_the_table_takes_every_status_the_store_writes_and_no_other(db: Any, new_user: Any) -> None:
    user = str(new_user())
    for status in OPTION_TRADE_STATUSES:
        insert(db, codec.to_row(option_trade(user, status=status), omit=frozenset({"id", "created_at",
                                                                                    "updated_at"})))
    bad = codec.to_row(option_trade(user, status="filled"), omit=frozenset({"id", "created_at", "updated_at"}))
    assert sqlstate(lambda: insert(db, bad)) == "23514"
