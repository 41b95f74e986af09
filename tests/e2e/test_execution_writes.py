"""What an execution records — its position, its close's trade, its request's final status — is
written in one store transaction: all of it, or none of it and the request stays pending.

The final write is made to fail with a trigger in the database file (as a full disk or an I/O
error would fail it): then nothing of the execution is half-written, and the restart recovers the
request from its orders' client ids, recording each row exactly once and sending nothing again.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal as D
from pathlib import Path

from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.base import RequestStatus
from tests.conftest import Sparky

OPEN_LONG = {"action": "buy", "symbol": "BTCUSDT", "price": 27000, "position_size_usd": 2700,
             "stop_loss_percent": 2, "take_profit_percent": 4}
CLOSE = {"action": "close", "symbol": "BTCUSDT", "price": 27270}

FAIL_FINISH = ("CREATE TRIGGER fail_finish BEFORE UPDATE OF status ON webhook_requests "
               "WHEN NEW.status <> 'pending' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")


def database(data_dir: Path, sql: str) -> None:
    """Change the database file from outside the server (what the trigger stands in for: the disk)."""
    with sqlite3.connect(data_dir / "sparky.sqlite3") as conn:
        conn.execute(sql)


async def rows(sparky: Sparky) -> dict:
    store = sparky.services.store
    return {
        "positions": [(p.side, p.quantity, p.entry_price, p.stop_loss_price, p.take_profit_price)
                      for p in await store.list_positions()],
        "trades": [(t.side, t.exit_reason, t.quantity, t.exit_price, t.pnl_usd) for t in await store.list_trades()],
    }


async def test_an_open_whose_final_write_fails_records_nothing_and_is_recovered_once(start, data_dir) -> None:
    async with start() as sparky:
        await sparky.alert(symbol="ETHUSDT", action="close")  # the store file exists
        database(data_dir, FAIL_FINISH)
        answer = (await sparky.alert(**OPEN_LONG)).json()
        assert answer["action"] == "opened"  # the venue holds the position, protected
        rid = answer["request_id"]
        row = await sparky.services.store.get_webhook_request(rid)
        # not a position recorded for a request still pending: nothing of the execution is written
        assert row.status is RequestStatus.PENDING
        assert await rows(sparky) == {"positions": [], "trades": []}
        assert [p.symbol for p in await sparky.paper.positions()] == ["BTCUSDT"]
        database(data_dir, "DROP TRIGGER fail_finish")

    async with start() as sparky:  # the restart resumes the request from its orders' client ids
        row = await sparky.services.store.get_webhook_request(rid)
        assert (row.status, row.result["action"]) == (RequestStatus.SUCCESS, "opened")
        assert sparky.paper.requests == []  # neither the entry nor its exits are sent again
        assert await rows(sparky) == {
            "positions": [("BUY", D("0.1"), D(27000), D("26460.0"), D("28080.0"))], "trades": []}
        position = await sparky.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT")
        assert position.entry_order_id == row.result["entryOrder"]["orderId"]
        # its exits, as the venue holds them, are the ones the row names
        assert sorted(o.id for o in await sparky.paper.open_orders("BTCUSDT")) == sorted(
            [position.stop_loss_order_id, position.take_profit_order_id])


async def test_a_close_whose_final_write_fails_records_nothing_and_is_recovered_once(start, data_dir) -> None:
    async with start() as sparky:
        assert (await sparky.alert(**OPEN_LONG)).json()["action"] == "opened"
        database(data_dir, FAIL_FINISH)
        answer = (await sparky.alert(**CLOSE)).json()
        assert answer["action"] == "closed" and answer["pnl"] == {"usd": 27, "percent": 1}
        rid = answer["request_id"]
        assert (await sparky.services.store.get_webhook_request(rid)).status is RequestStatus.PENDING
        # the position is still recorded and no trade is: the close is recorded whole or not at all
        assert await rows(sparky) == {
            "positions": [("BUY", D("0.1"), D(27000), D("26460.0"), D("28080.0"))], "trades": []}
        database(data_dir, "DROP TRIGGER fail_finish")

    async with start() as sparky:
        row = await sparky.services.store.get_webhook_request(rid)
        assert (row.status, row.result["action"], row.result["pnl"]) == (
            RequestStatus.SUCCESS, "closed", {"usd": 27, "percent": 1})
        assert sparky.paper.requests == []  # the close is not sent again
        # one trade, from the close's own fill
        assert await rows(sparky) == {"positions": [], "trades": [("BUY", "MANUAL", D("0.1"), D(27270), D(27))]}


async def test_a_webhook_is_two_commits_its_record_and_its_execution(sparky) -> None:
    """The request is committed before anything is sent; everything the execution records is
    committed once, with the request's final status."""
    writer = sparky.services.store._writer
    await sparky.alert(symbol="ETHUSDT", action="close")  # warm: the store and the paper venue
    for alert in (OPEN_LONG, CLOSE):
        before = writer.commits
        assert (await sparky.alert(**alert)).json()["success"] is True
        assert writer.commits - before == 2
    assert (await rows(sparky))["trades"] == [("BUY", "MANUAL", D("0.1"), D(27270), D(27))]
