"""A real redis-server for these tests: `make test` starts one (scripts/redis-for-tests.sh)."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture
def redis_url() -> str:
    url = os.environ.get("SPARKY_TEST_REDIS_URL")
    if not url:
        message = "SPARKY_TEST_REDIS_URL is not set; start one with: eval \"$(scripts/redis-for-tests.sh)\""
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def prefix() -> str:
    """Each test its own key space, so tests never see each other's keys."""
    return f"test-{uuid.uuid4().hex[:8]}:"
