"""Bad input: a clear 4xx naming the problem, nothing executed, the request recorded once authenticated."""

from __future__ import annotations

import json

import pytest

from sparky.store.base import RequestStatus
from tests.conftest import SECRET, Sparky

BASE = {"secret": SECRET, "action": "buy", "symbol": "BTCUSDT", "exchange": "paper", "price": 27000}

INVALID_FIELDS = [
    ({"action": None}, "action", "is required"),
    ({"action": "hodl"}, "action", "is not an action"),
    ({"action": 7}, "action", "must be a string"),
    ({"symbol": None}, "symbol", "is required"),
    ({"symbol": "BTC USDT; DROP TABLE positions"}, "symbol", "not a plausible ticker"),
    ({"symbol": "<script>alert(1)</script>"}, "symbol", "not a plausible ticker"),
    ({"symbol": "A" * 80}, "symbol", "not a plausible ticker"),
    ({"exchange": None}, "exchange", "is required"),
    ({"exchange": "mtgox"}, "exchange", 'Exchange "mtgox" not supported. Available exchanges: paper'),
    ({"price": -1}, "price", "must be a positive number"),
    ({"price": 0}, "price", "must be a positive number"),
    ({"price": "NaN"}, "price", "finite"),
    ({"price": "Infinity"}, "price", "finite"),
    ({"price": "1e30"}, "price", "below 1e12"),
    ({"price": "abc"}, "price", "must be a number"),
    ({"price": True}, "price", "not a boolean"),
    ({"position_size_usd": -100}, "position_size_usd", "must be a positive number"),
    ({"positionSizeUsd": "1e20"}, "position_size_usd", "below 1e12"),
    ({"quantity": 0}, "quantity", "must be a positive number"),
    ({"stop_loss_percent": 150}, "stop_loss_percent", "between 0 and 100"),
    ({"stopLoss": -2}, "stop_loss_percent", "between 0 and 100"),
    ({"take_profit_percent": 0}, "take_profit_percent", "above 0"),
    ({"order_type": "limit", "price": None}, "price", "is required for limit orders"),
    ({"order_type": "iceberg"}, "order_type", "market"),
    ({"action": "sell", "take_profit_percent": 150}, "take_profit_percent", "below 100 for a short"),
    ({"alert_id": "x" * 300}, "alert_id", "at most 128"),
    ({"sentiment": "sideways"}, "sentiment", "is not a sentiment: use flat, long, short, bullish or bearish"),
    ({"sentiment": ""}, "sentiment", "is not a sentiment"),
    ({"sentiment": "{{strategy.market_position}}"}, "sentiment", "is not a sentiment"),
    ({"sentiment": 1}, "sentiment", "must be a string"),
    ({"action": "close", "sentiment": "long"}, "sentiment", "'long' contradicts action 'close'"),
    ({"action": "flat", "sentiment": "bearish"}, "sentiment", "'short' contradicts action 'close'"),
    ({"action": "close_long", "sentiment": "short"}, "sentiment", "contradicts action 'close_long'"),
    ({"action": "hodl", "sentiment": "flat"}, "action", "is not an action"),
    ({"action": "{{strategy.market_position}}"}, "action", "is not an action"),
]


@pytest.mark.parametrize(("change", "field", "reason"), INVALID_FIELDS)
async def test_invalid_field_is_a_400_naming_it_and_is_recorded_as_rejected(
    sparky: Sparky, change: dict, field: str, reason: str
) -> None:
    body = {k: v for k, v in {**BASE, **change}.items() if v is not None}
    response = await sparky.client.post("/webhook", json=body)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert payload["success"] is False and payload["field"] == field
    assert reason in payload["error"]
    assert sparky.paper.requests == []
    rows = await sparky.services.store.list_webhook_requests(limit=5)
    assert [(r.status, r.http_status) for r in rows] == [(RequestStatus.REJECTED, 400)]
    assert "secret" not in rows[0].payload


@pytest.mark.parametrize(("raw", "content_type", "reason"), [
    (b"", "application/json", "Empty request body"),
    (b"   \r\n ", "text/plain", "Empty request body"),
    (b"{not json", "application/json", "not valid JSON"),
    (b'{"price": NaN}', "application/json", "not valid JSON"),
    (b"[1, 2, 3]", "application/json", "must be a JSON object"),
    (b"buy BTCUSDT now", "text/plain", "not valid JSON"),
    (b"\xff\xfe\x00", "text/plain", "not UTF-8"),
])
async def test_unparseable_body_is_a_400_and_not_recorded(
    sparky: Sparky, raw: bytes, content_type: str, reason: str
) -> None:
    response = await sparky.client.post("/webhook", content=raw, headers={"content-type": content_type})
    assert response.status_code == 400
    assert reason in response.json()["error"]
    assert sparky.paper.requests == []
    assert await sparky.services.store.list_webhook_requests(limit=5) == []


@pytest.mark.parametrize("secret", [None, "", "wrong-secret", SECRET + "x", 12345])
async def test_bad_secret_is_a_401_in_the_original_shape_and_not_recorded(sparky: Sparky, secret) -> None:
    body = {**BASE, "secret": secret} if secret is not None else {k: v for k, v in BASE.items() if k != "secret"}
    response = await sparky.client.post("/webhook", json=body)
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized: Invalid webhook secret"
    assert response.json()["success"] is False and "hint" in response.json()
    assert sparky.paper.requests == []
    assert await sparky.services.store.list_webhook_requests(limit=5) == []


async def test_body_user_id_is_not_trusted_with_the_shared_secret(sparky: Sparky) -> None:
    response = await sparky.client.post("/webhook", json={**BASE, "user_id": "someone-else"})
    assert response.status_code == 401
    assert sparky.paper.requests == []


async def test_oversized_body_is_a_413_and_nothing_runs(start) -> None:
    async with start(max_body_bytes=2048) as sparky:
        body = {**BASE, "comment": "x" * 4096}
        response = await sparky.client.post("/webhook", json=body)
        assert response.status_code == 413
        assert sparky.paper.requests == []
        assert await sparky.services.store.list_webhook_requests(limit=5) == []


async def test_text_plain_body_that_is_json_is_accepted(sparky: Sparky) -> None:
    raw = json.dumps({**BASE, "action": "BUY", "symbol": "binance:btcusdt.p"}).encode() + b"\r\n"
    response = await sparky.client.post("/webhook", content=raw, headers={"content-type": "text/plain; charset=utf-8"})
    assert response.status_code == 200 and response.json()["action"] == "opened"
    assert response.json()["position"]["symbol"] == "BTCUSDT"


async def test_form_encoded_body_is_accepted(sparky: Sparky) -> None:
    response = await sparky.client.post("/webhook", data={k: str(v) for k, v in BASE.items()})
    assert response.status_code == 200 and response.json()["action"] == "opened"
