"""The original's config.json: webhookSecret, per-exchange tradeAmount, riskManagement.maxPositions."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal as D
from pathlib import Path

from sparky.exchanges.base import OrderKind


def write_config(tmp_path: Path, **sections) -> Path:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"webhookSecret": "legacy-secret", **sections}))
    return path


async def test_config_secret_authenticates_and_trade_amount_sizes(start, tmp_path: Path) -> None:
    config = write_config(tmp_path, paper={"tradeAmount": 540, "positionMultiplier": 0.5})
    async with start(webhook_secret=None, config_path=config) as sparky:
        body = {"secret": "legacy-secret", "exchange": "paper", "action": "buy", "symbol": "BTCUSDT", "price": 27000}
        response = await sparky.client.post("/webhook", json=body)
        assert response.status_code == 200, response.text
        entry = sparky.paper.requests[0]
        assert (entry.kind, entry.quantity) == (OrderKind.MARKET, D("0.01"))  # 540 × 0.5 / 27000
        wrong = await sparky.client.post("/webhook", json={**body, "secret": "test-webhook-secret"})
        assert wrong.status_code == 401


async def test_max_positions_holds_under_concurrent_signals(start, tmp_path: Path) -> None:
    config = write_config(tmp_path, riskManagement={"maxPositions": 3})
    async with start(config_path=config) as sparky:
        responses = await asyncio.gather(*(
            sparky.alert(action="buy", symbol=f"C{i}USDT", price=10, position_size_usd=50) for i in range(8)
        ))
        opened = [r for r in responses if r.status_code == 200 and r.json()["action"] == "opened"]
        limited = [r for r in responses if r.status_code == 429]
        assert len(opened) == 3 and len(limited) == 5
        assert limited[0].json()["error"] == "Risk limit exceeded"
        assert limited[0].json()["data"] == {"limitType": "max_positions", "current": 3, "limit": 3}
        assert len(await sparky.paper.positions()) == 3
        # closing is never blocked, and frees a slot
        symbol = opened[0].json()["position"]["symbol"]
        assert (await sparky.alert(action="close", symbol=symbol, price=10)).json()["action"] == "closed"
        assert (await sparky.alert(action="buy", symbol="C9USDT", price=10, position_size_usd=50)).status_code == 200
