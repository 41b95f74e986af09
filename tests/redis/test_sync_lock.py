"""`POST /positions/sync` holds each key as a signal does, across servers sharing Redis: a sync on
one server and a signal on another never reconcile the same position at once (which could record
one close twice)."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

from redis.asyncio import Redis

from sparky.exchanges.base import Position
from sparky.signals.auth import LOCAL_USER_ID
from tests.conftest import make_settings, running
from tests.doubles import Delegating, install


class LockWitness(Delegating):
    """Notes, at every position read, whether the key's Redis lock is held at that moment."""

    def __init__(self, paper, *, redis: Redis, key: str) -> None:
        super().__init__(paper)
        self.redis, self.key = redis, key
        self.locked_at_reads: list[bool] = []

    async def position(self, symbol: str) -> Position | None:
        self.locked_at_reads.append(bool(await self.redis.exists(self.key)))
        return await super().position(symbol)


async def test_sync_reconciles_each_position_holding_its_lock_across_servers(redis_url: str, tmp_path) -> None:
    raw = Redis.from_url(redis_url)
    async with running(make_settings(tmp_path / "a", redis_url=redis_url)) as sparky:
        opened = await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700,
                                    stop_loss_percent=2, alert_id=f"sync-{uuid.uuid4()}")  # unique per run
        assert opened.json()["action"] == "opened"
        witness = install(sparky, LockWitness, redis=raw, key=f"sparky:lock:{LOCAL_USER_ID}:paper:BTCUSDT")
        await sparky.paper.note_price("BTCUSDT", D(26000))  # the stop fills on the venue
        response = await sparky.admin_post("/positions/sync")
        body = response.json()
        assert response.status_code == 200 and body["errors"] == []
        assert [(c["symbol"], c["exitReason"], c["exitPrice"]) for c in body["closed"]] == [
            ("BTCUSDT", "STOP_LOSS", 26000)]
        assert witness.locked_at_reads == [True]  # the reconcile ran under the key's lock
        assert [t.exit_reason for t in await sparky.services.store.list_trades()] == ["STOP_LOSS"]
    await raw.aclose()
