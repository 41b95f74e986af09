"""`sparky check` with DATABASE_URL: the migrations as `sparky migrate --status` sees them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sparky.store.migrations import apply_pending, connect, discover
from tests.postgres.conftest import MIGRATIONS
from tests.unit.cli.test_check import check, database, env  # noqa: F401  (fixtures)


def test_pending_migrations_fail_until_sparky_migrate_applied_them(
    env: pytest.MonkeyPatch, database: Path, fresh_database: Callable[[], str],  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = fresh_database()
    env.setenv("DATABASE_URL", url)
    env.setenv("SPARKY_MIGRATIONS_DIR", str(MIGRATIONS))
    files = discover(MIGRATIONS)

    status, found = check(capsys)

    assert status == 1
    [line] = found["migrations"]
    assert line.startswith(f"FAIL: {len(files)} pending ({files[0].name}, ") and line.endswith("run `sparky migrate`")

    with connect(url) as conn:
        apply_pending(conn, files)
    status, found = check(capsys)

    assert status == 0
    assert found["migrations"][0].startswith(f"ok: all {len(files)} applied to ")


def test_a_database_that_does_not_answer_fails(env: pytest.MonkeyPatch, database: Path,  # noqa: F811
                                               capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("DATABASE_URL", "postgresql://sparky:secret-password@127.0.0.1:1/sparky")
    env.setenv("SPARKY_MIGRATIONS_DIR", str(MIGRATIONS))

    status, found = check(capsys)

    assert status == 1
    [line] = found["migrations"]
    assert line.startswith("FAIL: postgresql://sparky:***@127.0.0.1:1/sparky: cannot connect")
    assert "secret-password" not in line
