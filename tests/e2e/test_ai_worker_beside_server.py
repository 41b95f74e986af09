"""The AI worker's process beside the server on one data dir: a second process opens the same SQLite
file and writes heartbeats (and AI strategies) while the server records and executes webhooks;
neither waits out a lock error, nothing is lost, and the server's health reads the worker's rows."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

from sparky.store.base import RequestStatus
from tests.conftest import make_settings, running

SOURCES = Path(__file__).resolve().parents[2] / "src"
BEATS = 300
ALERTS = 40

#: the worker side: its own SqliteStore on the server's file, writing as every cycle does
WORKER = textwrap.dedent("""
    import asyncio, sys
    from datetime import UTC, datetime
    from sparky.store.ai import RUNNING, AiStrategyRecord, AiWorkerHeartbeat
    from sparky.store.sqlite.store import SqliteStore

    async def main(path, beats):
        store = SqliteStore(path, synchronous="FULL")
        await store.open()
        print("open", flush=True)
        for i in range(1, beats + 1):
            await store.record_ai_worker_heartbeat(AiWorkerHeartbeat(
                "worker-beside", datetime.now(UTC), cycle_duration_ms=i, strategies=i, decisions=i, errors=0))
            if i % 50 == 0:
                await store.add_ai_strategy(AiStrategyRecord(
                    user_id="aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", status=RUNNING, exchange="paper",
                    is_paper_trading=True))
        await store.aclose()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
""")


async def test_a_worker_process_writes_heartbeats_while_the_server_records_webhooks(data_dir: Path) -> None:
    async with running(make_settings(data_dir, sqlite_synchronous="FULL")) as sparky:
        worker = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, str(data_dir / "sparky.sqlite3"), str(BEATS),
            env={"PYTHONPATH": str(SOURCES)}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        assert await asyncio.wait_for(worker.stdout.readline(), 30) == b"open\n"  # opened beside the server
        replies = []
        for i in range(ALERTS):  # while the worker writes
            action = "buy" if i % 2 == 0 else "close"
            replies.append(await sparky.alert(action=action, symbol="BTCUSDT", price="27000", alert_id=f"a{i}"))
        _, errors = await asyncio.wait_for(worker.communicate(), 60)
        health = await sparky.client.get("/health/ai-worker")
        requests = await sparky.services.store.list_webhook_requests(limit=ALERTS + 1)
        strategies = await sparky.services.store.running_ai_strategies()

    assert worker.returncode == 0, errors.decode()
    assert [r.status_code for r in replies] == [200] * ALERTS, [r.text for r in replies if r.status_code != 200]
    assert [r.json()["action"] for r in replies] == ["opened", "closed"] * (ALERTS // 2)
    assert len(requests) == ALERTS and {r.status for r in requests} == {RequestStatus.SUCCESS}
    assert len(strategies) == BEATS // 50
    assert health.status_code == 200, health.text
    [beat] = health.json()["workers"]
    assert (beat["worker_id"], beat["strategies"]) == ("worker-beside", BEATS)
