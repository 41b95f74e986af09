"""`sparky backup PATH`: a copy taken while the server records webhooks and trades on paper opens,
holds every row recorded before it began, and restores the positions; bad paths write nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from sparky.cli import users as users_cli
from sparky.cli.main import main
from sparky.exchanges.base import Side
from sparky.exchanges.paper.adapter import PaperExchange
from sparky.signals.auth import LOCAL_USER_ID
from sparky.store.sqlite.store import SqliteStore
from tests.support import message_after


def rows(database: Path) -> list[tuple[str, str]]:
    conn = sqlite3.connect(database)
    try:
        return conn.execute("SELECT id, status FROM webhook_requests ORDER BY created_at, id").fetchall()
    finally:
        conn.close()


def backup(*argv: str) -> int:
    return main(["backup", *argv])


async def test_a_backup_taken_while_webhooks_are_recorded_has_their_rows_and_restores_the_positions(
    start, data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert await asyncio.to_thread(users_cli.main, ["users", "add", "--data-dir", str(data_dir), "--plan", "Pro"]) == 0
    printed = capsys.readouterr().out
    user_secret = json.loads(message_after(printed, "TradingView alert message"))["secret"]
    user_id = printed.splitlines()[0].removeprefix("Created user ").split(":")[0]
    target = tmp_path / "backups" / "today"

    async with start() as sparky:
        before = [
            await sparky.alert(action="long", symbol="BTCUSDT", price=27000, position_size_usd=2700),
            await sparky.alert(action="short", symbol="ETHUSDT", price=2000, position_size_usd=2000),
            await sparky.client.post("/webhook", json={"secret": user_secret, "exchange": "paper", "action": "long",
                                                       "symbol": "BTCUSDT", "price": 27000}),
        ]
        assert [r.json()["action"] for r in before] == ["opened", "opened", "opened"]

        async def keep_recording() -> list[str]:  # the server writes while the copy is taken
            ids = []
            for i in range(30):
                answer = await sparky.alert(action="close", symbol="SOLUSDT", price=100, alert_id=f"during-{i}")
                ids.append(answer.json()["request_id"])
            return ids

        status, during = await asyncio.gather(asyncio.to_thread(backup, str(target), "--data-dir", str(data_dir)),
                                              keep_recording())
        assert status == 0
        live = rows(data_dir / "sparky.sqlite3")

    copied = rows(target / "sparky.sqlite3")
    recorded_before = {r.json()["request_id"] for r in before}
    assert recorded_before <= {row_id for row_id, _ in copied}
    # the database as of one commit: a prefix of what the server wrote, each row as it was then (an
    # alert still executing is in it as `pending`: recorded before its order, as always)
    assert [row_id for row_id, _ in copied] == [row_id for row_id, _ in live][: len(copied)]
    assert all(status in ("success", "skipped", "pending") for _, status in copied)
    out = capsys.readouterr().out
    assert f"sparky.sqlite3  {(target / 'sparky.sqlite3').stat().st_size} bytes  ({len(copied)} webhook requests)" in out
    assert "paper-exchange.json.journal" in out and f"paper/{user_id}.json.journal" in out
    assert "To restore: stop the server" in out

    local_paper = PaperExchange(state_path=target / "paper-exchange.json")
    assert {(p.symbol, p.side) for p in await local_paper.positions()} == {("BTCUSDT", Side.BUY),
                                                                           ("ETHUSDT", Side.SELL)}
    user_paper = PaperExchange(state_path=target / "paper" / f"{user_id}.json")
    assert [(p.symbol, p.side) for p in await user_paper.positions()] == [("BTCUSDT", Side.BUY)]
    assert (target / "sparky.sqlite3").stat().st_mode & 0o077 == 0  # API keys in it: the owner's only

    # restore as documented: the server stopped, the data dir moved aside, the backup in its place
    shutil.move(data_dir, tmp_path / "data.old")
    shutil.copytree(target, data_dir)
    async with start() as restored:
        positions = (await restored.admin_get("/positions")).json()
        assert positions["totalPositions"] == 3
        assert {(p.symbol, p.side) for p in await restored.paper.positions()} == {("BTCUSDT", Side.BUY),
                                                                                 ("ETHUSDT", Side.SELL)}
        closed = await restored.alert(action="close", symbol="BTCUSDT", price=27100)
        assert closed.json()["action"] == "closed"  # the restored venue and store agree on what is open
        assert await restored.services.store.get_position(LOCAL_USER_ID, "paper", "BTCUSDT") is None


async def test_a_backup_after_the_paper_state_was_compacted_has_the_snapshot_and_the_changes_after_it(
    start, data_dir: Path, tmp_path: Path,
) -> None:
    async with start() as sparky:
        await sparky.alert(action="long", symbol="BTCUSDT", price=27000, position_size_usd=2700)
    async with start() as sparky:  # the stop wrote the snapshot; what follows is in the journal
        await sparky.alert(action="short", symbol="ETHUSDT", price=2000, position_size_usd=2000)
        assert await asyncio.to_thread(backup, str(tmp_path / "copy"), "--data-dir", str(data_dir)) == 0
        expected = await sparky.paper.positions()

    copy = tmp_path / "copy"
    assert (copy / "paper-exchange.json").exists() and (copy / "paper-exchange.json.journal").stat().st_size > 0
    assert await PaperExchange(state_path=copy / "paper-exchange.json").positions() == expected


def test_an_existing_backup_is_kept_unless_force(sparky_data: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "copy"
    target.mkdir()
    (target / "sparky.sqlite3").write_text("yesterday's backup")

    assert backup(str(target), "--data-dir", str(sparky_data)) == 2
    err = capsys.readouterr().err
    assert "already holds files: pass --force" in err
    assert (target / "sparky.sqlite3").read_text() == "yesterday's backup"

    assert backup(str(target), "--data-dir", str(sparky_data), "--force") == 0
    assert rows(target / "sparky.sqlite3") == rows(sparky_data / "sparky.sqlite3")


@pytest.mark.parametrize(("where", "says"), [
    ("a-file", "is a file: give a directory"),
    ("a-file/below", "a-file is a file, not a directory"),
    ("data/backup", "is inside the data dir"),
    ("data", "is inside the data dir"),
])
def test_a_bad_path_is_refused_and_nothing_is_written(sparky_data: Path, tmp_path: Path, where: str, says: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    before = sorted(p.name for p in tmp_path.rglob("*"))

    assert backup(str(tmp_path / where), "--data-dir", str(sparky_data)) == 2

    assert says in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_a_data_dir_with_nothing_to_back_up_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert backup(str(tmp_path / "copy"), "--data-dir", str(tmp_path / "empty")) == 2
    assert "nothing to back up: no database and no paper state" in capsys.readouterr().err
    assert not (tmp_path / "copy").exists()


def test_invalid_settings_without_data_dir_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOG_LEVEL", "loud")
    assert backup(str(tmp_path / "copy")) == 2
    err = capsys.readouterr().err
    assert "invalid settings (or pass --data-dir)" in err and "LOG_LEVEL" in err


@pytest.fixture
async def sparky_data(start, data_dir: Path) -> Path:
    """A data dir a server used: a database with one webhook and a paper position."""
    async with start() as sparky:
        assert (await sparky.alert(action="long", symbol="BTCUSDT", price=27000)).status_code == 200
    return data_dir


async def test_a_data_dir_whose_name_has_uri_characters_is_backed_up(tmp_path: Path) -> None:
    data = tmp_path / "sparky #1?mode=ro%20"
    store = SqliteStore(data / "sparky.sqlite3")
    await store.open()
    await store.aclose()

    assert await asyncio.to_thread(backup, str(tmp_path / "copy"), "--data-dir", str(data)) == 0
    assert rows(tmp_path / "copy" / "sparky.sqlite3") == []
