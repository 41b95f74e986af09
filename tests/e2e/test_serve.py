"""`sparky serve` as a user runs it: a real uvicorn process, real sockets, first-run secrets."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from sparky.signals.auth import LOCAL_USER_ID
from sparky.signals.models import Signal
from sparky.store.base import RequestStatus, WebhookRequestRecord, utcnow
from sparky.store.sqlite.store import SqliteStore
from tests.support import message_after, render

REPOSITORY = Path(__file__).resolve().parents[2]
READY = "Uvicorn running on"
#: generous bound on a start or a refusal; both normally take about a second
WAIT_SEC = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Running(NamedTuple):
    url: str
    printed: str
    process: subprocess.Popen


def launch(data_dir: Path, port: int, host: str = "127.0.0.1", **settings: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("WEBHOOK_SECRET", "ADMIN_TOKEN", "CONFIG_PATH")}
    env.update({"SPARKY_DATA_DIR": str(data_dir), "LOG_LEVEL": "INFO", "LOG_FORMAT": "console", "RATE_LIMIT": "",
                **settings})
    return subprocess.Popen([sys.executable, "-m", "sparky", "serve", "--host", host, "--port", str(port)],
                            env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def ready_or_exited(process: subprocess.Popen) -> tuple[bool, str]:
    """Wait until the server accepts connections (True) or exits (False); what it printed so far.

    A thread keeps draining stderr afterwards so a chatty server never blocks on a full pipe.
    """
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:
        for line in process.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    printed = []
    while (line := lines.get(timeout=WAIT_SEC)) is not None:
        printed.append(line)
        if READY in line:
            return True, "".join(printed)
    process.wait(timeout=WAIT_SEC)
    return False, "".join(printed)


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so supervisors see the usual status
    assert process.wait(timeout=30) in (0, -signal.SIGTERM)


@contextmanager
def serve(data_dir: Path, **settings: str) -> Iterator[Running]:
    """Start the server; yield its url, everything it printed before it was ready, and its process."""
    port = free_port()
    process = launch(data_dir, port, **settings)
    try:
        ready, printed = ready_or_exited(process)
        assert ready, "server exited before it was ready:\n" + printed
        yield Running(f"http://127.0.0.1:{port}", printed, process)
    finally:
        if process.poll() is None:
            stop(process)


def refused(data_dir: Path, port: int | None = None, host: str = "127.0.0.1", **settings: str) -> tuple[int, str]:
    """Start a server that must refuse to start: (exit status, what it printed)."""
    process = launch(data_dir, port or free_port(), host, **settings)
    ready, printed = ready_or_exited(process)
    if ready:
        stop(process)
        raise AssertionError("the server started instead of refusing:\n" + printed)
    return process.returncode, printed


def test_first_start_prints_a_secret_and_a_template_that_trade_and_later_starts_do_not(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir) as (url, printed, _):
        secret = re.search(r"Webhook secret .*\n\s+(\S+)", printed).group(1)
        admin = re.search(r"Admin token .*\n\s+(\S+)", printed).group(1)
        assert "curl -s -X POST" in printed
        template = message_after(printed, "TradingView alert message")
        # a long-only strategy's entry, as TradingView fills in the printed template
        entry = render(template, strategy_market_position="long", strategy_order_id="Long", close="27000")
        assert entry["secret"] == secret
        response = httpx.post(f"{url}/webhook", content=json.dumps(entry), headers={"content-type": "text/plain"})
        assert response.status_code == 200, response.text
        assert response.json()["action"] == "opened"
        assert httpx.get(f"{url}/health").json()["status"] == "ok"
        positions = httpx.get(f"{url}/positions", headers={"Authorization": f"Bearer {admin}"}).json()
        assert positions["symbols"] == ["BTCUSDT"] and positions["longPositions"] == 1
    with serve(data_dir) as (url, printed, _):
        assert secret not in printed and "Webhook secret" not in printed
        # its exit: TradingView's order is a sell, the position after it flat
        exit_ = render(template, strategy_market_position="flat", strategy_order_id="Close entry(s) order Long",
                       close="27270")
        again = httpx.post(f"{url}/webhook", json=exit_).json()
        assert again["action"] == "closed" and again["pnl"]["percent"] == 1
        positions = httpx.get(f"{url}/positions", headers={"Authorization": f"Bearer {admin}"}).json()
        assert positions["totalPositions"] == 0


def alert(secret: str, **fields: object) -> dict[str, object]:
    return {"secret": secret, "action": "buy", "symbol": "BTCUSDT", "exchange": "paper", "price": 27000,
            "stop_loss_percent": 2, **fields}


def test_a_second_server_on_the_same_data_dir_is_refused_and_the_first_keeps_serving(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    secret = "a-long-random-webhook-secret"
    with serve(data_dir, WEBHOOK_SECRET=secret) as first:
        status, printed = refused(data_dir, WEBHOOK_SECRET=secret)
        assert status != 0
        assert f"the data dir {data_dir.resolve()} is in use by another Sparky server (pid {first.process.pid})" in printed
        assert "startup" not in printed  # it built nothing and recovered nothing
        opened = httpx.post(f"{first.url}/webhook", json=alert(secret))
        assert opened.status_code == 200 and opened.json()["action"] == "opened", opened.text
        assert httpx.get(f"{first.url}/health").json()["status"] == "ok"


def test_a_killed_server_leaves_no_stale_lock(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir) as first:
        first.process.kill()  # SIGKILL: no clean-up runs; the kernel drops the lock with the process
        first.process.wait(timeout=WAIT_SEC)
    with serve(data_dir) as second:
        assert httpx.get(f"{second.url}/health").json()["status"] == "ok"


async def _record_pending(data_dir: Path) -> str:
    """What a crash leaves behind: a young BTCUSDT buy recorded but never executed."""
    signal_ = Signal(action="buy", symbol="BTCUSDT", exchange="paper", price=27000)
    record = WebhookRequestRecord(id=str(uuid.uuid4()), status=RequestStatus.PENDING, created_at=utcnow(),
                                  user_id=LOCAL_USER_ID, exchange="paper", action="buy", symbol="BTCUSDT",
                                  signal=signal_.model_dump(mode="json"))
    store = SqliteStore(data_dir / "sparky.sqlite3")
    await store.open()
    await store.insert_webhook_request(record)
    await store.aclose()
    return record.id


async def _status_of(data_dir: Path, request_id: str) -> RequestStatus:
    store = SqliteStore(data_dir / "sparky.sqlite3")
    await store.open()
    try:
        return (await store.get_webhook_request(request_id)).status
    finally:
        await store.aclose()


def test_a_taken_port_fails_at_once_before_pending_requests_are_recovered(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    request_id = asyncio.run(_record_pending(data_dir))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, printed = refused(data_dir, port)
    assert status != 0
    assert f"cannot listen on 127.0.0.1:{port}: the port is already in use" in printed
    assert "resumed_on_restart" not in printed and "startup.recovered" not in printed
    # recovery would have bought BTCUSDT on a server that then never served; it stays for the real start
    assert asyncio.run(_status_of(data_dir, request_id)) is RequestStatus.PENDING
    assert not (data_dir / "paper-exchange.json").exists()


def test_the_example_config_secret_is_refused_on_every_interface_and_works_on_loopback(tmp_path: Path) -> None:
    example = REPOSITORY / "config.example.json"
    example_secret = json.loads(example.read_text())["webhookSecret"]
    status, printed = refused(tmp_path / "exposed", host="0.0.0.0", CONFIG_PATH=str(example))
    assert status == 2 and "Traceback" not in printed
    assert "refusing to listen on 0.0.0.0" in printed and "config.json webhookSecret is a placeholder" in printed
    assert "HOST=127.0.0.1" in printed
    status, printed = refused(tmp_path / "exposed", host="0.0.0.0", WEBHOOK_SECRET="short-secret")
    assert status == 2 and "WEBHOOK_SECRET is shorter than 16 characters" in printed
    with serve(tmp_path / "local", CONFIG_PATH=str(example)) as local:  # trying things on this machine
        response = httpx.post(f"{local.url}/webhook", json=alert(example_secret))
        assert response.status_code == 200 and response.json()["action"] == "opened", response.text


@pytest.mark.parametrize(("setting", "value", "says"), [
    ("LOG_LEVEL", "garbage", "LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', 'ERROR' or 'CRITICAL'"),
    ("PLAN_LIMITS", "garbage", "PLAN_LIMITS: not valid JSON"),
    ("PAPER_SYMBOL_RULES", '{"BTCUSDT": {"tick_size": "0.1"}}', "PAPER_SYMBOL_RULES: BTCUSDT: step_size missing"),
    ("CONFIG_PATH", "missing/config.json", "CONFIG_PATH: missing/config.json does not exist"),
])
def test_a_bad_setting_exits_with_status_2_and_names_it(tmp_path: Path, setting: str, value: str, says: str) -> None:
    status, printed = refused(tmp_path / "data", **{setting: value})
    assert status == 2
    assert printed.startswith("sparky: invalid settings:\n") and says in printed, printed
    assert "Traceback" not in printed
    assert not (tmp_path / "data").exists()  # refused before anything was created
