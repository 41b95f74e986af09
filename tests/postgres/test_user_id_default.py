"""migrations/0018 on a real PostgreSQL: the dashboard inserts strategies and trade settings
without `user_id`, as a signed-in user; the row is theirs (auth.uid()), and row-level security
still keeps every user to their own rows. On a database Sparky created and on the original
dashboard's, migrated."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from sparky.store.migrations import apply_pending, discover
from tests.postgres.conftest import MIGRATIONS, acting_as
from tests.postgres.original_dashboard import create_original_dashboard
from tests.postgres.test_migrations import connect, sqlstate

#: what the dashboard's trade-settings page saves for Tradier (no user_id)
TRADIER_SETTINGS = ("insert into trade_settings_exchange (exchange, trading_hours_preset, trading_window, allow_weekends)"
                    " values ('tradier', 'market-hours', '[\"09:30\", \"16:00\"]'::jsonb, false) returning user_id")
STRATEGY = "insert into strategies (name, status) values (%s, 'active') returning user_id"


@pytest.fixture(params=["sparky", "original dashboard"])
def conn(request: Any, fresh_database) -> Iterator[Any]:
    with connect(fresh_database()) as connection:
        if request.param == "original dashboard":
            create_original_dashboard(connection)
        apply_pending(connection, discover(MIGRATIONS))
        yield connection


def user(conn: Any) -> uuid.UUID:
    user_id = uuid.uuid4()
    conn.execute("insert into auth.users (id, email) values (%s, %s)", (user_id, f"{user_id.hex[:8]}@example.test"))
    return user_id


def test_rows_inserted_without_user_id_belong_to_the_signed_in_user(conn: Any) -> None:
    alice, bob = user(conn), user(conn)
    with acting_as(conn, "authenticated", alice):
        assert conn.execute(STRATEGY, ("Breakout",)).fetchone() == (alice,)
        assert conn.execute(TRADIER_SETTINGS).fetchone() == (alice,)
        assert conn.execute("insert into notification_preferences default values returning user_id").fetchone() == (
            alice,)
    with acting_as(conn, "authenticated", bob):
        assert conn.execute(TRADIER_SETTINGS).fetchone() == (bob,)  # one row per user and exchange
        assert conn.execute("select count(*) from strategies").fetchone() == (0,)  # Alice's stays hers
        assert conn.execute("select user_id from trade_settings_exchange").fetchall() == [(bob,)]

    rows = conn.execute("select user_id, trading_hours_preset from trade_settings_exchange order by user_id = %s",
                        (bob,)).fetchall()
    assert rows == [(alice, "market-hours"), (bob, "market-hours")]


def test_row_level_security_still_refuses_a_row_for_someone_else(conn: Any) -> None:
    alice, bob = user(conn), user(conn)
    with acting_as(conn, "authenticated", alice):
        named_bob = "insert into strategies (name, status, user_id) values ('Theirs', 'active', %s)"
        assert sqlstate(lambda: conn.execute(named_bob, (bob,))) == "42501"
    with acting_as(conn, "anon"):  # no signed-in user: no default to fill in, and no policy
        assert sqlstate(lambda: conn.execute(STRATEGY, ("Anonymous",))) == "42501"
    with acting_as(conn, "service_role"):  # Sparky names the user itself; without one the row has none
        assert conn.execute(STRATEGY, ("Server",)).fetchone() == (None,)
    assert conn.execute("select count(*) from strategies where user_id = %s", (bob,)).fetchone() == (0,)
