"""migrations/0023 on a real PostgreSQL: Sparky's columns of ai_strategies and the AI worker's
heartbeat table, with the constraints the stores' checks mirror (src/sparky/store/ai.py)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.postgres.test_migrations import sqlstate


def add_strategy(db: Any, user_id: uuid.UUID, **values: Any) -> uuid.UUID:
    row = {"user_id": user_id, "name": "Momentum", **values}
    names = ", ".join(row)
    cur = db.execute(f"insert into ai_strategies ({names}) values ({', '.join(['%s'] * len(row))}) returning id",
                     list(row.values()))
    return cur.fetchone()[0]


def test_a_strategy_keeps_its_venue_and_position_sizes(db, new_user) -> None:
    user = new_user()
    strategy = add_strategy(db, user, exchange="aster", min_position_size_usd="25",
                            max_position_size_usd="0.000000000000000001", is_paper_trading=True)
    row = db.execute("select exchange, min_position_size_usd::text, max_position_size_usd::text, status,"
                     " is_paper_trading from ai_strategies where id = %s", (strategy,)).fetchone()
    assert row == ("aster", "25", "0.000000000000000001", "paused", True)


@pytest.mark.parametrize("column, value", [("status", "active"), ("risk_profile", "moderate")])
def test_the_values_the_store_refuses_the_table_refuses(db, new_user, column, value) -> None:
    user = new_user()
    assert sqlstate(lambda: add_strategy(db, user, **{column: value})) == "23514"


def test_a_decision_names_an_existing_strategy_and_gets_its_outcome_label(db, new_user) -> None:
    user = new_user()
    strategy = add_strategy(db, user)
    insert = ("insert into ai_trade_decisions (user_id, strategy_id, market_snapshot, technical_indicators,"
              " parsed_decision, pnl_1h) values (%s, %s, '{}', '{}', %s, %s) returning outcome_label")
    assert db.execute(insert, (user, strategy, json.dumps({"action": "buy"}), "-2")).fetchone() == ("negative",)
    assert sqlstate(lambda: db.execute(insert, (user, uuid.uuid4(), "{}", None))) == "23503"


def test_heartbeats_are_the_service_roles_only(db, new_user, as_role) -> None:
    user = new_user()
    upsert = ("insert into ai_worker_heartbeats (worker_id, last_cycle_at, cycle_duration_ms, strategies,"
              " decisions, errors) values (%s, now(), %s, 3, 2, 0) on conflict (worker_id) do update set"
              " cycle_duration_ms = excluded.cycle_duration_ms")
    with as_role(db, "service_role"):
        db.execute(upsert, ("host-a", 1200))
        db.execute(upsert, ("host-a", 900))
        assert db.execute("select worker_id, cycle_duration_ms from ai_worker_heartbeats").fetchall() == [
            ("host-a", 900)]
    for role in ("authenticated", "anon"):
        with as_role(db, role, user):
            assert sqlstate(lambda: db.execute("select * from ai_worker_heartbeats")) == "42501"
            assert sqlstate(lambda: db.execute(upsert, ("intruder", 1))) == "42501"
    assert sqlstate(lambda: db.execute(upsert, ("host-b", -1))) == "23514"
