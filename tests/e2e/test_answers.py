"""What the webhook answers, through the real app: skips, duplicates, refusals, money, venue errors."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest

import sparky.exchanges.ccxt.adapter as ccxt_venue
from sparky.exchanges.errors import InsufficientFunds
from sparky.signals.auth import LOCAL_USER_ID
from tests.conftest import SECRET, Sparky
from tests.unit.exchanges.ccxt.test_ccxt import KEY, BybitVenue
from tests.unit.exchanges.ccxt.test_ccxt import SECRET as BYBIT_SECRET

# --- skipped: the answer's action is the row's status ----------------------------------------------


@pytest.mark.parametrize(("first", "then", "success", "message"), [
    (None, "close", True, "No position to close"),
    ("buy", "buy", False, "Already have BUY position for BTCUSDT"),
    ("sell", "close_long", False, "No long position to close (BTCUSDT is short)"),
])
async def test_every_skip_is_answered_and_recorded_as_skipped(sparky: Sparky, first: str | None, then: str,
                                                              success: bool, message: str) -> None:
    if first is not None:
        assert (await sparky.alert(action=first, symbol="BTCUSDT", price=27000)).status_code == 200
    sent = len(sparky.paper.requests)
    response = await sparky.alert(action=then, symbol="BTCUSDT", price=27010)
    body = response.json()
    assert response.status_code == 200
    assert (body["action"], body["success"], body["message"]) == ("skipped", success, message)
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert row.status.value == "skipped" and row.result["action"] == "skipped"
    assert len(sparky.paper.requests) == sent  # nothing sent


# --- duplicates answer how the original ended --------------------------------------------------------


async def test_a_duplicate_of_a_rejected_alert_is_no_success_and_names_the_original(sparky: Sparky) -> None:
    alert = {"action": "buy", "symbol": "ETHUSDT", "price": 1800, "use_trailing_stop": True,
             "trailing_stop_pips": 10, "alert_id": "tv-7"}
    first = await sparky.alert(**alert)
    assert first.status_code == 400 and first.json()["action"] == "rejected"
    again = await sparky.alert(**alert)
    body = again.json()
    assert again.status_code == 200  # TradingView must not resend it
    assert body["success"] is False and body["action"] == "duplicate"
    assert body["duplicate_of"] == first.json()["request_id"]
    assert body["original"] == {"status": "rejected", "action": "rejected", "http_status": 400,
                                "message": "Trailing stops are not available on paper"}
    assert body["message"] == ("Duplicate alert ignored; nothing was executed; the original was rejected: "
                               "Trailing stops are not available on paper")
    row = await sparky.services.store.get_webhook_request(body["request_id"])
    assert row.status.value == "duplicate" and row.result["original"]["status"] == "rejected"
    assert sparky.paper.requests == []


async def test_a_resent_body_of_a_rejected_alert_is_no_success_either(start) -> None:
    async with start(duplicate_window_sec=30) as sparky:
        alert = {"action": "buy", "symbol": "ETHUSDT", "price": 1800, "use_trailing_stop": True,
                 "trailing_stop_pips": 10}
        first = (await sparky.alert(**alert)).json()
        again = await sparky.alert(**alert)
        assert again.status_code == 200
        assert again.json()["success"] is False and again.json()["original"]["status"] == "rejected"
        assert again.json()["duplicate_of"] == first["request_id"]


async def test_a_duplicate_of_an_executed_alert_stays_a_success(sparky: Sparky) -> None:
    first = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, alert_id="tv-8")).json()
    body = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, alert_id="tv-8")).json()
    assert body["success"] is True and body["action"] == "duplicate"
    assert body["message"] == "Duplicate alert ignored; nothing was executed"
    assert body["original"] == {"status": "success", "action": "opened", "message": None, "http_status": 200}
    assert body["duplicate_of"] == first["request_id"]


# --- every refusal: success false, action, message ---------------------------------------------------


def _assert_refusal(body: dict, *, error: bool = True) -> None:
    assert body["success"] is False
    assert isinstance(body["action"], str) and body["action"]
    assert isinstance(body["message"], str) and body["message"]
    if error:
        assert body["error"]


@pytest.mark.parametrize(("fields", "status"), [
    ({"action": "buy", "symbol": "BTCUSDT", "price": -1}, 400),  # validation
    ({"action": "buy", "symbol": "BTCUSDT", "price": 27000, "secret": "wrong"}, 401),
    ({"action": "buy", "symbol": "ETHUSDT", "price": 1800, "use_trailing_stop": True, "trailing_stop_pips": 5}, 400),
    ({"action": "buy", "symbol": "BTCUSDT", "price": 27000, "position_size_usd": 10_000_000}, 400),  # the venue
    ({"action": "buy", "symbol": "BTCUSDT", "price": 27000, "position_size_usd": 1}, 400),  # below the minimum
])
async def test_every_refusal_has_success_action_and_message(sparky: Sparky, fields: dict, status: int) -> None:
    response = await sparky.client.post("/webhook", json={"secret": SECRET, "exchange": "paper", **fields})
    assert response.status_code == status, response.text
    _assert_refusal(response.json())


async def test_a_body_too_large_and_a_risk_limit_are_refusals_like_the_others(start, tmp_path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"riskManagement": {"maxPositions": 1}}))
    async with start(config_path=config, max_body_bytes=2048) as sparky:
        too_large = await sparky.client.post("/webhook", content=b"{" + b" " * 4096 + b"}")
        assert too_large.status_code == 413
        _assert_refusal(too_large.json())
        await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)
        limited = await sparky.alert(action="buy", symbol="ETHUSDT", price=1800)
        assert limited.status_code == 429
        _assert_refusal(limited.json())
        assert limited.json()["error"] == "Risk limit exceeded"  # the original's keys stay
        assert limited.json()["message"] == "Maximum open positions reached (1/1)"


# --- money in answers is rounded to cents ------------------------------------------------------------


def test_cents_round_half_away_from_zero() -> None:
    from sparky.execution.outcome import cents

    assert [cents(D(v)) for v in ("2.345", "-2.345", "2.344", "0.005", "976.4442")] == [
        D("2.35"), D("-2.35"), D("2.34"), D("0.01"), D("976.44")]
    assert cents(None) is None


async def test_money_in_answers_is_in_cents_and_rows_keep_the_precision(sparky: Sparky) -> None:
    opened = (await sparky.alert(action="buy", symbol="BTCUSDT", price="27123.45", position_size_usd=1000)).json()
    assert opened["position"]["quantity"] == 0.036 and opened["position"]["entryPrice"] == 27123.45
    assert opened["position"]["positionSizeUsd"] == 976.44  # 27123.45 × 0.036 = 976.4442
    listed = (await sparky.admin_get("/positions")).json()["positions"][0]
    assert listed["positionSizeUsd"] == 976.44
    closed = (await sparky.alert(action="close", symbol="BTCUSDT", price="27201.99")).json()
    assert closed["pnl"] == {"usd": 2.83, "percent": 0.2896}  # (27201.99 − 27123.45) × 0.036 = 2.82744
    [trade] = await sparky.services.store.list_trades()
    assert trade.pnl_usd == D("2.82744") and trade.position_size_usd == D("976.4442")  # rows: full precision
    health = (await sparky.admin_get("/health")).json()
    assert health["balance"]["paper"]["total"] == 10002.83


# --- venue errors name the venue once ----------------------------------------------------------------


async def test_a_venue_refusal_names_the_venue_once(sparky: Sparky) -> None:
    refused = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=10_000_000)).json()
    assert refused["error"].startswith("Entry refused: paper: 370.370 BTCUSDT at 27000 needs")
    assert refused["error"].count("paper") == 1
    unpriced = (await sparky.alert(action="buy", symbol="SOLUSDT")).json()
    assert unpriced["error"] == "paper: no price is known for SOLUSDT; the alert should carry a price"


async def test_a_ccxt_venue_is_named_once_whether_or_not_the_adapter_named_it(start, tmp_path,
                                                                               monkeypatch) -> None:
    bybit = BybitVenue()
    monkeypatch.setattr(ccxt_venue, "default_factory", bybit._factory)
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"bybit": {"apiKey": KEY, "apiSecret": BYBIT_SECRET}}))
    async with start(config_path=config) as sparky:
        async def alert(symbol: str) -> dict:
            response = await sparky.client.post("/webhook", json={
                "secret": SECRET, "exchange": "bybit", "symbol": symbol, "action": "buy", "price": 2000,
                "position_size_usd": 100, "stop_loss_percent": 2})
            return response.json()

        bybit.last = bybit.fill = D(2000)
        bybit.rejects_next_order(InsufficientFunds)  # translated by the adapter: already "bybit: …"
        funds = await alert("ETHUSDT")
        assert funds["error"].startswith("Entry refused: bybit: ") and funds["error"].count("bybit:") == 1
        unlisted = await alert("FOOUSDT")  # refused while the symbol is resolved to the venue's spelling
        assert unlisted["field"] == "symbol" and unlisted["error"].count("bybit") == 1, unlisted


async def test_positions_in_answers_carry_their_user(sparky: Sparky) -> None:
    opened = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)).json()
    assert opened["position"]["user_id"] == LOCAL_USER_ID
