"""migrations/0022 on a real PostgreSQL: `mark_positions`, the background price refresh's one write
per cycle, called as PostgREST calls it for SupabaseStore (service_role, one transaction)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sparky.store.base import PriceMark
from sparky.store.supabase import codec
from tests.postgres.conftest import acting_as

AT = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)


@pytest.fixture
def user(new_user: Callable[[], uuid.UUID]) -> uuid.UUID:
    return new_user()


def open_position(db: Any, user: uuid.UUID, exchange: str, symbol: str = "BTCUSDT", quantity: str = "0.001") -> str:
    table = "paper_positions" if exchange == "paper" else "positions"
    return str(db.execute(
        f"insert into public.{table} (symbol, side, entry_price, entry_time, quantity, position_size_usd,"
        " exchange, user_id) values (%s, 'BUY', 27000.1, now(), %s, 27, %s, %s) returning id",
        (symbol, quantity, exchange, user),
    ).fetchone()[0])


def price_mark(user: uuid.UUID, exchange: str, position_id: str, symbol: str = "BTCUSDT",
               quantity: str = "0.001") -> PriceMark:
    return PriceMark(str(user), exchange, symbol, position_id, "BUY", Decimal(quantity), Decimal("27000.1"),
                     Decimal("27500.5"), Decimal("0.4004"), Decimal("1.4829"), AT)


def mark(db: Any, marks: list[PriceMark]) -> int:
    with acting_as(db, "service_role"):
        return db.execute("select public.mark_positions(%s::jsonb)", (json.dumps(codec.mark_rows(marks)),)).fetchone()[0]


def marked(db: Any, table: str, position_id: str) -> tuple[Any, ...] | None:
    return db.execute(f"select current_price::text, unrealized_pnl_usd::text, unrealized_pnl_percent::text,"
                      f" last_price_update from public.{table} where id = %s", (position_id,)).fetchone()


def test_marks_live_and_paper_rows_in_one_call(db: Any, user: uuid.UUID) -> None:
    live, paper = open_position(db, user, "aster"), open_position(db, user, "paper")
    assert mark(db, [price_mark(user, "aster", live), price_mark(user, "paper", paper)]) == 2
    for table, position_id in (("positions", live), ("paper_positions", paper)):
        assert marked(db, table, position_id) == ("27500.5", "0.4004", "1.4829", AT)


def test_a_row_closed_resized_or_replaced_is_left_alone(db: Any, user: uuid.UUID) -> None:
    closed = open_position(db, user, "aster", "BTCUSDT")
    resized = open_position(db, user, "aster", "ETHUSDT")
    replaced = open_position(db, user, "aster", "SOLUSDT")
    marks = [price_mark(user, "aster", closed, "BTCUSDT"), price_mark(user, "aster", resized, "ETHUSDT"),
             price_mark(user, "aster", replaced, "SOLUSDT")]
    db.execute("delete from public.positions where id = %s", (closed,))
    db.execute("update public.positions set quantity = 0.0004 where id = %s", (resized,))
    db.execute("delete from public.positions where id = %s", (replaced,))
    again = open_position(db, user, "aster", "SOLUSDT")
    assert mark(db, marks) == 0
    assert db.execute("select count(*) from public.positions where id = %s", (closed,)).fetchone() == (0,)
    assert marked(db, "positions", resized) == (None, None, None, None)
    assert marked(db, "positions", again) == (None, None, None, None)


def test_only_the_service_role_may_call_it(db: Any, user: uuid.UUID) -> None:
    position_id = open_position(db, user, "aster")
    payload = json.dumps(codec.mark_rows([price_mark(user, "aster", position_id)]))
    with acting_as(db, "authenticated", user), pytest.raises(Exception, match="permission denied"):
        db.execute("select public.mark_positions(%s::jsonb)", (payload,))
