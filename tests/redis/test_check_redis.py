"""`sparky check` with REDIS_URL naming a Redis that answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.cli.test_check import check, database, env  # noqa: F401  (fixtures)


def test_redis_answering_is_ok(env: pytest.MonkeyPatch, database: Path, redis_url: str,  # noqa: F811
                               capsys: pytest.CaptureFixture[str]) -> None:
    env.setenv("REDIS_URL", redis_url)

    status, found = check(capsys)

    assert status == 0
    assert found["redis"] == [f"ok: {redis_url} answers"]
