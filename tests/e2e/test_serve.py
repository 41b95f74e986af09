"""`sparky serve` as a user runs it: a real uvicorn process, real sockets, first-run secrets."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support import message_after, render


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(data_dir: Path) -> Iterator[tuple[str, str]]:
    """Start the server; yield (base url, everything it printed before it was ready)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("WEBHOOK_SECRET", "ADMIN_TOKEN", "CONFIG_PATH")}
    env.update(SPARKY_DATA_DIR=str(data_dir), LOG_LEVEL="INFO", LOG_FORMAT="console", RATE_LIMIT="")
    process = subprocess.Popen([sys.executable, "-m", "sparky", "serve", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    printed = []
    try:
        for line in process.stderr:  # the server says when it accepts connections
            printed.append(line)
            if "Uvicorn running on" in line:
                break
        else:
            raise AssertionError("server exited before it was ready:\n" + "".join(printed))
        yield f"http://127.0.0.1:{port}", "".join(printed)
    finally:
        process.terminate()
        # uvicorn shuts down gracefully, then re-raises SIGTERM so supervisors see the usual status
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        process.stderr.close()


def test_first_start_prints_a_secret_and_a_template_that_trade_and_later_starts_do_not(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with serve(data_dir) as (url, printed):
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
    with serve(data_dir) as (url, printed):
        assert secret not in printed and "Webhook secret" not in printed
        # its exit: TradingView's order is a sell, the position after it flat
        exit_ = render(template, strategy_market_position="flat", strategy_order_id="Close entry(s) order Long",
                       close="27270")
        again = httpx.post(f"{url}/webhook", json=exit_).json()
        assert again["action"] == "closed" and again["pnl"]["percent"] == 1
        positions = httpx.get(f"{url}/positions", headers={"Authorization": f"Bearer {admin}"}).json()
        assert positions["totalPositions"] == 0
