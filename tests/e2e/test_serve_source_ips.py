"""`sparky serve` behind a proxy: which address is the sender's, ALLOWED_IPS, and bad settings at start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import free_port

SECRET = "serve-test-secret-5d1c"
CLOSE = {"secret": SECRET, "exchange": "paper", "action": "close", "symbol": "BTCUSDT"}


def environment(data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("ADMIN_TOKEN", "CONFIG_PATH", "FORWARDED_ALLOW_IPS")}
    env.update(SPARKY_DATA_DIR=str(data_dir), WEBHOOK_SECRET=SECRET, LOG_LEVEL="INFO", LOG_FORMAT="console", **settings)
    return env


@contextmanager
def serve(data_dir: Path, *args: str, **settings: str) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "sparky", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=environment(data_dir, **settings), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    printed = []
    try:
        for line in process.stderr:  # the server says when it accepts connections
            printed.append(line)
            if "Uvicorn running on" in line:
                break
        else:
            raise AssertionError("server exited before it was ready:\n" + "".join(printed))
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
        process.stderr.close()


def test_behind_nginx_on_the_same_host_the_forwarded_address_is_the_sender(tmp_path: Path) -> None:
    with serve(tmp_path / "data", ALLOWED_IPS="tradingview") as url:
        # nginx on this host sets X-Forwarded-For (loopback is trusted by default)
        forwarded = httpx.post(f"{url}/webhook", json=CLOSE, headers={"X-Forwarded-For": "52.89.214.238"})
        assert forwarded.status_code == 200, forwarded.text
        stranger = httpx.post(f"{url}/webhook", json=CLOSE, headers={"X-Forwarded-For": "203.0.113.9"})
        assert stranger.status_code == 403
        assert stranger.json()["error"] == "Forbidden: 203.0.113.9 may not send webhooks to this server"
        # a client cannot smuggle an allowed address in front of its own: the proxy appends the real one
        smuggled = httpx.post(f"{url}/webhook", json=CLOSE, headers={"X-Forwarded-For": "52.89.214.238, 203.0.113.9"})
        assert smuggled.status_code == 403
        direct = httpx.post(f"{url}/webhook", json=CLOSE)  # no forwarded address: the proxy's own
        assert direct.status_code == 403 and "FORWARDED_ALLOW_IPS" in direct.json()["hint"]
        assert httpx.get(f"{url}/health").status_code == 200


@pytest.mark.parametrize("how", ["setting", "flag"])
def test_forwarded_addresses_count_only_from_the_proxies_named(tmp_path: Path, how: str) -> None:
    trust = {"FORWARDED_ALLOW_IPS": "10.0.0.2"} if how == "setting" else {}
    flag = ("--forwarded-allow-ips", "10.0.0.2") if how == "flag" else ()
    with serve(tmp_path / "data", *flag, ALLOWED_IPS="tradingview", **trust) as url:
        response = httpx.post(f"{url}/webhook", json=CLOSE, headers={"X-Forwarded-For": "52.89.214.238"})
        assert response.status_code == 403  # 127.0.0.1 is not a trusted proxy here: its header is ignored
        assert response.json()["error"] == "Forbidden: 127.0.0.1 may not send webhooks to this server"


@pytest.mark.parametrize(("args", "settings", "message"), [
    ((), {"RATE_LIMIT": "garbage"}, "RATE_LIMIT: 'garbage' is not a rate limit"),
    (("--forwarded-allow-ips", "nginx"), {}, "FORWARDED_ALLOW_IPS (--forwarded-allow-ips): 'nginx' is not"),
])
def test_bad_limit_and_address_settings_stop_the_server_at_start(tmp_path: Path, args, settings, message) -> None:
    # every bad value of these settings is covered in tests/unit/test_settings.py; here: the way out
    done = subprocess.run([sys.executable, "-m", "sparky", "serve", "--port", str(free_port()), *args],
                          env=environment(tmp_path / "data", **settings), capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    assert "sparky: invalid settings" in done.stderr and message in done.stderr
