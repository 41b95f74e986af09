"""Bad input: a clear 4xx naming the problem, nothing executed, the request recorded once authenticated."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from sparky.store.base import RequestStatus
from tests.conftest import SECRET, Sparky
from tests.e2e.test_multi_tenant import ALICE, SECRETS, add_user
from tests.e2e.test_serve import serve

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


# Bodies that once cost a 500 or stalled the event loop. Written as raw JSON text: the values
# (1e999999999999, lone surrogate escapes) cannot be produced by json.dumps.
JSON = {"content-type": "application/json"}


def alert_text(extra: str, *, secret: str | None = SECRET, **changes: str) -> bytes:
    """A paper buy alert as JSON text, with fields replaced by raw JSON values and `extra` appended."""
    fields = {"action": '"buy"', "symbol": '"BTCUSDT"', "exchange": '"paper"', "price": "27000", **changes}
    if secret is not None:
        fields = {"secret": json.dumps(secret), **fields}
    members = [f'"{name}": {value}' for name, value in fields.items()] + ([extra] if extra else [])
    return ("{" + ", ".join(members) + "}").encode()


REFUSED_VALUES = [
    (alert_text('"n": ' + "9" * 5000), "n", "number longer than 100 characters"),
    (alert_text('"timestamp": 1e20'), "timestamp", "between 1970 and 9999"),
    (alert_text('"timestamp": -1e20'), "timestamp", "between 1970 and 9999"),
    (alert_text('"timestamp": 1e308'), "timestamp", "number out of range"),
    (alert_text("", action=r'"\ud800"'), "action", "not valid Unicode (lone surrogate \\ud800)"),
    (alert_text("", symbol=r'"\ud800"'), "symbol", "not valid Unicode"),
    (alert_text("", exchange=r'"\udfff"'), "exchange", "not valid Unicode"),
    (alert_text("", price="1e999999999999"), "price", "number out of range"),
    (alert_text(r'"note": "a\u0000b"'), "note", "NUL character"),
    (alert_text('"note": 1e400000'), "note", "number out of range"),
    (alert_text('"note": 1e1000000'), "note", "number out of range"),
    (alert_text('"meta": {"legs": [1, 2, 1e-999]}'), "meta.legs[2]", "number out of range"),
    (alert_text(r'"\ud800x": 1'), "\\ud800x", "field name: text is not valid Unicode"),
    (alert_text('"meta": {' + ", ".join(f'"k{i}": 0' for i in range(1001)) + "}"), "meta", "more than 1000 keys"),
]


@pytest.mark.parametrize(("raw", "field", "reason"), REFUSED_VALUES)
async def test_refused_value_is_a_400_naming_it_and_is_recorded_as_rejected(
    sparky: Sparky, raw: bytes, field: str, reason: str
) -> None:
    response = await sparky.client.post("/webhook", content=raw, headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["success"] is False and response.json()["field"] == field
    assert reason in response.json()["error"]
    assert sparky.paper.requests == []
    rows = await sparky.services.store.list_webhook_requests(limit=5)
    assert [(r.status, r.http_status) for r in rows] == [(RequestStatus.REJECTED, 400)]
    assert rows[0].error_message == response.json()["error"] and "secret" not in rows[0].payload


async def test_recorded_payload_leaves_refused_values_out(sparky: Sparky) -> None:
    raw = alert_text(r'"note": 1e400000, "tag": "\ud800", "meta": {"legs": [1, 1e-999], "ok": true}')
    response = await sparky.client.post("/webhook", content=raw, headers=JSON)
    assert response.status_code == 400 and response.json()["field"] == "note"
    [row] = await sparky.services.store.list_webhook_requests(limit=5)
    assert row.payload == {"action": "buy", "symbol": "BTCUSDT", "exchange": "paper", "price": 27000,
                           "meta": {"legs": [1, None], "ok": True}}


async def test_a_tenants_huge_number_is_refused_at_once_and_recorded_as_theirs(start) -> None:
    async with start() as sparky:
        await add_user(sparky, ALICE)
        await sparky.services.secrets.refresh()
        raw = alert_text('"note": 1e400000', secret=SECRETS[ALICE])
        response = await sparky.client.post("/webhook", content=raw, headers=JSON)
        assert response.status_code == 400 and response.json()["field"] == "note"
        [row] = await sparky.services.store.list_webhook_requests(limit=5)
        assert (row.user_id, row.status, row.http_status) == (ALICE, RequestStatus.REJECTED, 400)
        assert await sparky.services.store.list_positions() == []


@pytest.mark.parametrize(("raw", "field"), [
    (alert_text('"n": ' + "9" * 5000, secret=None), "n"),
    (alert_text("", secret=None, action=r'"\ud800"'), "action"),
    (alert_text("", secret="wrong-secret", price="1e999999999999"), "price"),
])
async def test_refused_value_from_an_unknown_sender_is_a_400_and_not_recorded(
    sparky: Sparky, raw: bytes, field: str
) -> None:
    response = await sparky.client.post("/webhook", content=raw, headers=JSON)
    assert response.status_code == 400 and response.json()["field"] == field
    assert sparky.paper.requests == []
    assert await sparky.services.store.list_webhook_requests(limit=5) == []


def form(**fields: str) -> dict[str, str]:
    return {"secret": SECRET, "action": "buy", "symbol": "BTCUSDT", "exchange": "paper", "price": "27000", **fields}


@pytest.mark.parametrize(("fields", "field", "reason"), [
    (form(timestamp="99999999999999999999"), "timestamp", "between 1970 and 9999"),
    (form(timestamp="9" * 5000), "timestamp", "between 1970 and 9999"),
    (form(note="a\x00b"), "note", "NUL character"),
])
async def test_form_body_gets_the_same_bounds(sparky: Sparky, fields: dict, field: str, reason: str) -> None:
    response = await sparky.client.post("/webhook", data=fields)
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field and reason in response.json()["error"]
    assert sparky.paper.requests == []
    rows = await sparky.services.store.list_webhook_requests(limit=5)
    assert [(r.status, r.http_status) for r in rows] == [(RequestStatus.REJECTED, 400)]


async def test_a_string_beyond_the_limit_is_refused_where_bodies_may_be_larger(start) -> None:
    async with start(max_body_bytes=1024 * 1024) as sparky:
        as_json = await sparky.client.post("/webhook", content=alert_text('"note": "' + "x" * 70_000 + '"'),
                                           headers=JSON)
        as_form = await sparky.client.post("/webhook", data=form(note="x" * 70_000))
        for response in (as_json, as_form):
            assert response.status_code == 400 and response.json()["field"] == "note"
            assert "text longer than 65536 characters" in response.json()["error"]
        assert sparky.paper.requests == []
        rows = await sparky.services.store.list_webhook_requests(limit=5)
        assert [(r.status, r.http_status) for r in rows] == [(RequestStatus.REJECTED, 400)] * 2


@pytest.mark.parametrize(("raw", "content_type", "reason"), [
    (b"[" * 20_000 + b"]" * 20_000, "application/json", "deeper than 32 levels"),
    (b'{"a": ' + b"[" * 33 + b"]" * 33 + b"}", "text/plain", "deeper than 32 levels"),
    (alert_text('"bars": [' + ", ".join(["0"] * 10_001) + "]"), "application/json", "more than 10000 values"),
    (alert_text(", ".join(f'"k{i}": 0' for i in range(1001))), "application/json", "more than 1000 fields"),
    ("&".join(f"k{i}=0" for i in range(1001)).encode(), "application/x-www-form-urlencoded",
     "more than 1000 fields"),
])
async def test_body_beyond_the_structural_limits_is_a_400_naming_the_body(
    sparky: Sparky, raw: bytes, content_type: str, reason: str
) -> None:
    response = await sparky.client.post("/webhook", content=raw, headers={"content-type": content_type})
    assert response.status_code == 400, response.text
    assert response.json()["field"] == "body" and reason in response.json()["error"]
    assert sparky.paper.requests == []
    assert await sparky.services.store.list_webhook_requests(limit=5) == []


async def test_real_alerts_fit_well_within_the_limits(sparky: Sparky) -> None:
    raw = alert_text(
        '"note": "' + "x" * 40_000 + r' \ud83d\ude00", "meta": {"bars": [' + ", ".join(["27000.5"] * 500) + "]}, "
        f'"timestamp": {int(time.time() * 1000)}, "ai_confidence": 0.1000000000000000055511151231257827',
        price="27000.12345678901234567890123456789",
    )
    response = await sparky.client.post("/webhook", content=raw, headers=JSON)
    assert response.status_code == 200 and response.json()["action"] == "opened", response.text
    rows = await sparky.services.store.list_webhook_requests(limit=5)
    assert rows[0].payload["note"].endswith(" \U0001F600") and len(rows[0].payload["meta"]["bars"]) == 500


async def test_health_answers_promptly_while_hostile_bodies_are_processed(tmp_path: Path) -> None:
    """A real server: hostile bodies must not hold the event loop that /health (and every alert) needs."""
    with serve(tmp_path / "data") as (url, printed, _):
        secret = re.search(r"Webhook secret .*\n\s+(\S+)", printed).group(1)
        hostile = [alert_text('"note": 1e1000000', secret=secret)] * 3 + [
            b"[" * 20_000 + b"]" * 20_000, alert_text('"n": ' + "9" * 5000, secret=None)]
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            posts = [asyncio.create_task(client.post("/webhook", content=body, headers=JSON)) for body in hostile]
            probes = 0
            while probes < 3 or not all(post.done() for post in posts):
                # generous: /health answers in milliseconds; the old server held it for ~40 s per body
                health = await client.get("/health", timeout=10)
                assert health.status_code == 200 and health.json()["status"] == "ok"
                probes += 1
            answers = await asyncio.gather(*posts)
        assert [answer.status_code for answer in answers] == [400] * len(hostile)
        assert [answer.json()["field"] for answer in answers] == ["note"] * 3 + ["body", "n"]
