"""migrations/0016 on a real PostgreSQL: `find_webhook_secret_owners`, the lookup of a webhook
secret by POST body (never in a URL), matches as the SQLite store and the cached list do."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from sparky.store.tenants import secret_digest
from tests.postgres.conftest import acting_as


def store_secret(db: Any, user: uuid.UUID, secret: str, *, exchange: str = "webhook",
                 environment: str = "production") -> None:
    db.execute(
        "insert into bot_credentials (label, exchange, environment, webhook_secret, user_id)"
        " values ('Webhook', %s, %s, %s, %s)",
        (exchange, environment, secret, user),
    )


def owners(db: Any, secret: str) -> set[uuid.UUID]:
    """As SupabaseStore calls it: service_role, the secret as the argument."""
    with acting_as(db, "service_role"):
        return {r[0] for r in db.execute("select user_id from public.find_webhook_secret_owners(%s)", (secret,))}


def secret() -> str:
    return f"secret-{uuid.uuid4().hex}"


def test_a_plain_secret_the_dashboard_stored(db: Any, new_user: Callable[[], uuid.UUID]) -> None:
    user, plain = new_user(), secret()
    store_secret(db, user, plain)
    assert owners(db, plain) == {user}
    assert owners(db, plain.upper()) == set() and owners(db, plain[:-1]) == set()


def test_a_digest_sparky_stored_matches_its_secret_not_itself(db: Any, new_user: Callable[[], uuid.UUID]) -> None:
    user, plain = new_user(), f"é-{secret()}"  # the digest of the UTF-8 bytes, as in Python
    store_secret(db, user, secret_digest(plain))
    assert owners(db, plain) == {user}
    assert owners(db, secret_digest(plain)) == set()  # presenting the stored digest proves nothing


def test_only_production_webhook_rows(db: Any, new_user: Callable[[], uuid.UUID]) -> None:
    user, plain = new_user(), secret()
    store_secret(db, user, plain, environment="sandbox")
    store_secret(db, user, plain, exchange="aster")
    assert owners(db, plain) == set()
    assert owners(db, "") == set()


def test_a_secret_two_users_hold_names_both(db: Any, new_user: Callable[[], uuid.UUID]) -> None:
    a, b, plain = new_user(), new_user(), secret()
    store_secret(db, a, plain)
    store_secret(db, b, secret_digest(plain))
    assert owners(db, plain) == {a, b}  # Sparky then trusts neither


def test_only_service_role_may_call_it(db: Any, new_user: Callable[[], uuid.UUID]) -> None:
    import psycopg

    user, plain = new_user(), secret()
    store_secret(db, user, plain)
    for role in ("anon", "authenticated"):
        with acting_as(db, role, user), pytest.raises(psycopg.errors.InsufficientPrivilege):
            db.execute("select * from public.find_webhook_secret_owners(%s)", (plain,))
