"""migrations/0015 on a real PostgreSQL: `check_webhook_limit` and `record_webhook_request` count
the same rows as the SQLite store (requests accepted for execution, in the UTC month), whatever the
session's time zone, and the count reads a partial index."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from sparky.store.base import RequestStatus
from tests.postgres.test_record_webhook_request import record, request_row

ACCEPTED = [s.value for s in RequestStatus if s.counts_toward_quota]
REFUSED = [s.value for s in RequestStatus if not s.counts_toward_quota]


def add(db: Any, user: uuid.UUID, at: str, statuses: list[str]) -> None:
    for status in statuses:
        db.execute(
            "insert into webhook_requests (user_id, status, created_at) values (%s, %s, %s)", (user, status, at)
        )


def limit_at(db: Any, user: uuid.UUID, at: str | None = None, plan: str = "Free") -> dict[str, Any]:
    cur = db.execute("select * from check_webhook_limit(%s, %s, %s)", (user, plan, at))
    return dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))


@pytest.fixture
def user(new_user: Callable[[], uuid.UUID]) -> uuid.UUID:
    return new_user()


def test_only_requests_accepted_for_execution_count(db: Any, user: uuid.UUID) -> None:
    assert sorted(ACCEPTED) == ["expired", "failed", "pending", "skipped", "success"]
    add(db, user, "now()", ACCEPTED + REFUSED + REFUSED)
    assert limit_at(db, user)["current_count"] == 5
    assert limit_at(db, user)["allowed"] is False
    assert record(db, request_row(user), None) == {"outcome": "recorded", "current_count": 6, "monthly_limit": None}
    assert record(db, request_row(user, status="rejected"), None)["current_count"] == 6
    assert record(db, request_row(user), 7)["current_count"] == 7
    assert record(db, request_row(user), 7) == {"outcome": "quota_exceeded", "current_count": 7, "monthly_limit": 7}


def test_one_real_alert_and_three_refused_leave_four(db: Any, user: uuid.UUID) -> None:
    add(db, user, "now()", ["success", "rejected", "rejected", "duplicate"])
    result = limit_at(db, user)
    assert (result["current_count"], result["monthly_limit"], result["allowed"]) == (1, 5, True)
    assert [record(db, request_row(user), 5)["outcome"] for _ in range(5)] == ["recorded"] * 4 + ["quota_exceeded"]


@pytest.mark.parametrize(
    ("at", "late", "reset"),
    [
        ("2026-05-31T20:00:00Z", "2026-05-31T00:00:00Z", "2026-06-01T00:00:00Z"),  # after a 30-day month
        ("2026-03-30T12:00:00Z", "2026-03-28T23:00:00Z", "2026-04-01T00:00:00Z"),  # after February, DST begins
        ("2026-12-31T23:59:59Z", "2026-12-31T00:00:00Z", "2027-01-01T00:00:00Z"),
    ],
)
def test_the_month_ends_at_midnight_utc_in_a_new_york_session(
    db: Any, user: uuid.UUID, at: str, late: str, reset: str
) -> None:
    """Adding a month to the month's first instant in New York time ended May's window on May 31
    00:00 UTC and March's on March 28 23:00 UTC: the last days of such months counted nothing."""
    add(db, user, late, ["success"] * 4)  # late in the month, where the old window had ended
    add(db, user, at, ["success"])
    add(db, user, reset, ["success"] * 3)  # the next month's first instant: not this month
    db.execute("set time zone 'America/New_York'")
    try:
        result = limit_at(db, user, at)
        assert result["reset_date"] == datetime.fromisoformat(reset)
        assert (result["current_count"], result["allowed"]) == (5, False)
        # record_webhook_request counts the same window, in the same session
        row = request_row(user, created_at=at)
        assert record(db, row, None)["current_count"] == 6
    finally:
        db.execute("reset time zone")


def test_without_p_at_the_month_is_now(db: Any, user: uuid.UUID) -> None:
    add(db, user, "now()", ["success", "failed"])
    db.execute("set time zone 'America/New_York'")
    try:
        result = limit_at(db, user)
    finally:
        db.execute("reset time zone")
    now = datetime.now(UTC)
    next_month = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    assert (result["current_count"], result["reset_date"]) == (2, next_month)


def test_the_dashboards_call_still_works(db: Any, user: uuid.UUID, as_role: Callable[..., Any]) -> None:
    """supabase-js: rpc('check_webhook_limit', {p_user_id, p_plan}), as a signed-in user."""
    add(db, user, "now()", ["success"])
    with as_role(db, "authenticated", user):
        found = db.execute("select allowed, current_count from check_webhook_limit(p_user_id => %s, p_plan => 'Basic')",
                           (user,)).fetchone()  # fmt: skip
    assert found == (True, 1)


def test_the_count_reads_the_partial_index(db: Any, user: uuid.UUID) -> None:
    db.execute("set enable_seqscan = off")
    try:
        plan = "\n".join(r[0] for r in db.execute(
            "explain select count(*) from public.webhook_requests w where w.user_id = %s"
            " and w.created_at >= now() and w.created_at < now() + interval '1 day'"
            " and w.status not in ('rejected', 'duplicate', 'rate_limited')",
            (user,),
        ))  # fmt: skip
    finally:
        db.execute("reset enable_seqscan")
    assert "idx_webhook_requests_user_accepted" in plan
