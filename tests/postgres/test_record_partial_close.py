"""migrations/0011 on a real PostgreSQL: fees on trades and positions, `record_close` keeping them,
and `record_partial_close` (the trade of the part that closed + what stays open, in one call), called
the way PostgREST calls them for SupabaseStore: as service_role, one transaction per call."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from sparky.store.base import PositionRecord, TradeRecord
from sparky.store.supabase import codec
from tests.postgres.conftest import acting_as
from tests.postgres.test_record_webhook_request import close, position, trade_row
from tests.store_contract import make_position, make_trade


@pytest.fixture
def user(new_user: Callable[[], uuid.UUID]) -> uuid.UUID:
    return new_user()


def close_part(db: Any, trade: dict[str, Any], rest: dict[str, Any]) -> None:
    with acting_as(db, "service_role"):
        db.execute("select public.record_partial_close(%s::jsonb, %s::jsonb)", (json.dumps(trade), json.dumps(rest)))


def stored_trade(db: Any, trade_id: str) -> TradeRecord:
    columns = ",".join(f"{c}::text" if c in codec.NUMERIC else c for c in codec.columns(TradeRecord))
    found = db.execute(f"select {columns} from public.trades where id = %s", (trade_id,)).fetchone()
    row = {k: codec.decode_value(k, v) if isinstance(v, str) else v
           for k, v in zip(codec.columns(TradeRecord), found, strict=True)}  # fmt: skip
    row.update(id=str(row["id"]), user_id=str(row["user_id"]))
    return TradeRecord(**row)


def stored_position(db: Any, user: uuid.UUID, exchange: str = "paper") -> PositionRecord:
    columns = ",".join(f"{c}::text" if c in codec.NUMERIC else c for c in codec.columns(PositionRecord))
    found = db.execute(f"select {columns} from public.positions where user_id = %s and exchange = %s",
                       (user, exchange)).fetchone()
    row = {k: codec.decode_value(k, v) if isinstance(v, str) else v
           for k, v in zip(codec.columns(PositionRecord), found, strict=True)}  # fmt: skip
    row.update(id=str(row["id"]), user_id=str(row["user_id"]))
    return PositionRecord(**row)


def test_record_close_keeps_the_fees(db: Any, user: uuid.UUID) -> None:
    trade: TradeRecord = make_trade(id=str(uuid.uuid4()), user_id=str(user), created_at=datetime.now(UTC),
                                    fees_usd=Decimal("0.000012345678901234567"), strategy_id=None)
    close(db, codec.trade_row(trade))
    assert stored_trade(db, trade.id) == trade


def test_record_partial_close_inserts_the_trade_and_rewrites_only_that_position(db: Any, user: uuid.UUID) -> None:
    held = position(db, user, "paper")
    other = position(db, user, "aster")
    before = stored_position(db, user)
    rest = replace(before, quantity=Decimal("0.0006"), position_size_usd=Decimal("16.20006"),
                   fees_usd=Decimal("0.0162"), stop_loss_order_id="o-sl", notes="kept")
    trade = trade_row(user, quantity="0.0004", fees_usd="0.0108", exit_reason="PARTIAL_CLOSE")
    close_part(db, trade, codec.position_row(rest))

    after = stored_position(db, user)
    assert (after.id, after.created_at) == (str(held), before.created_at)
    assert replace(after, updated_at=None) == replace(rest, updated_at=None)
    assert stored_position(db, user, "aster").id == str(other)
    assert stored_position(db, user, "aster").quantity == Decimal("0.001")
    found = db.execute("select quantity::text, fees_usd::text, exit_reason, strategy_id from public.trades"
                       " where id = %s", (trade["id"],)).fetchone()
    assert found == ("0.0004", "0.0108", "PARTIAL_CLOSE", None)  # an unknown strategy is dropped


def test_record_partial_close_retried_changes_nothing(db: Any, user: uuid.UUID) -> None:
    position(db, user)
    rest = replace(stored_position(db, user), quantity=Decimal("0.0006"))
    trade = trade_row(user)
    close_part(db, trade, codec.position_row(rest))
    db.execute("update public.positions set quantity = 0.0002 where user_id = %s", (user,))  # closed more since
    close_part(db, trade, codec.position_row(rest))  # the same call again (its first reply was lost)
    assert stored_position(db, user).quantity == Decimal("0.0002")
    assert db.execute("select count(*) from public.trades where user_id = %s", (user,)).fetchone() == (1,)


def test_record_partial_close_stores_the_rest_when_no_position_was_stored(db: Any, user: uuid.UUID) -> None:
    rest = make_position(user_id=str(user), quantity=Decimal("2"), strategy_id=None, notes="Closed without a record")
    close_part(db, trade_row(user), codec.position_row(rest))
    after = stored_position(db, user)
    assert (after.quantity, after.notes) == (Decimal("2"), "Closed without a record")


def test_only_service_role_may_call_it(db: Any, user: uuid.UUID) -> None:
    import psycopg

    for role in ("authenticated", "anon"):
        with acting_as(db, role, user), pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select public.record_partial_close('{}'::jsonb, '{}'::jsonb)")
