"""Operator endpoints: /health (public, details with the admin token), /positions, sync, outcomes."""

from __future__ import annotations

from decimal import Decimal as D

from sparky.exchanges.base import OrderKind, OrderRequest, Side
from tests.conftest import Sparky


async def test_health_is_public_but_hides_balances_and_positions(sparky: Sparky) -> None:
    await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)
    public = await sparky.client.get("/health")
    assert public.status_code == 200
    body = public.json()
    assert body["status"] == "ok" and body["store"] == {"ok": True} and body["exchanges"] == {"paper": {"ok": True}}
    assert "balance" not in body and "positions" not in body
    detailed = (await sparky.admin_get("/health")).json()
    assert detailed["openPositions"] == 1 and detailed["positions"][0]["symbol"] == "BTCUSDT"
    assert detailed["balance"]["paper"]["total"] == 10000


async def test_health_stays_200_with_a_venue_down_and_readiness_says_503(sparky: Sparky) -> None:
    sparky.paper.fail("ping", times=10)  # the venue does not answer its reachability check

    health = await sparky.client.get("/health")
    assert health.status_code == 200  # the dashboard reads 503 as "bot offline"
    body = health.json()
    assert (body["status"], body["apiStatus"]) == ("degraded", "disconnected")
    assert body["store"] == {"ok": True} and body["exchanges"] == {"paper": {"ok": False}}

    ready = await sparky.client.get("/health/ready")  # for load balancers: every venue must answer
    assert ready.status_code == 503
    assert ready.json()["exchanges"] == {"paper": {"ok": False}}


async def test_readiness_is_200_when_the_store_and_every_venue_answer(sparky: Sparky) -> None:
    ready = await sparky.client.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert "balance" not in ready.json()


async def test_positions_needs_the_admin_token(sparky: Sparky) -> None:
    assert (await sparky.client.get("/positions")).status_code == 401
    wrong = await sparky.client.get("/positions", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert (await sparky.client.get("/webhook/abc")).status_code == 401
    assert (await sparky.client.post("/positions/sync")).status_code == 401
    assert (await sparky.client.post("/strategies/reload")).status_code == 401


async def test_positions_summary_in_the_original_shape(sparky: Sparky) -> None:
    await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700, stop_loss_percent=2,
                       take_profit_percent=4)
    await sparky.alert(action="sell", symbol="ETHUSDT", price=1800, position_size_usd=180, stop_loss_percent=2)
    body = (await sparky.admin_get("/positions")).json()
    assert (body["totalPositions"], body["longPositions"], body["shortPositions"]) == (2, 1, 1)
    assert body["symbols"] == ["BTCUSDT", "ETHUSDT"]
    btc = next(p for p in body["positions"] if p["symbol"] == "BTCUSDT")
    assert {k: btc[k] for k in ("exchange", "side", "quantity", "entryPrice", "stopLossPrice", "takeProfitPrice")} == {
        "exchange": "paper", "side": "BUY", "quantity": 0.1, "entryPrice": 27000, "stopLossPrice": 26460,
        "takeProfitPrice": 28080}
    assert btc["timestamp"].endswith("+00:00")


async def test_sync_records_positions_closed_and_opened_outside_sparky(sparky: Sparky) -> None:
    await sparky.alert(action="buy", symbol="BTCUSDT", price=27000, position_size_usd=2700, stop_loss_percent=2)
    # closed by hand on the venue, and an ETH position opened by hand
    await sparky.paper.place_order(OrderRequest("BTCUSDT", Side.SELL, OrderKind.MARKET, D("0.1"), "manual-1",
                                                reduce_only=True))
    await sparky.paper.note_price("ETHUSDT", D(1800))
    await sparky.paper.place_order(OrderRequest("ETHUSDT", Side.BUY, OrderKind.MARKET, D("0.5"), "manual-2"))
    body = (await sparky.admin_post("/positions/sync")).json()
    assert body["success"] is True and body["checked"] == 2
    local = "00000000-0000-0000-0000-000000000000"
    assert body["closed"] == [{"userId": local, "exchange": "paper", "symbol": "BTCUSDT", "exitReason": "MANUAL",
                               "exitPrice": 27000, "pnl": {"usd": 0, "percent": 0}}]
    assert body["adopted"] == [{"userId": local, "exchange": "paper", "symbol": "ETHUSDT"}]
    listing = (await sparky.admin_get("/positions")).json()
    assert listing["symbols"] == ["ETHUSDT"]


async def test_webhook_outcome_lookup(sparky: Sparky) -> None:
    rid = (await sparky.alert(action="buy", symbol="BTCUSDT", price=27000)).json()["request_id"]
    outcome = (await sparky.admin_get(f"/webhook/{rid}")).json()
    assert outcome["status"] == "success" and outcome["symbol"] == "BTCUSDT" and outcome["http_status"] == 200
    assert "secret" not in outcome["payload"]
    assert (await sparky.admin_get("/webhook/does-not-exist")).status_code == 404


async def test_exchanges_lists_configured_venues_and_capabilities(sparky: Sparky) -> None:
    body = (await sparky.client.get("/exchanges")).json()
    [paper] = body["exchanges"]
    assert paper["name"] == "paper"
    assert paper["capabilities"]["attached_brackets"] is True and paper["capabilities"]["oco"] is True
    assert body["supported"]["native"] == ["paper", "aster", "oanda", "tradier", "tradier_options"]
