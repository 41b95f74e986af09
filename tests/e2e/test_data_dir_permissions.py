"""The data dir holds users' API keys (the SQLite store), the generated secrets and the paper state:
only the user running Sparky may read it. Checked after a real start, on a fresh data dir and on one
an earlier version left readable by everyone."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sparky.data_dir_lock import DataDirLock
from tests.conftest import make_settings, running

ALERT = {"exchange": "paper", "action": "buy", "symbol": "BTCUSDT", "price": 27000, "position_size_usd": 2700,
         "stop_loss_percent": 2}


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """022, as on most systems: what is not made private explicitly is readable by everyone."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(data_dir: Path) -> dict[str, str]:
    """Every path under the data dir (the dir itself as '.') and its permission bits."""
    paths = [data_dir, *data_dir.rglob("*")]
    return {str(p.relative_to(data_dir)): oct(p.stat().st_mode & 0o777) for p in paths}


async def trade_once(data_dir: Path) -> None:
    """Start with generated secrets, open a paper position, stop (the paper snapshot is written)."""
    async with running(make_settings(data_dir, webhook_secret=None, admin_token=None)) as sparky:
        secret = (data_dir / "webhook_secret").read_text().strip()
        response = await sparky.client.post("/webhook", json={"secret": secret, **ALERT})
        assert response.json()["action"] == "opened"
        assert modes(data_dir) == {
            ".": "0o700",
            "sparky.sqlite3": "0o600", "sparky.sqlite3-wal": "0o600", "sparky.sqlite3-shm": "0o600",
            "paper-exchange.json.journal": "0o600",
            "webhook_secret": "0o600", "admin_token": "0o600", "server_id": "0o600", "ai_worker_key": "0o600",
        }  # fmt: skip


async def test_a_fresh_data_dir_and_every_file_in_it_are_private(data_dir: Path, capsys) -> None:
    await trade_once(data_dir)
    after = modes(data_dir)
    assert after.pop("paper-exchange.json") == "0o600"  # the snapshot written at shutdown
    assert set(after.values()) == {"0o700", "0o600"}
    assert "data_dir.permissions_tightened" not in capsys.readouterr().err


async def test_a_data_dir_left_readable_by_everyone_is_made_private_at_start(data_dir: Path, capsys) -> None:
    await trade_once(data_dir)
    (data_dir / "paper").mkdir()
    (data_dir / "paper" / "0b1c.json").write_text("{}")  # a user's paper state, from an earlier version
    data_dir.chmod(0o755)
    for path in data_dir.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    capsys.readouterr()

    async with running(make_settings(data_dir)) as sparky:
        assert (await sparky.alert(action="close", symbol="BTCUSDT", price=27000)).json()["action"] == "closed"
        assert set(modes(data_dir).values()) == {"0o700", "0o600"}
    assert set(modes(data_dir).values()) == {"0o700", "0o600"}
    logged = capsys.readouterr().err
    assert "data_dir.permissions_tightened" in logged
    for name in ("sparky.sqlite3", "webhook_secret", "admin_token", "paper-exchange.json", "0b1c.json"):
        assert name in logged


def test_the_lock_of_sparky_serve_makes_a_private_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with DataDirLock.acquire(data_dir):
        assert modes(data_dir) == {".": "0o700", "sparky.lock": "0o600"}
