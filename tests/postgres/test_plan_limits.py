"""check_webhook_limit answers the limits Sparky enforces (migrations/0009): the plan limits a
server publishes at start-up, with the same rule for plans without an entry."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sparky.plan_limits import merged_plan_limits, monthly_limit
from tests.postgres.test_migrations import add_requests, limit, sqlstate


def publish(db: Any, limits: dict[str, int | None]) -> None:
    db.execute("select sparky_publish_plan_limits(%s::jsonb)", (json.dumps(limits),))


def table(db: Any) -> dict[str, int | None]:
    return dict(db.execute("select plan, monthly_limit from sparky_plan_limits").fetchall())


@pytest.fixture
def published(db: Any):
    """Whatever a test publishes is undone: the module's database is shared."""
    yield
    publish(db, merged_plan_limits({}))


def test_until_a_server_publishes_the_table_holds_the_defaults(db) -> None:
    assert table(db) == merged_plan_limits({})


def test_admin_is_unlimited_before_any_server_publishes(db, new_user, as_role) -> None:
    user = new_user()
    add_requests(db, user, 6)  # past Free's 5
    for plan in ("Admin", "admin"):
        answer = limit(db, user, plan)
        assert (answer["plan"], answer["monthly_limit"], answer["allowed"]) == ("Admin", None, True)
    with as_role(db, "authenticated", user):  # what the dashboard shows its user
        assert limit(db, user, "Admin")["monthly_limit"] is None


def test_published_limits_are_what_check_webhook_limit_answers(db, new_user, published, as_role) -> None:
    limits = merged_plan_limits({"free": 2, "Basic": 100, "Gold": None})
    publish(db, limits)
    publish(db, limits)  # a second server with the same settings changes nothing
    assert table(db) == {"Free": 2, "Basic": 100, "Premium": 300, "Pro": None, "Admin": None, "Gold": None}

    user = new_user()
    add_requests(db, user, 2)
    for plan, expected_plan in [("Free", "Free"), ("basic", "Basic"), (" Gold ", "Gold"), ("Premium", "Premium"),
                                ("Platinum", "Free"), ("", "Free"), (None, "Free")]:
        answer = limit(db, user, plan)
        expected = monthly_limit(limits, plan or "")  # Sparky's own rule
        assert (answer["plan"], answer["monthly_limit"]) == (expected_plan, expected), plan
        assert answer["allowed"] is (expected is None or expected > 2), plan
    with as_role(db, "authenticated", user):  # the dashboard's user reads them through the function
        assert limit(db, user, "Gold")["monthly_limit"] is None
        assert limit(db, user, "Platinum")["monthly_limit"] == 2


def test_a_plan_no_longer_published_falls_back_to_free(db, new_user, published) -> None:
    publish(db, {"Free": 5, "Gold": None})
    publish(db, {"Free": 4})
    assert table(db) == {"Free": 4}
    assert (limit(db, new_user(), "Gold")["plan"], limit(db, new_user(), "Gold")["monthly_limit"]) == ("Free", 4)


def test_without_a_free_row_an_unknown_plan_is_never_unlimited(db, new_user, published) -> None:
    user = new_user()
    db.execute("delete from sparky_plan_limits where plan = 'Free'")  # by hand, as an operator might
    assert limit(db, user, "Platinum")["monthly_limit"] == 75  # the smallest limit left
    db.execute("delete from sparky_plan_limits where monthly_limit is not null")
    assert limit(db, user, "Platinum")["monthly_limit"] == 0
    assert limit(db, user, "Pro")["monthly_limit"] is None


@pytest.mark.parametrize("limits", ['{"Basic": 10}', '{"Free": null}', '["Free"]', '{"Free": "5"}'])
def test_limits_without_a_number_for_free_are_refused_and_nothing_changes(db, limits: str) -> None:
    before = table(db)
    assert sqlstate(lambda: db.execute("select sparky_publish_plan_limits(%s::jsonb)", (limits,))) == "22023"
    assert table(db) == before


def test_only_the_service_role_publishes(db, new_user, as_role) -> None:
    before = table(db)
    for role in ("authenticated", "anon"):
        with as_role(db, role, new_user()):
            assert sqlstate(lambda: publish(db, {"Free": 1000})) == "42501"
            assert sqlstate(lambda: db.execute("update sparky_plan_limits set monthly_limit = 1000")) in {"42501", None}
    assert table(db) == before
    with as_role(db, "anon"):
        assert sqlstate(lambda: db.execute("select * from sparky_plan_limits").fetchall()) == "42501"
    with as_role(db, "service_role"):
        publish(db, before)
