"""A signal's rows (its position, its close's trade, its request's status) are written while it
still holds its key's Redis lock: another server taking the key next reads them, and never takes a
close this server made for one the venue made on its own (which would record the trade twice)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from redis.asyncio import Redis

from sparky.signals.auth import LOCAL_USER_ID
from tests.conftest import make_settings, running


async def test_a_signals_rows_are_written_before_its_key_is_free_for_another_server(
        redis_url: str, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = Redis.from_url(redis_url)
    run = uuid.uuid4().hex  # alerts unique per run: Redis outlives the test
    async with running(make_settings(tmp_path / "a", redis_url=redis_url)) as sparky:
        store = sparky.services.store
        finish = store.finish_execution
        locked_at_finish: list[bool] = []

        async def witnessed(*args: Any, **kwargs: Any) -> None:  # observes, then writes as it would have
            locked_at_finish.append(bool(await raw.exists(f"sparky:lock:{LOCAL_USER_ID}:paper:BTCUSDT")))
            await finish(*args, **kwargs)

        monkeypatch.setattr(store, "finish_execution", witnessed)
        opened = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                    stop_loss_percent=2, alert_id=f"open-{run}")
        closed = await sparky.alert(action="close", symbol="BTCUSDT", price=27270, alert_id=f"close-{run}")
        assert (opened.json()["action"], closed.json()["action"]) == ("opened", "closed")
        assert locked_at_finish == [True, True]
        assert [t.exit_reason for t in await store.list_trades()] == ["MANUAL"]
    await raw.aclose()
