"""A real PostgreSQL for the migration tests (never a mock): a fresh database per test module.

SPARKY_TEST_DATABASE_URL names a server where the tests may create and drop databases, as a
superuser (the migrations create roles). `scripts/postgres-for-tests.sh` starts a throwaway one
and prints its URL. Without the variable these tests are skipped, except under CI (CI=true),
where they fail: CI must not pass without having run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from sparky.store.migrations import apply_pending, discover

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
HOW_TO_START = (
    'start one with: export SPARKY_TEST_DATABASE_URL="$(scripts/postgres-for-tests.sh)" '
    "(installs PostgreSQL with apt-get when run as root)"
)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run)", pytrace=False)
    pytest.skip(f"{reason}; {HOW_TO_START}")


@pytest.fixture(scope="session")
def server_url() -> str:
    """The server from SPARKY_TEST_DATABASE_URL, checked to answer."""
    url = os.environ.get("SPARKY_TEST_DATABASE_URL")
    if not url:
        _unavailable("SPARKY_TEST_DATABASE_URL is not set")
    try:
        import psycopg
    except ImportError:
        _unavailable('psycopg is not installed (pip install "psycopg[binary]")')
    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            conn.execute("select 1")
    except psycopg.Error as err:
        pytest.fail(f"SPARKY_TEST_DATABASE_URL does not answer: {err}", pytrace=False)
    return url  # type: ignore[return-value]


@contextmanager
def _database(server: str) -> Iterator[str]:
    """Create an empty database with a random name; drop it afterwards, whatever is connected."""
    import psycopg
    from psycopg.conninfo import make_conninfo

    name = f"sparky_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'create database "{name}"')
    try:
        yield make_conninfo(server, dbname=name)
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="module")
def database_url(server_url: str) -> Iterator[str]:
    """A fresh, empty database for this test module."""
    with _database(server_url) as url:
        yield url


@pytest.fixture
def fresh_database(server_url: str) -> Iterator[Callable[[], str]]:
    """`fresh_database()` -> the URL of one more empty database, dropped after the test."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(_database(server_url))


@pytest.fixture(scope="module")
def migrated_url(database_url: str) -> str:
    """This module's database with every migration applied."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        apply_pending(conn, discover(MIGRATIONS))
    return database_url


@pytest.fixture
def db(migrated_url: str) -> Iterator[Any]:
    """An autocommit connection to the migrated database as its owner (a superuser: no RLS)."""
    import psycopg

    with psycopg.connect(migrated_url, autocommit=True) as conn:
        yield conn


@contextmanager
def acting_as(conn: Any, role: str, user_id: str | uuid.UUID | None = None) -> Iterator[Any]:
    """Run statements as a Supabase API role, with `user_id` as the JWT subject (auth.uid())."""
    conn.execute(f"set role {role}")
    conn.execute("select set_config('request.jwt.claim.sub', %s, false)", (str(user_id or ""),))
    try:
        yield conn
    finally:
        conn.execute("reset role")
        conn.execute("reset request.jwt.claim.sub")


@pytest.fixture
def as_role() -> Callable[..., Any]:
    """`with as_role(conn, "authenticated", user_id): ...`"""
    return acting_as


@pytest.fixture
def new_user(db: Any) -> Callable[[], uuid.UUID]:
    """`new_user()` -> the id of a new auth.users row (random, so tests sharing a database never meet)."""

    def make() -> uuid.UUID:
        user_id = uuid.uuid4()
        db.execute(
            "insert into auth.users (id, email) values (%s, %s)", (user_id, f"{user_id.hex[:8]}@example.test")
        )
        return user_id

    return make
