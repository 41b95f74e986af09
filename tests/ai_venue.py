"""Aster's public market data as the AI worker reads it, for respx: exchangeInfo from the fixture
and klines ending at the present (the Binance USDⓈ-M shape Aster keeps: open time ms, open, high,
low, close, volume as strings, close time ms, ...; the last kline still forming)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

ASTER = "https://fapi.asterdex.com"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "aster"
EXCHANGE_INFO = json.loads((FIXTURES / "exchange_info.json").read_text(encoding="utf-8"))["reply"]
#: the price filters of the fixture: BTCUSDT's tick is 0.10
BTC_TICK = Decimal("0.10")


def klines(count: int, *, last_close: Decimal = Decimal("64000.0"), interval: timedelta = timedelta(minutes=15),
           now: datetime | None = None) -> list[list[Any]]:
    """`count` closed klines plus the forming one, gently rising to `last_close`."""
    now = now or datetime.now(UTC)
    step = interval.total_seconds()
    forming_open = datetime.fromtimestamp(now.timestamp() // step * step, UTC)
    rows = []
    for i in range(count + 1):
        opened = forming_open - interval * (count - i)
        close = last_close - Decimal(count - 1 - i) * Decimal("5.0")
        open_ = close - Decimal("2.0")
        ms = int(opened.timestamp() * 1000)
        rows.append([ms, str(open_), str(close + Decimal("10.0")), str(open_ - Decimal("10.0")), str(close),
                     "12.5", ms + int(step * 1000) - 1, "800000", 900, "6.1", "390000", "0"])
    return rows


def mock_aster(router: Any, *, count: int = 100, last_close: Decimal = Decimal("64000.0")) -> Any:
    """Routes for exchangeInfo and klines on `router`; returns the klines route."""
    router.get(f"{ASTER}/fapi/v1/exchangeInfo").mock(return_value=httpx.Response(200, json=EXCHANGE_INFO))
    return router.get(f"{ASTER}/fapi/v1/klines").mock(
        side_effect=lambda request: httpx.Response(200, json=klines(
            int(request.url.params["limit"]) - 1, last_close=last_close)))
