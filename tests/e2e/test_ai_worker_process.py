"""`sparky ai-worker` beside `sparky serve`, both real processes on the embedded defaults (one data
dir, SQLite, the paper venue, no forward secret): a `sparky users` user's paper AI strategy, added
and resumed with `sparky ai`, gets the model's LONG turned into a protected paper position through
the server's /webhook, with its AI strategy on it; the server's /health/ai-worker sees the worker;
SIGTERM ends the worker with status 0. The model is a local OpenAI-compatible endpoint
(AI_LLM_BASE_URL) and the market data a local Aster klines endpoint (config.json's `apiUrl`)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from tests.ai_model import chat_completion
from tests.ai_venue import EXCHANGE_INFO, klines

SPARKY = Path(sys.executable).with_name("sparky")
SOURCES = Path(__file__).resolve().parents[2] / "src"
WAIT_SEC = 60
LONG = {"action": "LONG", "symbol": "BTCUSDT", "size_usd": 640, "confidence": 0.82,
        "reasoning": "a steady rise above its averages", "stop_loss_percent": 2, "take_profit_percent": 4}
HOLD = {"action": "HOLD", "confidence": 0.5, "reasoning": "already long"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class World:
    """The model and Aster's public market data, served by this test on loopback."""

    def __init__(self) -> None:
        self.port = free_port()
        self.prompts: list[str] = []

    async def _completion(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.prompts.append(body["messages"][-1]["content"])
        answer = LONG if len(self.prompts) == 1 else HOLD
        return web.json_response(chat_completion(
            json.dumps(answer), model=body["model"], prompt_tokens=1200, completion_tokens=60,
            completion_id=f"chatcmpl-{len(self.prompts)}", created=int(time.time())))

    async def _klines(self, request: web.Request) -> web.Response:
        return web.json_response(klines(int(request.query["limit"]) - 1))

    async def _exchange_info(self, request: web.Request) -> web.Response:
        return web.json_response(EXCHANGE_INFO)

    @asynccontextmanager
    async def serving(self) -> AsyncIterator[World]:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completion)
        app.router.add_get("/fapi/v1/klines", self._klines)
        app.router.add_get("/fapi/v1/exchangeInfo", self._exchange_info)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        try:
            yield self
        finally:
            await runner.cleanup()


def sparky(*args: str, env: dict[str, str]) -> str:
    import subprocess

    done = subprocess.run([str(SPARKY), *args], env=env, capture_output=True, text=True, timeout=WAIT_SEC)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def until(check: Any, what: str) -> Any:
    deadline = time.monotonic() + WAIT_SEC
    while True:
        found = await check()
        if found:
            return found
        assert time.monotonic() < deadline, f"no {what} within {WAIT_SEC} s"
        await asyncio.sleep(0.2)  # polling another process's state


async def test_a_paper_ai_strategy_trades_through_the_servers_webhook(tmp_path: Path) -> None:
    world = World()
    port = free_port()
    data_dir = tmp_path / "data"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"aster": {"apiKey": "k" * 64, "apiSecret": "s" * 64,
                                            "apiUrl": f"http://127.0.0.1:{world.port}"}}))
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "PYTHONPATH": str(SOURCES),
           "SPARKY_DATA_DIR": str(data_dir), "CONFIG_PATH": str(config), "PORT": str(port),
           "LOG_FORMAT": "json", "AI_CYCLE_SEC": "5", "GROQ_MODEL": "local-test-model", "GROQ_API_KEY": "unused",
           "AI_LLM_BASE_URL": f"http://127.0.0.1:{world.port}/v1", "AI_PAPER_MARKET_DATA_VENUE": "aster"}
    user = re.search(r"[0-9a-f-]{36}", sparky("users", "add", "--plan", "Pro", env=env))[0]
    added = sparky("ai", "add", user, "--venue", "paper", "--assets", "BTCUSDT", "--paper",
                   "--max-position-size-usd", "1000", env=env)
    strategy = re.search(r"AI strategy ([0-9a-f-]{36})", added)[1]
    sparky("ai", "resume", strategy, env=env)

    async with world.serving():
        server = await asyncio.create_subprocess_exec(str(SPARKY), "serve", "--port", str(port), env=env,
                                                      stdout=asyncio.subprocess.DEVNULL,
                                                      stderr=asyncio.subprocess.DEVNULL)
        worker = None
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
                async def healthy() -> bool:
                    try:
                        return (await client.get("/health")).status_code == 200
                    except httpx.TransportError:
                        return False

                await until(healthy, "server")
                admin = (data_dir / "admin_token").read_text().strip()
                worker = await asyncio.create_subprocess_exec(str(SPARKY), "ai-worker", "--worker-id", "e2e",
                                                              env=env, stdout=asyncio.subprocess.DEVNULL,
                                                              stderr=asyncio.subprocess.PIPE)

                async def opened() -> list[dict[str, Any]]:
                    answer = await client.get("/positions", params={"user_id": user},
                                              headers={"Authorization": f"Bearer {admin}"})
                    return answer.json()["positions"] if answer.status_code == 200 else []

                [position] = await until(opened, "position")
                health = await until(lambda: _fresh(client), "heartbeat")
                worker.send_signal(signal.SIGTERM)
                _, errors = await asyncio.wait_for(worker.communicate(), WAIT_SEC)
        finally:
            for process in (worker, server):
                if process is not None and process.returncode is None:
                    process.kill()
                    await process.wait()

    assert worker.returncode == 0, errors.decode()[-2000:]
    assert (position["symbol"], position["side"], position["exchange"]) == ("BTCUSDT", "BUY", "paper")
    assert position["ai_strategy_id"] == strategy
    # 640 USD at the last close, 64000.0: the model's 2 % stop and 4 % target, on BTCUSDT's 0.1 tick
    assert (position["entryPrice"], position["quantity"]) == (64000, 0.01)
    assert (position["stopLossPrice"], position["takeProfitPrice"]) == (62720, 66560)
    assert position["stopLossOrderId"] is not None
    assert "BTCUSDT" in world.prompts[0]
    [beat] = health["workers"]
    assert beat["worker_id"] == "e2e" and beat["errors"] == 0


async def _fresh(client: httpx.AsyncClient) -> dict[str, Any] | None:
    answer = await client.get("/health/ai-worker")
    return answer.json() if answer.status_code == 200 else None
